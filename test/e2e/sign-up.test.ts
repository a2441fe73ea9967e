import {
  CognitoIdentityProviderClient,
  ConfirmSignUpCommand,
  InitiateAuthCommand,
  SignUpCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import OpenAI from 'openai';
import { TestModelBackend } from '../../lambda/inference/backends/test-model-backend';
import type {
  OrganizationMembership,
  SignedUpOrganization,
} from '../../lambda/openai/shapes/sign-up';
import { loadConfig } from '../../lib/config/load';
import { readLocalMail } from '../../local/local-cognito';
import { type LocalMode, startLocalMode } from '../../local/local-mode';
import { expectSpecCompliance, specCheckedFetch } from '../support/spec-check';

/**
 * Self-service sign-up over real HTTP in local mode: a user signs up in cognito-local, verifies
 * with the mailed code, signs in, and creates its Free organization with the access token; the
 * first key works with the official `openai` client. Every answer is checked against the spec.
 */
const PASSWORD = 'Correct-Horse-9-battery';
const MODEL = 'qwen3-8b';

describe('self-service sign-up in local mode', () => {
  let local: LocalMode;
  let cognito: CognitoIdentityProviderClient;
  const spec = specCheckedFetch();
  afterEach(() => expectSpecCompliance(spec));

  beforeAll(async () => {
    const config = loadConfig({ env: 'dev' });
    local = await startLocalMode({
      config: { ...config, signUp: { attemptsPerHour: 20, disposableDomains: ['throwaway.test'] } },
      port: 0,
      backend: new TestModelBackend({ replyTokens: 4, tokensPerSecond: 1_000 }),
      authorizerCacheTtlMs: 0,
      signIn: {},
    });
    cognito = new CognitoIdentityProviderClient({
      endpoint: local.signIn?.endpoint,
      region: 'local',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
  });
  afterAll(async () => {
    cognito.destroy();
    await local.stop();
  });

  const clientId = () => local.signIn?.clientId ?? '';
  async function registered(email: string, verify = true): Promise<string> {
    await cognito.send(
      new SignUpCommand({ ClientId: clientId(), Username: email, Password: PASSWORD }),
    );
    if (verify) {
      const mail = readLocalMail(local.signIn?.mailFile ?? '').find((m) => m.to === email);
      await cognito.send(
        new ConfirmSignUpCommand({
          ClientId: clientId(),
          Username: email,
          ConfirmationCode: mail?.code,
        }),
      );
    }
    const auth = await cognito
      .send(
        new InitiateAuthCommand({
          ClientId: clientId(),
          AuthFlow: 'USER_PASSWORD_AUTH',
          AuthParameters: { USERNAME: email, PASSWORD },
        }),
      )
      .catch(() => undefined);
    return auth?.AuthenticationResult?.AccessToken ?? '';
  }

  const call = (token: string, method: 'GET' | 'POST', body?: unknown) =>
    spec.fetch(`${local.openAIBaseUrl}/account/organizations`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  const organizationOf = async (response: Response) =>
    (await response.json()) as SignedUpOrganization;
  const listOf = async (response: Response) =>
    (await response.json()) as { data: OrganizationMembership[] };

  it('makes a Free organization whose first key serves the openai client, once', async () => {
    const token = await registered('new.visitor@signup.test');

    const created = await call(token, 'POST', { name: 'Visitor Labs' });
    const organization = await organizationOf(created);
    const again = await organizationOf(await call(token, 'POST', {}));
    const list = await listOf(await call(token, 'GET'));
    const client = new OpenAI({
      apiKey: organization.first_key?.value,
      baseURL: local.openAIBaseUrl,
      fetch: spec.fetch,
    });
    const reply = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'Hello' }],
    });
    const me = await client.get('/me');
    // The session now acts for its organization without naming it (its only one).
    const viaSession = await spec.fetch(`${local.openAIBaseUrl}/me`, {
      headers: { authorization: `Bearer ${token}` },
    });

    expect(created.status).toBe(200);
    expect(organization).toMatchObject({ tier: 'free', role: 'owner', created: true });
    expect(again).toMatchObject({ id: organization.id, created: false, first_key: null });
    expect(list.data).toEqual([
      expect.objectContaining({ id: organization.id, name: 'Visitor Labs', role: 'owner' }),
    ]);
    expect(reply.choices[0]?.message.content).toBeTruthy();
    expect(me).toMatchObject({ id: organization.id, tier: 'free' });
    expect(viaSession.status).toBe(200);
  });

  it('makes one organization when the console sends the call five times at once', async () => {
    const token = await registered('racer@signup.test');

    const answers = await Promise.all(
      Array.from({ length: 5 }, async () => {
        const response = await call(token, 'POST', {});
        return { status: response.status, body: await organizationOf(response) };
      }),
    );

    const made = answers.filter((a) => a.status === 200);
    expect(made.filter((a) => a.body.first_key !== null)).toHaveLength(1);
    expect(new Set(made.map((a) => a.body.id)).size).toBe(1);
    for (const refused of answers.filter((a) => a.status !== 200)) {
      expect(refused).toMatchObject({
        status: 409,
        body: { error: { code: 'sign_up_in_progress' } },
      });
    }
    const list = await listOf(await call(token, 'GET'));
    expect(list.data).toHaveLength(1);
  });

  it('makes one Free organization per Gmail mailbox, whatever its dots, case, tag or domain alias', async () => {
    const token = await registered('Mail.Box+Work@gmail.com');
    const first = await call(token, 'POST', {});
    const members = await spec.fetch(`${local.openAIBaseUrl}/organization/users`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const aliases = ['mailbox@gmail.com', 'M.a.i.l.Box+2@GMAIL.com', 'mail.box@googlemail.com'];

    const again = await Promise.all(
      aliases.map(async (alias) => call(await registered(alias), 'POST', {})),
    );

    expect(first.status).toBe(200);
    // The mailbox is only the claim's key: the owner keeps the address they verified.
    expect(((await members.json()) as { data: { email: string }[] }).data).toEqual([
      expect.objectContaining({ email: 'mail.box+work@gmail.com' }),
    ]);
    for (const refused of again) {
      expect(refused.status).toBe(409);
      expect(await refused.json()).toMatchObject({ error: { code: 'email_already_signed_up' } });
    }
  });

  it('refuses API keys (403), no or forged credentials (401) and disposable addresses (400)', async () => {
    const demoKey = local.demoCustomers[0]?.apiKey ?? '';
    const withKey = await call(demoKey, 'POST', {});
    const anonymous = await spec.fetch(`${local.openAIBaseUrl}/account/organizations`, {
      method: 'POST',
      body: '{}',
    });
    const disposable = await call(await registered('eve@mx.throwaway.test'), 'POST', {});
    const forged = await call('eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln', 'POST', {});

    expect(withKey.status).toBe(403);
    expect(await withKey.json()).toMatchObject({ error: { code: 'session_required' } });
    expect(anonymous.status).toBe(401);
    expect(disposable.status).toBe(400);
    expect(await disposable.json()).toMatchObject({ error: { code: 'disposable_email' } });
    expect(forged.status).toBe(401);
  });
});
