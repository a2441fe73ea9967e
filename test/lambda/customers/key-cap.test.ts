import type { Principal } from '../../../lambda/customers/authenticate';
import {
  CustomerKeys,
  MAX_ACTIVE_NAMED_KEYS,
  slotOf,
} from '../../../lambda/customers/customer-keys';
import type { CustomersRepository } from '../../../lambda/customers/customers-repository';
import { defaultProjectId } from '../../../lambda/customers/key-permissions';
import { BadRequestError } from '../../../lambda/openai/errors';
import { type LocalDynamo, newCustomersTable, startDynalite } from '../../support/dynalite';

/**
 * The cap on active named keys under concurrency, against dynalite: each key holds a slot taken by
 * one conditional update, so concurrent creates never pass it; slots of keys that died mid-create
 * are freed.
 */
describe(`the ${MAX_ACTIVE_NAMED_KEYS}-key cap`, () => {
  let dynamo: LocalDynamo;
  let repository: CustomersRepository;
  const principal: Principal = {
    kind: 'project_key',
    // The default project: one that is never archived (another must be stored and active).
    projectId: defaultProjectId('cus_1'),
    customerId: 'cus_1',
    tier: 'developer',
    usageIdentifierKey: 'edge-1',
  };
  const created = '2026-11-01T00:00:00.000Z';

  beforeAll(async () => {
    dynamo = await startDynalite();
  });
  afterAll(() => dynamo.stop());

  beforeEach(async () => {
    ({ repository } = await newCustomersTable(dynamo));
    await repository.putCustomer({
      customerId: 'cus_1',
      name: 'One',
      email: 'one@cap.test',
      tier: 'developer',
      status: 'active',
      keyHash: 'primary-hash',
      createdAt: created,
      updatedAt: created,
    });
    await repository.putKey({
      keyHash: 'primary-hash',
      customerId: 'cus_1',
      tier: 'developer',
      usageIdentifierKey: 'edge-1',
      status: 'active',
      createdAt: created,
    });
  });

  /** Runs `count` creates at once; returns how many were issued and how many refused with too_many_keys. */
  const createAtOnce = async (keys: CustomerKeys, count: number) => {
    const results = await Promise.allSettled(
      Array.from({ length: count }, (_, i) => keys.create(principal, `k${i}`)),
    );
    const refused = results.filter(
      (r) =>
        r.status === 'rejected' &&
        r.reason instanceof BadRequestError &&
        r.reason.code === 'too_many_keys',
    );
    const other = results.filter((r) => r.status === 'rejected' && !refused.includes(r));
    expect(other).toEqual([]);
    return {
      issued: results.filter((r) => r.status === 'fulfilled').length,
      refused: refused.length,
    };
  };
  const activeKeys = async () =>
    (await repository.listNamedKeys('cus_1')).filter((k) => k.status === 'active');
  const slots = async () => [...((await repository.getCustomer('cus_1'))?.namedKeySlots ?? [])];

  it(`admits exactly ${MAX_ACTIVE_NAMED_KEYS} of 80 concurrent creates`, async () => {
    const keys = new CustomerKeys(repository);
    expect(await createAtOnce(keys, 80)).toEqual({
      issued: MAX_ACTIVE_NAMED_KEYS,
      refused: 80 - MAX_ACTIVE_NAMED_KEYS,
    });
    const active = await activeKeys();
    expect(active).toHaveLength(MAX_ACTIVE_NAMED_KEYS);
    expect((await slots()).sort()).toEqual(active.map(slotOf).sort());
  });

  it('gives a revoked key its slot back once, however many times it is revoked at once', async () => {
    const keys = new CustomerKeys(repository);
    await createAtOnce(keys, MAX_ACTIVE_NAMED_KEYS);
    const [victim] = await activeKeys();
    await Promise.all(
      Array.from({ length: 5 }, () => keys.revoke(principal, victim?.keyId as string)),
    );
    expect(await slots()).toHaveLength(MAX_ACTIVE_NAMED_KEYS - 1);
    expect(await createAtOnce(keys, 10)).toEqual({ issued: 1, refused: 9 });
    expect(await activeKeys()).toHaveLength(MAX_ACTIVE_NAMED_KEYS);
  });

  it('counts the keys created before slots existed', async () => {
    // 48 active keys written the old way: the customer item has no slots yet.
    for (let i = 0; i < MAX_ACTIVE_NAMED_KEYS - 2; i++) {
      await repository.putNamedKey({
        keyHash: `old-${i}`,
        customerId: 'cus_1',
        tier: 'developer',
        usageIdentifierKey: 'edge-1',
        status: 'active',
        createdAt: created,
        keyId: `key_old${i}`,
        name: `old ${i}`,
      });
    }
    expect(await createAtOnce(new CustomerKeys(repository), 6)).toEqual({ issued: 2, refused: 4 });
    expect(await activeKeys()).toHaveLength(MAX_ACTIVE_NAMED_KEYS);
    expect(await slots()).toHaveLength(MAX_ACTIVE_NAMED_KEYS);
  });

  it('frees a slot left by a create that died before writing its key, once it is old enough', async () => {
    let now = new Date('2026-12-01T10:00:00.000Z');
    const keys = new CustomerKeys(repository, () => now);
    await createAtOnce(keys, MAX_ACTIVE_NAMED_KEYS - 1);
    // The crash: a slot taken, no key written, nothing given back.
    const orphan = slotOf({ keyId: 'key_died', createdAt: '2026-12-01T09:59:30.000Z' });
    expect(await repository.reserveNamedKeySlot('cus_1', orphan, MAX_ACTIVE_NAMED_KEYS)).toBe(true);
    // 30 s later the slot may still be a create in flight: it is kept, and the cap holds.
    expect(await createAtOnce(keys, 1)).toEqual({ issued: 0, refused: 1 });
    expect(await slots()).toContain(orphan);
    // Past the grace period it is freed and the create goes through.
    now = new Date('2026-12-01T10:01:00.000Z');
    expect(await createAtOnce(keys, 3)).toEqual({ issued: 1, refused: 2 });
    expect(await slots()).not.toContain(orphan);
    expect(await activeKeys()).toHaveLength(MAX_ACTIVE_NAMED_KEYS);
  });

  it('gives the slot back when writing the key fails', async () => {
    const failing = Object.create(repository) as CustomersRepository;
    failing.putNamedKey = async () => {
      throw new Error('ProvisionedThroughputExceededException');
    };
    await expect(new CustomerKeys(failing).create(principal, 'x')).rejects.toThrow(
      'ProvisionedThroughput',
    );
    expect(await slots()).toEqual([]);
  });
});
