import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { Hono } from 'hono';
import { authorizeRoute } from '../../../lambda/accounts/authorization';
import { createAuthorizerHandler } from '../../../lambda/customers/api-gateway-authorizer';
import { issueApiKey } from '../../../lambda/customers/api-keys';
import { authenticate, type Principal } from '../../../lambda/customers/authenticate';
import { CustomerKeys } from '../../../lambda/customers/customer-keys';
import type { CustomersRepository } from '../../../lambda/customers/customers-repository';
import { defaultProjectId } from '../../../lambda/customers/key-permissions';
import { principalFromAuthorizer } from '../../../lambda/customers/lambda-principal';
import { createDocumentClient } from '../../../lambda/storage/document-client';
import { type LocalDynamo, newCustomersTable, startDynalite } from '../../support/dynalite';
import { authorizerEvent, proxyEvent } from '../../support/events';

/**
 * Keys written before kinds, projects and permissions existed, item for item as that code wrote
 * them (raw PutCommands, no repository of today): they read as project keys of their
 * organization's default project with every permission, nothing rewritten, nothing lost.
 */
describe('keys stored before kinds, projects and permissions (migrated on read)', () => {
  let dynamo: LocalDynamo;
  let repository: CustomersRepository;
  const primary = issueApiKey();
  const named = issueApiKey();
  const at = '2026-11-01T00:00:00.000Z';

  beforeAll(async () => {
    dynamo = await startDynalite();
    const table = await newCustomersTable(dynamo);
    repository = table.repository;
    const doc = createDocumentClient(dynamo.client);
    const put = (Item: Record<string, unknown>) =>
      doc.send(new PutCommand({ TableName: table.tableName, Item }));
    await put({
      pk: 'CUSTOMER#cus_old',
      sk: 'PROFILE',
      gsi1pk: 'CUSTOMERS',
      gsi1sk: `${at}#cus_old`,
      customerId: 'cus_old',
      name: 'Old',
      email: 'old@example.com',
      tier: 'developer',
      status: 'active',
      keyHash: primary.hash,
      keyHint: primary.hint,
      createdAt: at,
      updatedAt: at,
    });
    const authorization = {
      customerId: 'cus_old',
      tier: 'developer',
      usageIdentifierKey: 'usage-old',
      status: 'active',
      spendLimitMicroUsd: 7_000_000,
      createdAt: at,
    };
    await put({ pk: `KEY#${primary.hash}`, sk: 'KEY', keyHash: primary.hash, ...authorization });
    await put({
      pk: `KEY#${named.hash}`,
      sk: 'KEY',
      gsi1pk: 'KEYS#cus_old',
      gsi1sk: `${at}#key_old`,
      keyHash: named.hash,
      ...authorization,
      keyId: 'key_old',
      name: 'ci',
      keyHint: named.hint,
      lastUsedAt: '2026-11-02T10:00:00.000Z',
    });
  });
  afterAll(() => dynamo.stop());

  it('authenticates both as project keys of the default project with every permission', async () => {
    for (const [key, keyId] of [
      [primary.key, 'key_primary'],
      [named.key, 'key_old'],
    ] as const) {
      const principal = await authenticate(`Bearer ${key}`, (hash) => repository.getKey(hash));
      expect(principal).toEqual({
        kind: 'project_key',
        projectId: defaultProjectId('cus_old'),
        permissions: 'all',
        keyId,
        customerId: 'cus_old',
        tier: 'developer',
        usageIdentifierKey: 'usage-old',
        spendLimitMicroUsd: 7_000_000,
      });
      // Inference as before; managing keys no more.
      expect(() => authorizeRoute(principal, 'POST', '/v1/chat/completions')).not.toThrow();
      expect(() => authorizeRoute(principal, 'POST', '/v1/keys')).toThrow(/project API key/);
    }
  });

  it('keeps the same principal through the authorizer context into the API function', async () => {
    const handler = createAuthorizerHandler((hash) => repository.getKey(hash));
    const decision = await handler(authorizerEvent({ Authorization: `Bearer ${named.key}` }));
    const app = new Hono();
    app.get('*', async (c) => c.json(await principalFromAuthorizer(c)));
    const event = proxyEvent({
      path: '/v1/me',
      authorizer: decision.context as Record<string, string>,
    });
    event.requestContext.identity.apiKey = decision.usageIdentifierKey ?? null;
    const response = await app.fetch(new Request('https://api.test/v1/me'), {
      event,
      lambdaContext: {},
    });
    expect(await response.json()).toEqual({
      kind: 'project_key',
      projectId: defaultProjectId('cus_old'),
      permissions: 'all',
      keyId: 'key_old',
      customerId: 'cus_old',
      tier: 'developer',
      usageIdentifierKey: 'usage-old',
      spendLimitMicroUsd: 7_000_000,
    });
  });

  it('lists them with their project and permissions, and every field they had', async () => {
    const owner: Principal = {
      kind: 'session',
      userId: 'u1',
      role: 'owner',
      customerId: 'cus_old',
      projectId: defaultProjectId('cus_old'),
      tier: 'developer',
      usageIdentifierKey: 'usage-old',
    };
    const listed = await new CustomerKeys(repository).list(owner);
    expect(listed).toEqual([
      expect.objectContaining({
        id: 'key_primary',
        primary: true,
        status: 'active',
        project_id: defaultProjectId('cus_old'),
        permissions: 'all',
        created_by: null,
      }),
      expect.objectContaining({
        id: 'key_old',
        name: 'ci',
        hint: named.hint,
        status: 'active',
        last_used_at: Date.parse('2026-11-02T10:00:00.000Z') / 1000,
        project_id: defaultProjectId('cus_old'),
        permissions: 'all',
        created_by: null,
      }),
    ]);
    // Read, never rewritten: the items keep their old form.
    expect(await repository.getKey(named.hash)).not.toHaveProperty('kind');
  });

  it('derives one default project id per organization, the same in every process', () => {
    expect(defaultProjectId('cus_old')).toMatch(/^proj_[0-9A-Za-z]{24}$/);
    expect(defaultProjectId('cus_old')).toBe(defaultProjectId('cus_old'));
    expect(defaultProjectId('cus_other')).not.toBe(defaultProjectId('cus_old'));
  });
});
