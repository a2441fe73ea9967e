import { Hono } from 'hono';
import { MembershipsRepository } from '../../../lambda/accounts/memberships';
import { createSessionPrincipals } from '../../../lambda/accounts/session-principal';
import type { CustomersRepository } from '../../../lambda/customers/customers-repository';
import { defaultProjectId } from '../../../lambda/customers/key-permissions';
import { principalFromAuthorizer } from '../../../lambda/customers/lambda-principal';
import { HttpError } from '../../../lambda/openai/errors';
import { createDocumentClient } from '../../../lambda/storage/document-client';
import { type LocalDynamo, newCustomersTable, startDynalite } from '../../support/dynalite';
import { proxyEvent } from '../../support/events';

/**
 * The API function's half of a console session in Lambda: the authorizer's context names the
 * user; the organization comes from `OpenAI-Organization` and the membership (dynalite).
 */
describe('session principals in the API function (authorizer context + memberships)', () => {
  let dynamo: LocalDynamo;
  let customers: CustomersRepository;
  let memberships: MembershipsRepository;
  let clock = 0;
  let app: Hono;

  async function organization(customerId: string, status: 'active' | 'revoked' = 'active') {
    const at = '2026-12-07T00:00:00.000Z';
    await customers.putCustomer({
      customerId,
      name: customerId,
      email: `${customerId}@example.com`,
      tier: 'developer',
      status,
      keyHash: `hash-${customerId}`,
      createdAt: at,
      updatedAt: at,
    });
    await customers.putKey({
      keyHash: `hash-${customerId}`,
      customerId,
      tier: 'developer',
      usageIdentifierKey: `usage-${customerId}`,
      status: 'active',
      spendLimitMicroUsd: 5_000_000,
      createdAt: at,
    });
  }

  const call = async (userId: string | undefined, organizationId?: string) => {
    const event = proxyEvent({
      path: '/v1/me',
      authorizer: userId === undefined ? { kind: 'session' } : { kind: 'session', userId },
    });
    const response = await app.fetch(
      new Request('https://api.test/v1/me', {
        headers: organizationId ? { 'OpenAI-Organization': organizationId } : {},
      }),
      { event, lambdaContext: {} },
    );
    return { status: response.status, body: await response.json() };
  };

  beforeAll(async () => {
    dynamo = await startDynalite();
    const table = await newCustomersTable(dynamo);
    customers = table.repository;
    memberships = new MembershipsRepository(createDocumentClient(dynamo.client), table.tableName);
    const sessions = createSessionPrincipals({
      memberships,
      customers,
      cacheTtlMs: 60_000,
      now: () => clock,
    });
    app = new Hono();
    app.get('*', async (c) => {
      try {
        return c.json(await principalFromAuthorizer(c, sessions));
      } catch (error) {
        if (!(error instanceof HttpError)) throw error;
        return c.json({ error: { code: error.code } }, error.status as 400);
      }
    });
    await organization('cus_a');
    await organization('cus_b');
    await organization('cus_c');
    for (const [customerId, role] of [
      ['cus_a', 'owner'],
      ['cus_b', 'member'],
    ] as const) {
      await memberships.put({
        userId: 'user-1',
        customerId,
        role,
        email: 'one@example.com',
        createdAt: '2026-12-07T00:00:00.000Z',
      });
    }
  });
  afterAll(() => dynamo.stop());

  it('acts for the named organization with its tier, limits and role', async () => {
    const { status, body } = await call('user-1', 'cus_b');

    expect(status).toBe(200);
    expect(body).toEqual({
      kind: 'session',
      userId: 'user-1',
      role: 'member',
      customerId: 'cus_b',
      projectId: defaultProjectId('cus_b'),
      tier: 'developer',
      usageIdentifierKey: 'usage-cus_b',
      spendLimitMicroUsd: 5_000_000,
    });
  });

  it('wants the header from a member of several, answers 404 for a foreign one, 401 without a user', async () => {
    expect((await call('user-1')).status).toBe(400);
    expect((await call('user-1', 'cus_c')).status).toBe(404);
    expect((await call(undefined, 'cus_a')).status).toBe(401);
  });

  it('stops a suspended organization once the cached decision is older than the TTL', async () => {
    clock = 1_000;
    expect((await call('user-1', 'cus_a')).status).toBe(200);
    await customers.updateCustomer('cus_a', { status: 'revoked' });

    clock = 1_000 + 59_999;
    const cached = await call('user-1', 'cus_a');
    clock = 1_000 + 60_000;
    const after = await call('user-1', 'cus_a');

    expect(cached.status).toBe(200);
    expect(after.status).toBe(403);
  });
});
