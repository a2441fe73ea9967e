import { ActiveCustomers, activeCustomerCacheMs } from '../../../lambda/customers/active-customers';
import type { CustomersRepository } from '../../../lambda/customers/customers-repository';
import { AuthenticationError } from '../../../lambda/openai/errors';
import { loadConfig } from '../../../lib/config/load';
import { type LocalDynamo, newCustomersTable, startDynalite } from '../../support/dynalite';

/**
 * How long one process keeps a customer's "active" answer, against dynalite: never longer than half
 * the authorizer cache's TTL, so `customers delete`'s second sweep, which waits the whole TTL, still
 * comes after the last create a kept answer lets through.
 */
describe('active customers, kept per process', () => {
  let dynamo: LocalDynamo;
  let repository: CustomersRepository;
  let reads: number;
  let clock: number;

  beforeAll(async () => {
    dynamo = await startDynalite();
  });
  afterAll(() => dynamo.stop());

  beforeEach(async () => {
    ({ repository } = await newCustomersTable(dynamo));
    reads = 0;
    clock = Date.parse('2026-12-07T12:00:00Z');
  });

  const setStatus = (status: 'active' | 'deleting' | 'deleted' | 'revoked' | 'suspended') =>
    repository.putCustomer({
      customerId: 'cus_1',
      name: 'One',
      email: 'one@active.test',
      tier: 'developer',
      status,
      createdAt: '2026-12-01T00:00:00.000Z',
    } as Parameters<CustomersRepository['putCustomer']>[0]);
  const activeCustomers = (cacheMs: number) =>
    new ActiveCustomers({
      customers: {
        getCustomer: (id) => {
          reads += 1;
          return repository.getCustomer(id);
        },
      },
      cacheMs,
      now: () => clock,
    });

  it('keeps half of every environment’s authorizer TTL', () => {
    for (const env of ['dev', 'prod'] as const) {
      const ttlSeconds = loadConfig({ env }).environment.authorizerCacheTtlSeconds;
      expect(activeCustomerCacheMs(ttlSeconds)).toBe(ttlSeconds * 500);
      expect(activeCustomerCacheMs(ttlSeconds)).toBeLessThan(ttlSeconds * 1000);
    }
    expect(activeCustomerCacheMs(0)).toBe(0);
  });

  it('reads once within the kept time, and again after it: a deletion is seen then', async () => {
    await setStatus('active');
    const customers = activeCustomers(30_000);
    await customers.require('cus_1');
    await setStatus('deleting');
    clock += 29_999;
    // Still let through: the authorizer's cache (60 s) lets the key through longer than this.
    await expect(customers.require('cus_1')).resolves.toBeUndefined();
    expect(reads).toBe(1);
    clock += 1;
    await expect(customers.require('cus_1')).rejects.toBeInstanceOf(AuthenticationError);
    expect(reads).toBe(2);
  });

  it.each(['deleting', 'deleted', 'revoked', 'suspended'] as const)(
    'never keeps a %s answer: the customer stays refused, and is let in as soon as it is active',
    async (status) => {
      await setStatus(status);
      const customers = activeCustomers(30_000);
      await expect(customers.require('cus_1')).rejects.toBeInstanceOf(AuthenticationError);
      await expect(customers.require('cus_1')).rejects.toBeInstanceOf(AuthenticationError);
      expect(reads).toBe(2);
      await setStatus('active');
      await expect(customers.require('cus_1')).resolves.toBeUndefined();
    },
  );

  it('shares one read among concurrent requests of a customer', async () => {
    await setStatus('active');
    const customers = activeCustomers(30_000);
    await Promise.all(Array.from({ length: 20 }, () => customers.require('cus_1')));
    expect(reads).toBe(1);
  });

  it('does not keep a failed read: the next request reads again', async () => {
    await setStatus('active');
    let failing = true;
    const customers = new ActiveCustomers({
      customers: {
        getCustomer: async (id) => {
          reads += 1;
          if (failing) throw new Error('ProvisionedThroughputExceededException');
          return repository.getCustomer(id);
        },
      },
      cacheMs: 30_000,
      now: () => clock,
    });
    await expect(customers.require('cus_1')).rejects.toThrow('ProvisionedThroughputExceeded');
    failing = false;
    await expect(customers.require('cus_1')).resolves.toBeUndefined();
    expect(reads).toBe(2);
  });

  it('reads every time when nothing may be kept', async () => {
    await setStatus('active');
    const customers = activeCustomers(0);
    await customers.require('cus_1');
    await customers.require('cus_1');
    expect(reads).toBe(2);
  });

  it('lets in a principal with no customer item (a key made outside the CLI)', async () => {
    await expect(activeCustomers(30_000).require('cus_none')).resolves.toBeUndefined();
  });
});
