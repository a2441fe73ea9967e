import { appendFileSync, mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { type LocalMail, MAIL_SEPARATOR } from './local-mail';

/**
 * cognito-local 5.3.0 as its own process (local/local-cognito.ts starts it): its TOTP library
 * (otplib 13) is ESM-only, which Node loads but Jest's CommonJS runtime cannot, and its AWS SDK v2
 * stays out of local mode's process. This is cognito-local's own `createDefaultServer`
 * (lib/server/defaults.js) with four changes: data under the given folder, messages written to
 * the mail file instead of its console box, the token issuer set once the port is known, and a
 * confirmed sign-up's e-mail marked verified ({@link verifyingOnConfirm}).
 *
 * argv: <data folder> <mail file> <port> [console URL]. Prints one line, `ready <port>`, when it
 * listens; stops on SIGTERM or when its stdin closes (local mode gone).
 */

function messageFor(reason: string): { subject: string; page: string; action: string } {
  if (reason === 'ForgotPassword') {
    return {
      subject: 'Reset your Tierline password',
      page: 'reset',
      action: 'choose a new password',
    };
  }
  return { subject: 'Verify your Tierline e-mail address', page: 'verify', action: 'verify' };
}

type Route = (ctx: never, req: Record<string, unknown>) => Promise<unknown>;
interface PoolUsers {
  getUserPoolForClientId(
    ctx: unknown,
    clientId: string,
  ): Promise<{
    getUserByUsername(ctx: unknown, username: string): Promise<Record<string, unknown> | null>;
    saveUser(ctx: unknown, user: Record<string, unknown>): Promise<void>;
  }>;
}

/**
 * Cognito sets `email_verified` when a pool that auto-verifies e-mail confirms a sign-up with the
 * mailed code (ConfirmSignUp); cognito-local 5.3.0 only marks the user CONFIRMED. Sign-up's API
 * (lambda/accounts/sign-up.ts) reads `email_verified`, so local mode sets it as Cognito does.
 */
function verifyingOnConfirm(router: (target: string) => Route, cognito: PoolUsers) {
  return (target: string): Route => {
    const route = router(target);
    if (target !== 'ConfirmSignUp') return route;
    return async (ctx, req) => {
      const answer = await route(ctx, req);
      const pool = await cognito.getUserPoolForClientId(ctx, String(req.ClientId));
      const user = await pool.getUserByUsername(ctx, String(req.Username));
      const attributes = (user?.Attributes ?? []) as { Name: string; Value: string }[];
      if (user && attributes.some((a) => a.Name === 'email')) {
        const others = attributes.filter((a) => a.Name !== 'email_verified');
        await pool.saveUser(ctx, {
          ...user,
          Attributes: [...others, { Name: 'email_verified', Value: 'true' }],
        });
      }
      return answer;
    };
  };
}

async function main(): Promise<void> {
  const [folder, mailFile, portText, consoleUrl] = process.argv.slice(2);
  if (!folder || !mailFile || portText === undefined) {
    throw new Error('usage: cognito-server <data folder> <mail file> <port> [console URL]');
  }
  mkdirSync(path.join(folder, 'db'), { recursive: true });
  // cognito-local's modules and its own dependencies (pino), resolved from its folder.
  const load = createRequire(require.resolve('cognito-local'));
  const { createServer } = load('./server') as typeof import('cognito-local/lib/server');
  const { Router } = load('./server/Router') as typeof import('cognito-local/lib/server/Router');
  const { loadConfig } = load(
    './server/config',
  ) as typeof import('cognito-local/lib/server/config');
  const { StormDBDataStoreFactory } = load(
    './services/dataStore/stormDb',
  ) as typeof import('cognito-local/lib/services/dataStore/stormDb');
  const { CognitoServiceFactoryImpl } = load(
    './services/cognitoService',
  ) as typeof import('cognito-local/lib/services/cognitoService');
  const { UserPoolServiceFactoryImpl } = load(
    './services/userPoolService',
  ) as typeof import('cognito-local/lib/services/userPoolService');
  const { DateClock, TriggersService, LambdaService } = load(
    './services',
  ) as typeof import('cognito-local/lib/services');
  const { CryptoService } = load(
    './services/crypto',
  ) as typeof import('cognito-local/lib/services/crypto');
  const { JwtTokenGenerator } = load(
    './services/tokenGenerator',
  ) as typeof import('cognito-local/lib/services/tokenGenerator');
  const { otp } = load('./services/otp') as typeof import('cognito-local/lib/services/otp');
  const pino = load('pino') as typeof import('pino');

  // Warnings and errors only (to stderr): cognito-local logs every request at info.
  const logger = pino({ level: 'warn' }, pino.destination(2));
  const ctx = { logger };
  const config = await loadConfig(ctx, new StormDBDataStoreFactory(folder));
  const clock = new DateClock();
  const dataStores = new StormDBDataStoreFactory(path.join(folder, 'db'));
  const cognito = await new CognitoServiceFactoryImpl(
    path.join(folder, 'db'),
    dataStores,
    new UserPoolServiceFactoryImpl(clock, dataStores),
  ).create(ctx, config.UserPoolDefaults);
  // No Lambda triggers are configured locally, so the Lambda client is never called.
  const triggers = new TriggersService(
    clock,
    cognito,
    new LambdaService({}, undefined as never),
    new CryptoService(config.KMSConfig),
  );
  const messages = {
    async deliver(
      _ctx: unknown,
      reason: string,
      _clientId: string | null,
      _userPoolId: string,
      _user: unknown,
      code: string,
      _metadata: unknown,
      delivery: { Destination: string },
    ): Promise<void> {
      const { subject, page, action } = messageFor(reason);
      const query = new URLSearchParams({ email: delivery.Destination, code }).toString();
      const link = consoleUrl ? `${consoleUrl}#/${page}?${query}` : undefined;
      const mail: LocalMail = {
        to: delivery.Destination,
        subject,
        reason,
        code,
        ...(link ? { link } : {}),
        sentAt: new Date().toISOString(),
      };
      appendFileSync(
        mailFile,
        `${MAIL_SEPARATOR}To: ${mail.to}\nSubject: ${subject}\nDate: ${mail.sentAt}\n` +
          `X-Tierline-Mail: ${JSON.stringify(mail)}\n\nYour code is ${code}.\n` +
          (link ? `Open ${link} to ${action}.\n` : ''),
      );
    },
  };
  // The generator reads the issuer from this object each time it signs: set below, once the port
  // is known.
  const tokenConfig = { ...config.TokenConfig };
  const services = {
    clock,
    cognito,
    config,
    messages,
    otp,
    tokenGenerator: new JwtTokenGenerator(clock, triggers, tokenConfig),
    triggers,
  };
  const server = (await createServer(
    verifyingOnConfirm(Router(services as never), cognito),
    logger,
    {
      port: Number(portText),
      hostname: '127.0.0.1',
      https: false,
    },
  ).start()) as Server;
  const { port } = server.address() as AddressInfo;
  tokenConfig.IssuerDomain = `http://127.0.0.1:${port}`;
  process.on('SIGTERM', () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });
  // The parent holds our stdin open: when it is gone (stopped, crashed, killed), so are we.
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
  process.stdout.write(`ready ${port}\n`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
