import { hashApiKey } from '../../../lambda/customers/api-keys';
import type { Principal } from '../../../lambda/customers/authenticate';
import { CustomerKeys, MAX_ACTIVE_NAMED_KEYS } from '../../../lambda/customers/customer-keys';
import type { CustomersRepository } from '../../../lambda/customers/customers-repository';
import { defaultProjectId } from '../../../lambda/customers/key-permissions';
import { type LocalDynamo, newCustomersTable, startDynalite } from '../../support/dynalite';

/** Named keys against dynalite: what each key carries, and the race with an operator change. */
describe('CustomerKeys', () => {
  let dynamo: LocalDynamo;
  let repository: CustomersRepository;
  const principal: Principal = {
    kind: 'project_key',
    // The default project: one that is never archived (another must be stored and active).
    projectId: defaultProjectId('cus_1'),
    customerId: 'cus_1',
    tier: 'developer',
    usageIdentifierKey: 'edge-key-1',
  };
  const PRIMARY = 'primary-hash';

  beforeAll(async () => {
    dynamo = await startDynalite();
  });
  afterAll(() => dynamo.stop());

  beforeEach(async () => {
    ({ repository } = await newCustomersTable(dynamo));
    const now = '2026-11-01T00:00:00.000Z';
    await repository.putCustomer({
      customerId: 'cus_1',
      name: 'One',
      email: 'one@keys.test',
      tier: 'developer',
      status: 'active',
      keyHash: PRIMARY,
      keyHint: 'tl_AbCd…wxyz',
      createdAt: now,
      updatedAt: now,
    });
    await repository.putKey({
      keyHash: PRIMARY,
      customerId: 'cus_1',
      tier: 'developer',
      usageIdentifierKey: 'edge-key-1',
      status: 'active',
      spendLimitMicroUsd: 5_000_000,
      createdAt: now,
    });
  });

  it("gives a named key the primary key's tier, usage identifier and spend limit, stored only as a hash", async () => {
    const keys = new CustomerKeys(repository);
    const created = await keys.create(principal, 'ci');

    const stored = await repository.getKey(hashApiKey(created.key));
    expect(stored).toMatchObject({
      customerId: 'cus_1',
      tier: 'developer',
      usageIdentifierKey: 'edge-key-1',
      spendLimitMicroUsd: 5_000_000,
      status: 'active',
      name: 'ci',
      keyId: created.id,
    });
    expect(JSON.stringify(stored)).not.toContain(created.key);
  });

  it('catches up with an operator change that ran while the key was written (the change listed keys before it)', async () => {
    // The operator moves the customer to enterprise and removes the spend limit between our write
    // and its end.
    const racing: ConstructorParameters<typeof CustomerKeys>[0] = {
      getCustomer: (id) => repository.getCustomer(id),
      initNamedKeySlots: (id, slots, now) => repository.initNamedKeySlots(id, slots, now),
      reserveNamedKeySlot: (id, slot, max) => repository.reserveNamedKeySlot(id, slot, max),
      releaseNamedKeySlots: (id, slots) => repository.releaseNamedKeySlots(id, slots),
      getKey: (hash) => repository.getKey(hash),
      listNamedKeys: (id) => repository.listNamedKeys(id),
      updateKey: (hash, set, remove) => repository.updateKey(hash, set, remove),
      registerProjectKey: (id, project, hash) => repository.registerProjectKey(id, project, hash),
      forgetProjectKey: (id, project, hash) => repository.forgetProjectKey(id, project, hash),
      revokeOrBar: (hash, at) => repository.revokeOrBar(hash, at),
      putNamedKey: async (key) => {
        await repository.updateCustomerKeys('cus_1', PRIMARY, { tier: 'enterprise' }, [
          'spendLimitMicroUsd',
        ]);
        await repository.putNamedKey(key);
      },
    };
    const created = await new CustomerKeys(racing).create(principal, 'racy');

    const stored = await repository.getKey(hashApiKey(created.key));
    expect(stored?.tier).toBe('enterprise');
    expect(stored?.spendLimitMicroUsd).toBeUndefined();
  });

  it('propagates tier changes and revocation to every named key, and never revives a revoked one', async () => {
    const keys = new CustomerKeys(repository);
    const a = await keys.create(principal, 'a');
    const b = await keys.create(principal, 'b');
    await keys.revoke(principal, b.id);

    await repository.updateCustomerKeys('cus_1', PRIMARY, { tier: 'free', status: 'active' });

    expect(await repository.getKey(hashApiKey(a.key))).toMatchObject({
      tier: 'free',
      status: 'active',
    });
    expect((await repository.getKey(hashApiKey(b.key)))?.status).toBe('revoked');
    await repository.updateCustomerKeys('cus_1', PRIMARY, { status: 'revoked' });
    expect((await repository.getKey(hashApiKey(a.key)))?.status).toBe('revoked');
    expect((await repository.getKey(PRIMARY))?.status).toBe('revoked');
  });

  it(`refuses a key past ${MAX_ACTIVE_NAMED_KEYS} active ones, and a key for a customer whose primary key is revoked`, async () => {
    const keys = new CustomerKeys(repository);
    // Seeded directly (one write each): the limit counts active named keys, whoever wrote them.
    for (let i = 0; i < MAX_ACTIVE_NAMED_KEYS; i++) {
      await repository.putNamedKey({
        keyHash: `hash-${i}`,
        customerId: 'cus_1',
        tier: 'developer',
        usageIdentifierKey: 'edge-key-1',
        status: 'active',
        createdAt: '2026-11-02T00:00:00.000Z',
        keyId: `key_${i}`,
        name: `k${i}`,
      });
    }
    await expect(keys.create(principal, 'one too many')).rejects.toMatchObject({
      status: 400,
      code: 'too_many_keys',
    });

    await repository.updateKey(PRIMARY, { status: 'revoked' });
    await expect(keys.create(principal, 'late')).rejects.toMatchObject({ status: 404 });
  });
});
