import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ApiError } from '../../console/src/api-client';
import { CognitoClient, CognitoError, type SavedSession } from '../../console/src/cognito';
import { sessionCredentials } from '../../console/src/console-session';
import { poolUserReader } from '../../lambda/accounts/pool-users';
import { type LocalCognito, readLocalMail, startLocalCognito } from '../../local/local-cognito';

/**
 * The console's fetch-only Cognito client against cognito-local (the same JSON API as Cognito):
 * sign-up, the mailed code, sign-in, refresh, sign-out revoking the refresh token, and the
 * session's request headers refreshed once for concurrent requests.
 */
const EMAIL = 'refresh@console.test';
const PASSWORD = 'Refresh-2026-token!';

describe('the console Cognito client', () => {
  let pool: LocalCognito;
  let dataDir: string;
  let cognito: CognitoClient;

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'tierline-cognito-client-'));
    pool = await startLocalCognito({ dataDir });
    cognito = new CognitoClient({ endpoint: pool.endpoint, clientId: pool.clientId });
  });
  afterAll(async () => {
    await pool.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('signs up, verifies with the mailed code, signs in, refreshes and revokes', async () => {
    await cognito.signUp(EMAIL, PASSWORD);
    const refused = await cognito.signIn(EMAIL, PASSWORD).catch((e: CognitoError) => e);
    const code = readLocalMail(pool.mailFile).find((m) => m.to === EMAIL)?.code ?? '';
    await cognito.confirmSignUp(EMAIL, code);
    const tokens = await cognito.signIn(EMAIL, PASSWORD);
    const refreshed = await cognito.refresh(tokens.refreshToken);
    const user = await poolUserReader(pool.endpoint)(refreshed.accessToken);
    await cognito.revoke(tokens.refreshToken);
    const afterRevoke = await cognito.refresh(tokens.refreshToken).catch((e: CognitoError) => e);

    expect(refused).toBeInstanceOf(CognitoError);
    expect((refused as CognitoError).type).toBe('UserNotConfirmedException');
    expect(refreshed.refreshToken).toBe(tokens.refreshToken);
    expect(refreshed.expiresAt).toBeGreaterThan(Date.now());
    // The pool marks the address verified on confirmation, as Cognito does.
    expect(user).toEqual({ email: EMAIL, emailVerified: true });
    expect(afterRevoke).toBeInstanceOf(CognitoError);
  });

  it('refreshes an expiring session once for concurrent requests, and a refused refresh is a 401', async () => {
    const tokens = await cognito.signIn(EMAIL, PASSWORD);
    let session: SavedSession = { ...tokens, email: EMAIL, organization: 'cus_1', expiresAt: 0 };
    let refreshes = 0;
    const counting = new CognitoClient(
      { endpoint: pool.endpoint, clientId: pool.clientId },
      async (input, init) => {
        if (String(init?.headers && JSON.stringify(init.headers)).includes('InitiateAuth'))
          refreshes += 1;
        return fetch(input, init);
      },
    );
    const headers = sessionCredentials(
      counting,
      () => session,
      (next) => {
        session = next;
      },
    );

    const [first, second] = await Promise.all([headers(), headers()]);
    const later = await headers();

    expect(refreshes).toBe(1);
    expect(first).toEqual(second);
    expect(later).toEqual(first);
    expect(first).toEqual({
      authorization: `Bearer ${session.accessToken}`,
      'openai-organization': 'cus_1',
    });
    expect(session.expiresAt).toBeGreaterThan(Date.now());

    session = { ...session, expiresAt: 0, refreshToken: 'not-a-refresh-token' };
    await expect(headers()).rejects.toBeInstanceOf(ApiError);
    await expect(headers()).rejects.toMatchObject({ status: 401 });
  });
});
