import OpenAI, { toFile } from 'openai';
import { MembershipsRepository } from '../../lambda/accounts/memberships';
import { Projects, ProjectsRepository } from '../../lambda/accounts/projects';
import { CustomersRepository } from '../../lambda/customers/customers-repository';
import { defaultProjectId } from '../../lambda/customers/key-permissions';
import type { ProjectLimits } from '../../lambda/customers/project-limits';
import { TestModelBackend } from '../../lambda/inference/backends/test-model-backend';
import { loadConfig } from '../../lib/config/load';
import { LOCAL_CUSTOMERS_TABLE, type LocalMode, startLocalMode } from '../../local/local-mode';
import { localModeDocumentClient } from '../support/dynalite';
import { signedInUser } from '../support/local-sign-in';
import { clearOfMinuteBoundary } from '../support/windows';

/**
 * Console sessions over real HTTP in local mode: a user signs up in cognito-local, verifies with
 * the code from the mail file, signs in, and calls the API with the access token and the
 * organization in `OpenAI-Organization`, as the official client sends it.
 */
const MODEL = 'qwen3-8b';

describe('console sessions (Cognito access tokens) in local mode', () => {
  let local: LocalMode;
  let memberships: MembershipsRepository;
  const logs: string[] = [];
  /** Every DynamoDB call local mode makes: its command, table and item's sort key. */
  const calls: { command: string; table: string; sortKey: string }[] = [];

  beforeAll(async () => {
    local = await startLocalMode({
      config: loadConfig({ env: 'dev' }),
      port: 0,
      backend: new TestModelBackend({ replyTokens: 4, tokensPerSecond: 1_000 }),
      authorizerCacheTtlMs: 0,
      signIn: {},
      log: (line) => logs.push(line),
      instrumentDynamo: (client) =>
        client.middlewareStack.add(
          (next, context) => async (args) => {
            // The document client's commands may reach here before their values are marshalled.
            const input = args.input as {
              TableName?: string;
              Key?: { sk?: string | { S?: string } };
            };
            const sortKey = input.Key?.sk;
            calls.push({
              command: context.commandName ?? '',
              table: input.TableName ?? '',
              sortKey: (typeof sortKey === 'string' ? sortKey : sortKey?.S) ?? '',
            });
            return next(args);
          },
          { step: 'initialize', name: 'recordCalls' },
        ),
    });
    if (!local.signIn) throw new Error('sign-in is off');
    memberships = new MembershipsRepository(
      localModeDocumentClient(local.dynamoEndpoint),
      LOCAL_CUSTOMERS_TABLE,
    );
  });
  afterAll(() => local.stop());

  async function signedIn(email: string): Promise<{ token: string; userId: string }> {
    const { token, userId, verification } = await signedInUser(local, email);
    expect(verification?.link).toContain(`${local.url}/#/verify?`);
    return { token, userId };
  }

  const get = (token: string, path: string, organization?: string) =>
    fetch(`${local.openAIBaseUrl}${path}`, {
      headers: {
        authorization: `Bearer ${token}`,
        ...(organization ? { 'openai-organization': organization } : {}),
      },
    });

  it('acts for the organization it names, with the official client, as a member of it', async () => {
    const { token, userId } = await signedIn('member@sessions.test');
    const { customer } = await local.operator.createCustomer({
      name: 'Sessions',
      email: 'owner@sessions.test',
      tier: 'free',
    });
    await memberships.put({
      userId,
      customerId: customer.customerId,
      role: 'member',
      email: 'member@sessions.test',
      createdAt: new Date().toISOString(),
    });
    const client = new OpenAI({
      apiKey: token,
      organization: customer.customerId,
      baseURL: local.openAIBaseUrl,
    });

    const reply = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'Hello' }],
    });
    const usage = await get(token, '/usage', customer.customerId);

    expect(reply.choices[0]?.message.content).toBeTruthy();
    expect(usage.status).toBe(200);
    // The user's only organization when the header is absent.
    expect((await get(token, '/models')).status).toBe(200);
    // Session tokens never reach the logs.
    expect(logs.join('\n')).not.toContain(token);
  });

  /**
   * What `ProjectRateLimits.applyToKeys` does after a change: the default project's limits go on
   * its keys, the primary among them, which is where a session in that project reads them.
   */
  const setDefaultProjectLimits = async (
    customer: { keyHash?: string },
    project: { rateLimits?: ProjectLimits },
  ) => {
    if (!customer.keyHash || !project.rateLimits) throw new Error('no primary key or no limits');
    const doc = localModeDocumentClient(local.dynamoEndpoint);
    await new CustomersRepository(doc, LOCAL_CUSTOMERS_TABLE).setProjectLimits(
      customer.keyHash,
      project.rateLimits,
    );
  };

  it("reads no project for a session, even for inference, and still holds it to the project's limits", async () => {
    const { token, userId } = await signedIn('lazy@sessions.test');
    const { customer } = await local.operator.createCustomer({
      name: 'Lazy',
      email: 'owner@lazy.test',
      tier: 'developer',
    });
    await memberships.put({
      userId,
      customerId: customer.customerId,
      role: 'member',
      email: 'lazy@sessions.test',
      createdAt: new Date().toISOString(),
    });
    // The default project's own limit: 1 request a minute.
    const doc = localModeDocumentClient(local.dynamoEndpoint);
    const projects = new Projects(
      new ProjectsRepository(doc, LOCAL_CUSTOMERS_TABLE),
      new CustomersRepository(doc, LOCAL_CUSTOMERS_TABLE),
    );
    const owner = { customerId: customer.customerId };
    const defaultId = defaultProjectId(customer.customerId);
    await setDefaultProjectLimits(
      customer,
      await new ProjectsRepository(doc, LOCAL_CUSTOMERS_TABLE).changeLimits(
        () => projects.get(owner, defaultId),
        (limits) => ({ ...limits, models: { [MODEL]: { rpm: 1 } } }),
      ),
    );
    const projectReads = () =>
      calls.filter(
        (call) => call.command === 'GetItemCommand' && call.sortKey.startsWith('PROJECT#'),
      );
    expect((await get(token, '/models', customer.customerId)).status).toBe(200);

    calls.length = 0;
    const models = await get(token, '/models', customer.customerId);
    const usage = await get(token, '/usage', customer.customerId);
    expect(models.status).toBe(200);
    expect(usage.status).toBe(200);
    expect(projectReads()).toEqual([]);

    calls.length = 0;
    const client = new OpenAI({
      apiKey: token,
      organization: customer.customerId,
      baseURL: local.openAIBaseUrl,
      maxRetries: 0,
    });
    const chat = () =>
      client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] });
    // Both requests in one UTC minute: the second is refused by the first's count.
    await clearOfMinuteBoundary(10_000);
    await chat();
    // The default project's limits came with the session (from the primary key): no read.
    expect(projectReads()).toEqual([]);
    const second = await chat().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(second).toBeInstanceOf(OpenAI.RateLimitError);
    expect((second as Error).message).toMatch(/project `proj_/);
  });

  it("holds a session's batch to its default project's spend limit", async () => {
    const { token, userId } = await signedIn('batcher@sessions.test');
    const { customer } = await local.operator.createCustomer({
      name: 'Batcher',
      email: 'owner@batcher.test',
      tier: 'developer',
    });
    await memberships.put({
      userId,
      customerId: customer.customerId,
      role: 'member',
      email: 'batcher@sessions.test',
      createdAt: new Date().toISOString(),
    });
    // The default project's own spend limit: one cent.
    const doc = localModeDocumentClient(local.dynamoEndpoint);
    const projects = new Projects(
      new ProjectsRepository(doc, LOCAL_CUSTOMERS_TABLE),
      new CustomersRepository(doc, LOCAL_CUSTOMERS_TABLE),
    );
    const defaultId = defaultProjectId(customer.customerId);
    await setDefaultProjectLimits(
      customer,
      await new ProjectsRepository(doc, LOCAL_CUSTOMERS_TABLE).changeLimits(
        () => projects.get({ customerId: customer.customerId }, defaultId),
        (limits) => ({ ...limits, spendLimitMicroUsd: 10_000 }),
      ),
    );
    const client = new OpenAI({
      apiKey: token,
      organization: customer.customerId,
      baseURL: local.openAIBaseUrl,
      maxRetries: 0,
    });
    // 50 lines of up to 8,000 output tokens at $0.04 per 1M (batch price): up to 1.6 cents.
    const lines = Array.from({ length: 50 }, (_, i) =>
      JSON.stringify({
        custom_id: `line-${i}`,
        method: 'POST',
        url: '/v1/chat/completions',
        body: {
          model: MODEL,
          messages: [{ role: 'user', content: 'hi' }],
          max_completion_tokens: 8_000,
        },
      }),
    );
    const input = await client.files.create({
      file: await toFile(Buffer.from(`${lines.join('\n')}\n`), 'batch.jsonl'),
      purpose: 'batch',
    });
    const created = await client.batches.create({
      input_file_id: input.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    let batch = created;
    for (let tries = 0; tries < 200 && !['failed', 'completed'].includes(batch.status); tries++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      batch = await client.batches.retrieve(created.id);
    }
    expect(batch.status).toBe('failed');
    expect(batch.errors?.data?.[0]).toMatchObject({ code: 'spend_limit_exceeded' });
    expect(batch.errors?.data?.[0]?.message).toContain(`project \`${defaultId}\``);
  });

  it("answers 404 for another organization's id and 403 without any organization", async () => {
    const { token } = await signedIn('loner@sessions.test');
    const other = local.demoCustomers[0]?.customerId ?? 'cus_x';

    const foreign = await get(token, '/models', other);
    const none = await get(token, '/models');

    expect(foreign.status).toBe(404);
    expect(await foreign.json()).toMatchObject({
      error: { code: 'organization_not_found', type: 'invalid_request_error' },
    });
    expect(none.status).toBe(403);
    expect(await none.json()).toMatchObject({ error: { code: 'no_organization' } });
  });

  it('stops a suspended organization’s sessions, and refuses forged and foreign tokens with 401', async () => {
    const { token, userId } = await signedIn('suspended@sessions.test');
    const { customer } = await local.operator.createCustomer({
      name: 'Suspended',
      email: 'owner@suspended.test',
      tier: 'free',
    });
    await memberships.put({
      userId,
      customerId: customer.customerId,
      role: 'owner',
      email: 'suspended@sessions.test',
      createdAt: new Date().toISOString(),
    });
    expect((await get(token, '/models', customer.customerId)).status).toBe(200);

    await local.operator.revoke(customer.customerId);
    const after = await get(token, '/models', customer.customerId);
    const [header, payload, signature] = token.split('.');
    const claims = JSON.parse(Buffer.from(payload ?? '', 'base64url').toString());
    const forged = `${header}.${Buffer.from(JSON.stringify({ ...claims, exp: claims.exp + 86_400 })).toString('base64url')}.${signature}`;

    expect(after.status).toBe(403);
    expect(await after.json()).toMatchObject({ error: { code: 'organization_inactive' } });
    expect((await get(forged, '/models', customer.customerId)).status).toBe(401);
    expect((await get(`${token}x`, '/models', customer.customerId)).status).toBe(401);
  });

  it('lets an owner manage keys, admin keys and projects, and a member only read them', async () => {
    const owner = await signedIn('owner@manage.test');
    const member = await signedIn('member@manage.test');
    const { customer } = await local.operator.createCustomer({
      name: 'Managed',
      email: 'billing@manage.test',
      tier: 'developer',
    });
    for (const [who, role] of [
      [owner, 'owner'],
      [member, 'member'],
    ] as const) {
      await memberships.put({
        userId: who.userId,
        customerId: customer.customerId,
        role,
        email: `${role}@manage.test`,
        createdAt: new Date().toISOString(),
      });
    }
    const as = (token: string) =>
      new OpenAI({
        apiKey: token,
        adminAPIKey: token,
        organization: customer.customerId,
        baseURL: local.openAIBaseUrl,
        maxRetries: 0,
      });
    const ownerClient = as(owner.token);
    const memberClient = as(member.token);

    // An owner's session is the one way besides the operator to make an admin key.
    const admin = await ownerClient.admin.organization.adminAPIKeys.create({ name: 'ci admin' });
    expect(admin.value).toMatch(/^tl_admin_/);
    const project = await ownerClient.admin.organization.projects.create({ name: 'Team' });
    const key = (await ownerClient.post('/keys', {
      body: { name: 'team app', permissions: { chat: 'write' } },
      headers: { 'OpenAI-Project': project.id },
    })) as { id: string; project_id: string; created_by: string };
    expect(key).toMatchObject({ project_id: project.id, created_by: owner.userId });
    await ownerClient.put('/spend_limit', { body: { monthly_limit_usd: 20 } });

    // A member reads keys, the spend limit and projects, and changes none of them.
    expect(((await memberClient.get('/keys')) as { data: unknown[] }).data.length).toBe(2);
    expect(await memberClient.get('/spend_limit')).toMatchObject({ monthly_limit_usd: 20 });
    expect((await memberClient.admin.organization.projects.list()).data).toHaveLength(2);
    for (const refused of [
      memberClient.post('/keys', { body: { name: 'mine' } }),
      memberClient.delete(`/keys/${key.id}`),
      memberClient.put('/spend_limit', { body: { monthly_limit_usd: null } }),
      memberClient.admin.organization.adminAPIKeys.create({ name: 'mine' }),
      memberClient.admin.organization.adminAPIKeys.list(),
      memberClient.admin.organization.projects.create({ name: 'mine' }),
      memberClient.admin.organization.auditLogs.list(),
    ]) {
      await expect(refused).rejects.toBeInstanceOf(OpenAI.PermissionDeniedError);
    }
    // The owner's actions are in the audit log, with the owner's user id as the actor.
    const log = await ownerClient.admin.organization.auditLogs.list();
    expect(log.data.map((e) => e.type)).toEqual([
      'api_key.created',
      'project.created',
      'api_key.created',
    ]);
    expect(log.data[0]?.actor).toMatchObject({
      type: 'session',
      session: { user: { id: owner.userId } },
    });
    expect(logs.join('\n')).not.toContain(owner.token);
  });
});
