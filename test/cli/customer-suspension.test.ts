import {
  CognitoIdentityProviderClient,
  ConfirmSignUpCommand,
  InitiateAuthCommand,
  SignUpCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import { runCli } from '../../cli/main';
import { MembershipsRepository } from '../../lambda/accounts/memberships';
import { TestModelBackend } from '../../lambda/inference/backends/test-model-backend';
import { loadConfig } from '../../lib/config/load';
import { readLocalMail } from '../../local/local-cognito';
import { LOCAL_CUSTOMERS_TABLE, type LocalMode, startLocalMode } from '../../local/local-mode';
import { localModeDocumentClient } from '../support/dynalite';

/**
 * `npx tierline customers suspend|restore|delete` through the CLI program against local mode
 * (dynalite, the real authorizer code, cognito-local), checked over real HTTP: a suspended
 * organization's keys answer 401 and its sessions 403; restored, the same keys and sessions work
 * again, and a key revoked meanwhile stays revoked; delete removes the members and invites.
 * The authorizer cache is off here (0 s), so each change shows on the next request; deployed, it
 * shows within `authorizerCacheTtlSeconds`.
 */
const PASSWORD = 'Correct-Horse-9-battery';

describe('customers suspend, restore and delete (CLI, local mode over HTTP)', () => {
  let local: LocalMode;
  let cognito: CognitoIdentityProviderClient;
  let memberships: MembershipsRepository;

  beforeAll(async () => {
    local = await startLocalMode({
      // `customers delete` waits out the authorizer cache before its second sweep: none here.
      config: loadConfig({
        env: 'dev',
        overrides: { environment: { authorizerCacheTtlSeconds: 0 } },
      }),
      port: 0,
      backend: new TestModelBackend({ replyTokens: 2, tokensPerSecond: 1_000 }),
      authorizerCacheTtlMs: 0,
      signIn: {},
    });
    cognito = new CognitoIdentityProviderClient({
      endpoint: local.signIn?.endpoint,
      region: 'local',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    memberships = new MembershipsRepository(
      localModeDocumentClient(local.dynamoEndpoint),
      LOCAL_CUSTOMERS_TABLE,
    );
  });
  afterAll(async () => {
    cognito.destroy();
    await local.stop();
  });

  async function cli(...argv: string[]) {
    let out = '';
    let err = '';
    const code = await runCli(argv, {
      out: (text) => (out += text),
      err: (text) => (err += text),
      connect: async () => local.operator,
    });
    return { code, out, err };
  }

  async function sessionOf(email: string): Promise<{ token: string; userId: string }> {
    const clientId = local.signIn?.clientId ?? '';
    const signUp = await cognito.send(
      new SignUpCommand({ ClientId: clientId, Username: email, Password: PASSWORD }),
    );
    const code = readLocalMail(local.signIn?.mailFile ?? '').find(
      (m) => m.to === email && m.reason !== 'Invite',
    )?.code;
    await cognito.send(
      new ConfirmSignUpCommand({ ClientId: clientId, Username: email, ConfirmationCode: code }),
    );
    const auth = await cognito.send(
      new InitiateAuthCommand({
        ClientId: clientId,
        AuthFlow: 'USER_PASSWORD_AUTH',
        AuthParameters: { USERNAME: email, PASSWORD },
      }),
    );
    return { token: auth.AuthenticationResult?.AccessToken ?? '', userId: signUp.UserSub ?? '' };
  }

  const get = (credential: string, path: string, organization?: string) =>
    fetch(`${local.openAIBaseUrl}${path}`, {
      headers: {
        authorization: `Bearer ${credential}`,
        ...(organization ? { 'openai-organization': organization } : {}),
      },
    });

  /** A customer with its primary key, two named keys and an owner's session. */
  async function organization(name: string) {
    const { customer, apiKey } = await local.operator.createCustomer({
      name,
      email: `billing@${name}.test`,
      tier: 'developer',
    });
    const admin = await local.operator.createAdminKey(customer.customerId, 'ops');
    const named = async (keyName: string) => {
      const response = await fetch(`${local.openAIBaseUrl}/keys`, {
        method: 'POST',
        headers: { authorization: `Bearer ${admin.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: keyName }),
      });
      return (await response.json()) as { id: string; key: string };
    };
    const owner = await sessionOf(`owner@${name}.test`);
    await memberships.put({
      userId: owner.userId,
      customerId: customer.customerId,
      role: 'owner',
      email: `owner@${name}.test`,
      createdAt: new Date().toISOString(),
    });
    return {
      customerId: customer.customerId,
      primary: apiKey as string,
      kept: await named('kept'),
      revokedMeanwhile: await named('revoked-meanwhile'),
      owner,
    };
  }

  it('suspend stops every key and session; restore brings the same ones back; both re-run safely', async () => {
    const org = await organization('paused');
    const statuses = async () => [
      (await get(org.primary, '/models')).status,
      (await get(org.kept.key, '/models')).status,
      (await get(org.owner.token, '/models', org.customerId)).status,
    ];
    expect(await statuses()).toEqual([200, 200, 200]);

    const suspended = await cli('--json', 'customers', 'suspend', org.customerId);
    const whileSuspended = await statuses();
    const refusedSession = await get(org.owner.token, '/models', org.customerId);
    const again = await cli('customers', 'suspend', org.customerId);
    // A named key the operator revokes while the customer is suspended stays revoked.
    const named = await local.operator.context.deps.customers.listNamedKeys(org.customerId);
    const revoked = named.find((k) => k.keyId === org.revokedMeanwhile.id);
    await local.operator.context.deps.customers.updateKey(revoked?.keyHash ?? '', {
      status: 'revoked',
    });
    const restored = await cli('--json', 'customers', 'restore', org.customerId);
    const afterRestore = await statuses();

    expect(suspended.code).toBe(0);
    expect(JSON.parse(suspended.out)).toMatchObject({
      changed: true,
      customer: { status: 'suspended' },
      keys: 4,
      takes_effect_within_seconds: 0,
    });
    expect(whileSuspended).toEqual([401, 401, 403]);
    expect(await refusedSession.json()).toMatchObject({ error: { code: 'organization_inactive' } });
    expect(again).toMatchObject({ code: 0 });
    expect(again.out).toContain('suspended already');
    expect(JSON.parse(restored.out)).toMatchObject({
      changed: true,
      customer: { status: 'active' },
      keys: 3,
    });
    expect(afterRestore).toEqual([200, 200, 200]);
    expect((await get(org.revokedMeanwhile.key, '/models')).status).toBe(401);
  });

  it('refuses to suspend a revoked customer and to reactivate a suspended one (wrong_state, exit 4)', async () => {
    const org = await organization('states');
    await cli('customers', 'suspend', org.customerId);

    const reactivate = await cli('customers', 'reactivate', org.customerId);
    await cli('customers', 'restore', org.customerId);
    await cli('customers', 'revoke', org.customerId);
    const suspendRevoked = await cli('customers', 'suspend', org.customerId);
    const restoreRevoked = await cli('customers', 'restore', org.customerId);

    expect(reactivate.code).toBe(4);
    expect(reactivate.err).toContain('customers restore');
    expect(suspendRevoked.code).toBe(4);
    expect(restoreRevoked).toMatchObject({ code: 4 });
    expect(restoreRevoked.err).toContain('reactivated');
  });

  it('delete needs --yes, then removes keys, members and invites and keeps the customer as deleted', async () => {
    const org = await organization('gone');
    const invite = await fetch(`${local.openAIBaseUrl}/organization/invites`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${org.owner.token}`,
        'openai-organization': org.customerId,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ email: 'later@gone.test', role: 'reader' }),
    });
    expect(invite.status).toBe(200);
    const token = readLocalMail(local.signIn?.mailFile ?? '')
      .filter((m) => m.to === 'later@gone.test' && m.reason === 'Invite')
      .at(-1)?.code;

    const unconfirmed = await cli('customers', 'delete', org.customerId);
    const deleted = await cli('--json', 'customers', 'delete', org.customerId, '--yes');
    const later = await sessionOf('later@gone.test');
    const accept = await fetch(`${local.openAIBaseUrl}/organization/invites/accept`, {
      method: 'POST',
      headers: { authorization: `Bearer ${later.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ token }),
    });

    expect(unconfirmed.code).toBe(2);
    expect(unconfirmed.err).toContain('--yes');
    expect(JSON.parse(deleted.out)).toMatchObject({
      deleted: true,
      customer: { status: 'deleted' },
      people: { members: 1, invites: 1 },
    });
    expect((await get(org.primary, '/models')).status).toBe(401);
    expect((await get(org.owner.token, '/models', org.customerId)).status).toBe(404);
    expect(await memberships.listForOrganization(org.customerId)).toEqual([]);
    expect(accept.status).toBe(404);
  });
});
