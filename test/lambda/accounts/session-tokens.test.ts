import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import {
  CognitoIdentityProviderClient,
  ConfirmSignUpCommand,
  CreateUserPoolClientCommand,
  InitiateAuthCommand,
  SignUpCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import {
  createSessionVerifier,
  isJwtShaped,
  SESSION_REJECTED,
} from '../../../lambda/accounts/session-tokens';
import { createAuthorizerHandler } from '../../../lambda/customers/api-gateway-authorizer';
import { AuthenticationError } from '../../../lambda/openai/errors';
import { type LocalCognito, readLocalMail, startLocalCognito } from '../../../local/local-cognito';
import { authorizerEvent } from '../../support/events';

const PASSWORD = 'Correct-Horse-9-battery';

describe('console sessions: Cognito access tokens verified with aws-jwt-verify (cognito-local)', () => {
  let dir: string;
  let cognito: LocalCognito;
  let client: CognitoIdentityProviderClient;
  // Counts the JWKS fetches: the verifier is pointed at this proxy in front of cognito-local.
  let jwksFetches = 0;
  let proxy: Server;
  let proxyUrl: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tierline-cognito-'));
    cognito = await startLocalCognito({ dataDir: dir, consoleUrl: 'http://console.test/' });
    client = new CognitoIdentityProviderClient({
      endpoint: cognito.endpoint,
      region: 'local',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    proxy = createServer(async (req, res) => {
      jwksFetches += 1;
      const upstream = await fetch(`${cognito.endpoint}${req.url}`);
      res.writeHead(upstream.status, { 'content-type': 'application/json' });
      res.end(await upstream.text());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    client.destroy();
    await new Promise((resolve) => proxy.close(resolve));
    await cognito.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function signedUpUser(email: string): Promise<string> {
    await client.send(
      new SignUpCommand({ ClientId: cognito.clientId, Username: email, Password: PASSWORD }),
    );
    const mail = readLocalMail(cognito.mailFile).filter((m) => m.to === email);
    expect(mail).toHaveLength(1);
    const code = mail[0]?.code ?? '';
    await client.send(
      new ConfirmSignUpCommand({
        ClientId: cognito.clientId,
        Username: email,
        ConfirmationCode: code,
      }),
    );
    const auth = await client.send(
      new InitiateAuthCommand({
        ClientId: cognito.clientId,
        AuthFlow: 'USER_PASSWORD_AUTH',
        AuthParameters: { USERNAME: email, PASSWORD },
      }),
    );
    const token = auth.AuthenticationResult?.AccessToken;
    if (!token) throw new Error('no access token');
    return token;
  }

  function verifierThroughProxy() {
    const { issuer, clientId } = cognito.sessionSettings as { issuer: string; clientId: string };
    return createSessionVerifier({
      kind: 'local',
      issuer,
      clientId,
      jwksUri: `${proxyUrl}/${cognito.userPoolId}/.well-known/jwks.json`,
    });
  }

  it('writes the sign-up code to the mail file with a link into the console', async () => {
    await client.send(
      new SignUpCommand({
        ClientId: cognito.clientId,
        Username: 'mail@example.com',
        Password: PASSWORD,
      }),
    );
    const [mail] = readLocalMail(cognito.mailFile).filter((m) => m.to === 'mail@example.com');
    expect(mail).toMatchObject({
      reason: 'SignUp',
      subject: 'Verify your Tierline e-mail address',
      code: expect.stringMatching(/^\d{6}$/),
    });
    expect(mail?.link).toBe(
      `http://console.test/#/verify?email=mail%40example.com&code=${mail?.code}`,
    );
  });

  it("accepts the console client's access token, fetching the JWKS once for many verifications", async () => {
    const token = await signedUpUser('owner@example.com');
    const verify = verifierThroughProxy();
    jwksFetches = 0;

    const first = await verify(token);
    for (let i = 0; i < 50; i += 1) await verify(token);

    expect(first.userId).toMatch(/^[0-9a-f-]{36}$/);
    expect(first.expiresAt).toBeGreaterThan(Date.now() / 1000);
    expect(jwksFetches).toBe(1);
  });

  it('refuses an ID token, a tampered token, another client and another issuer alike', async () => {
    const email = 'refused@example.com';
    const access = await signedUpUser(email);
    const auth = await client.send(
      new InitiateAuthCommand({
        ClientId: cognito.clientId,
        AuthFlow: 'USER_PASSWORD_AUTH',
        AuthParameters: { USERNAME: email, PASSWORD },
      }),
    );
    const idToken = auth.AuthenticationResult?.IdToken ?? '';
    const [header, payload, signature] = access.split('.');
    const claims = JSON.parse(Buffer.from(payload ?? '', 'base64url').toString());
    const forged = `${header}.${Buffer.from(JSON.stringify({ ...claims, sub: 'someone-else' })).toString('base64url')}.${signature}`;
    const other = await client.send(
      new CreateUserPoolClientCommand({ UserPoolId: cognito.userPoolId, ClientName: 'other' }),
    );
    const verify = verifierThroughProxy();
    const otherClient = createSessionVerifier({
      ...(cognito.sessionSettings as { kind: 'local'; issuer: string; jwksUri: string }),
      clientId: other.UserPoolClient?.ClientId ?? 'other',
    });
    const otherIssuer = createSessionVerifier({
      ...(cognito.sessionSettings as { kind: 'local'; jwksUri: string; clientId: string }),
      issuer: `${cognito.endpoint}/local_other`,
    });

    await expect(verify(access)).resolves.toMatchObject({ userId: claims.sub });
    for (const attempt of [
      () => verify(idToken),
      () => verify(forged),
      () => verify('tl_not_a_jwt'),
      () => otherClient(access),
      () => otherIssuer(access),
    ]) {
      await expect(attempt()).rejects.toThrow(new AuthenticationError(SESSION_REJECTED));
    }
  });

  it('lets the authorizer allow a session with its user and the console usage key, never a key lookup', async () => {
    const token = await signedUpUser('authorized@example.com');
    const lookups: string[] = [];
    const errors: unknown[] = [];
    const handler = createAuthorizerHandler(
      async (hash) => {
        lookups.push(hash);
        return undefined;
      },
      { error: (...args: unknown[]) => errors.push(args) } as never,
      undefined,
      {
        isSessionToken: isJwtShaped,
        verify: verifierThroughProxy(),
        usageIdentifierKey: 'tierline-test-console-sessions',
      },
    );
    const userId = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()).sub;

    const allowed = await handler(authorizerEvent({ Authorization: `Bearer ${token}` }));

    expect(allowed).toMatchObject({
      principalId: userId,
      usageIdentifierKey: 'tierline-test-console-sessions',
      context: { kind: 'session', userId },
      policyDocument: { Statement: [expect.objectContaining({ Effect: 'Allow' })] },
    });
    await expect(
      handler(authorizerEvent({ Authorization: `Bearer ${token.slice(0, -2)}xx` })),
    ).rejects.toThrow('Unauthorized');
    expect(lookups).toEqual([]);

    // A JWKS that cannot be fetched is the authorizer's failure (500), logged without the token.
    const unreachable = createAuthorizerHandler(
      async () => undefined,
      { error: (...args: unknown[]) => errors.push(args) } as never,
      undefined,
      {
        isSessionToken: isJwtShaped,
        verify: createSessionVerifier({
          kind: 'local',
          issuer: (cognito.sessionSettings as { issuer: string }).issuer,
          clientId: cognito.clientId,
          jwksUri: 'http://127.0.0.1:9/jwks.json',
        }),
        usageIdentifierKey: 'k'.repeat(20),
      },
    );
    await expect(
      unreachable(authorizerEvent({ Authorization: `Bearer ${token}` })),
    ).rejects.toThrow('Authorizer failure');
    expect(errors.length).toBe(1);
    expect(JSON.stringify(errors)).not.toContain(token);
  });

  it('tells JWTs from API keys by shape', () => {
    expect(isJwtShaped('eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln')).toBe(true);
    expect(isJwtShaped('tl_0123456789abcdef')).toBe(false);
    expect(isJwtShaped('eyJ.only-two')).toBe(false);
  });
});
