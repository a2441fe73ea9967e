import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import {
  CognitoIdentityProviderClient,
  CreateUserPoolClientCommand,
  CreateUserPoolCommand,
  DescribeUserPoolClientCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import type { SessionTokenSettings } from '../lambda/accounts/session-settings';
import { localMailFile } from './local-mail';

export { type LocalMail, readLocalMail } from './local-mail';

/**
 * Local mode's Cognito: cognito-local 5.3.0 (npm), started as a child process of local mode
 * (local/cognito-server.ts says why), so `npm start` needs nothing else. It serves Cognito's
 * user-pool API (JSON 1.1 with `X-Amz-Target`, CORS open, so the console calls it from the browser
 * as it calls Cognito in AWS) and the pool's JWKS at `/<poolId>/.well-known/jwks.json`, and signs
 * tokens with its own key under the issuer `<endpoint>/<poolId>` (cognito-local's server/config.js
 * and services/tokenGenerator.js). Messages Cognito would e-mail go to a mail file.
 */
export interface LocalCognito {
  /** Cognito's API endpoint (the SDK's `endpoint`, the console's Cognito address). */
  endpoint: string;
  userPoolId: string;
  clientId: string;
  /** Where the "e-mails" are written (sign-up codes, password resets), each with a console link. */
  mailFile: string;
  /** How the API verifies this pool's access tokens. */
  sessionSettings: SessionTokenSettings;
  stop(): Promise<void>;
}

export interface LocalCognitoOptions {
  /** Where cognito-local keeps its pools and users, and the mail file. */
  dataDir: string;
  /** @default 0 (a free port) */
  port?: number;
  /** The console's address, for the links in messages (`<consoleUrl>#/verify?...`). */
  consoleUrl?: string;
}

const POOL_NAME = 'tierline-local-console';
const START_TIMEOUT_MS = 30_000;

export async function startLocalCognito(options: LocalCognitoOptions): Promise<LocalCognito> {
  const folder = path.join(options.dataDir, 'cognito');
  mkdirSync(folder, { recursive: true });
  const mailFile = localMailFile(options.dataDir);
  // Node with tsx's loader, as `npm start` runs: the child is TypeScript like the rest.
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      path.join(__dirname, 'cognito-server.ts'),
      folder,
      mailFile,
      String(options.port ?? 0),
      ...(options.consoleUrl ? [options.consoleUrl] : []),
    ],
    {
      // stdin stays open while local mode lives: the child exits when it closes (even on a kill -9).
      stdio: ['pipe', 'pipe', 'inherit'],
      cwd: path.join(__dirname, '..'),
      // cognito-local runs on the AWS SDK v2, which prints its end-of-support notice otherwise.
      env: { ...process.env, AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE: '1' },
    },
  );
  const stop = () => stopChild(child);
  try {
    const port = await readyPort(child);
    const endpoint = `http://127.0.0.1:${port}`;
    const { userPoolId, clientId } = await ensurePool(endpoint, folder);
    return {
      endpoint,
      userPoolId,
      clientId,
      mailFile,
      sessionSettings: {
        kind: 'local',
        issuer: `${endpoint}/${userPoolId}`,
        jwksUri: `${endpoint}/${userPoolId}/.well-known/jwks.json`,
        clientId,
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

function readyPort(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`cognito-local did not start within ${START_TIMEOUT_MS} ms`)),
      START_TIMEOUT_MS,
    );
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`cognito-local exited at start (code ${code})`));
    });
    if (!child.stdout) return reject(new Error('cognito-local has no stdout'));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const match = /^ready (\d+)$/.exec(line);
      if (!match) return;
      clearTimeout(timer);
      resolve(Number(match[1]));
    });
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  const release = () => {
    child.stdin?.destroy();
    child.stdout?.destroy();
  };
  if (child.exitCode !== null || child.signalCode !== null) {
    release();
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    child.once('exit', () => {
      release();
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/**
 * The pool and console client, created on the first start and reused after it (their ids are kept
 * beside cognito-local's data), with the settings of lib/constructs/accounts/console-users.ts
 * that cognito-local honours: e-mail as the username, auto-verified e-mail, the password policy.
 */
async function ensurePool(
  endpoint: string,
  folder: string,
): Promise<{ userPoolId: string; clientId: string }> {
  const client = new CognitoIdentityProviderClient({
    endpoint,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const idsFile = path.join(folder, 'console-pool.json');
  try {
    if (existsSync(idsFile)) {
      const ids = JSON.parse(readFileSync(idsFile, 'utf8')) as {
        userPoolId: string;
        clientId: string;
      };
      const found = await client
        .send(
          new DescribeUserPoolClientCommand({ UserPoolId: ids.userPoolId, ClientId: ids.clientId }),
        )
        .catch(() => undefined);
      if (found?.UserPoolClient) return ids;
    }
    const pool = await client.send(
      new CreateUserPoolCommand({
        PoolName: POOL_NAME,
        UsernameAttributes: ['email'],
        AutoVerifiedAttributes: ['email'],
        MfaConfiguration: 'OPTIONAL',
        Policies: {
          PasswordPolicy: {
            MinimumLength: 12,
            RequireLowercase: true,
            RequireUppercase: true,
            RequireNumbers: true,
            RequireSymbols: true,
          },
        },
      }),
    );
    const userPoolId = pool.UserPool?.Id;
    if (!userPoolId) throw new Error('cognito-local created no user pool');
    const app = await client.send(
      new CreateUserPoolClientCommand({
        UserPoolId: userPoolId,
        ClientName: 'console',
        GenerateSecret: false,
        ExplicitAuthFlows: ['ALLOW_USER_PASSWORD_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH'],
      }),
    );
    const clientId = app.UserPoolClient?.ClientId;
    if (!clientId) throw new Error('cognito-local created no app client');
    writeFileSync(idsFile, JSON.stringify({ userPoolId, clientId }));
    return { userPoolId, clientId };
  } finally {
    client.destroy();
  }
}
