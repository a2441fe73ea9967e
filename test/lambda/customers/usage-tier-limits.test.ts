import type { CustomersRepository } from '../../../lambda/customers/customers-repository';
import { setUsageTierLimits } from '../../../lambda/customers/usage-tier-limits';
import type { ModelLimits } from '../../../lib/config/schema';
import { type LocalDynamo, newCustomersTable, startDynalite } from '../../support/dynalite';

/**
 * A usage tier's limits against a concurrent switch to Free, on dynalite (the race stop 26 left):
 * the hourly check read the organization as Developer, the switch took the limits off every key,
 * then the check wrote Developer's raised limits back on a Free organization's keys. Each key's
 * write now holds only while the key is still Developer's and holds no custom plan's limits.
 */
describe('usage-tier limits against a tier switch or a custom plan (dynalite)', () => {
  let dynamo: LocalDynamo;
  let repository: CustomersRepository;
  const created = '2026-11-01T00:00:00.000Z';
  const raised: Record<string, ModelLimits> = {
    'qwen3-8b': { rpm: 2_000, rpd: 200_000, tpm: 2_000_000, tpd: 20_000_000 },
  };
  let counter = 0;

  beforeAll(async () => {
    dynamo = await startDynalite();
    ({ repository } = await newCustomersTable(dynamo));
  });
  afterAll(() => dynamo.stop());

  /** A Developer organization with its primary key and one named key. */
  async function developerOrganization(): Promise<string> {
    counter += 1;
    const customerId = `cus_tier${counter}`;
    await repository.putCustomer({
      customerId,
      name: 'Tiered',
      email: `tier${counter}@race.test`,
      tier: 'developer',
      status: 'active',
      keyHash: `primary-${counter}`,
      createdAt: created,
      updatedAt: created,
    });
    const key = {
      customerId,
      tier: 'developer' as const,
      usageIdentifierKey: `edge-${counter}`,
      status: 'active' as const,
      createdAt: created,
    };
    await repository.putKey({ ...key, keyHash: `primary-${counter}` });
    await repository.putNamedKey({
      ...key,
      keyHash: `named-${counter}`,
      keyId: 'key_n',
      name: 'n',
    });
    return customerId;
  }

  /** What `setTier(customerId, 'free')` writes on the table (its API Gateway move aside). */
  async function switchToFree(customerId: string) {
    await repository.updateCustomerKeys(customerId, `primary-${counter}`, { tier: 'free' }, [
      'customModelLimits',
    ]);
    await repository.updateCustomer(customerId, { tier: 'free' });
  }

  async function keysOf(customerId: string) {
    const primary = await repository.getKey(`primary-${counter}`);
    const named = await repository.listNamedKeys(customerId);
    return [primary, ...named].map((key) => ({
      tier: key?.tier,
      customModelLimits: key?.customModelLimits,
    }));
  }

  it('writes no raised limit on a key switched to Free after the check read Developer', async () => {
    const customerId = await developerOrganization();
    // The switch runs right after the check has read the organization as Developer.
    const racing = {
      getCustomer: async (id: string) => {
        const customer = await repository.getCustomer(id);
        await switchToFree(customerId);
        return customer;
      },
      updateCustomerKeys: repository.updateCustomerKeys.bind(repository),
    };

    await setUsageTierLimits(racing, customerId, raised);

    expect(await keysOf(customerId)).toEqual([
      { tier: 'free', customModelLimits: undefined },
      { tier: 'free', customModelLimits: undefined },
    ]);
  });

  it('ends with no raised limit on a Free organization when the check and the switch race (20 rounds)', async () => {
    for (let round = 0; round < 20; round += 1) {
      const customerId = await developerOrganization();
      await Promise.all([
        setUsageTierLimits(repository, customerId, raised),
        new Promise((resolve) => setTimeout(resolve, round % 4)).then(() =>
          switchToFree(customerId),
        ),
      ]);
      for (const key of await keysOf(customerId)) {
        expect(key).toEqual({ tier: 'free', customModelLimits: undefined });
      }
    }
  });

  it('still writes the limits on a Developer organization nobody switches', async () => {
    const customerId = await developerOrganization();
    expect(await setUsageTierLimits(repository, customerId, raised)).toBe(true);
    for (const key of await keysOf(customerId)) {
      expect(key).toEqual({ tier: 'developer', customModelLimits: raised });
    }
  });

  it("writes no usage-tier limit over a custom plan's set after the check read no plan", async () => {
    const customerId = await developerOrganization();
    const custom: Record<string, ModelLimits> = {
      'qwen3-8b': { rpm: 7, rpd: 70, tpm: 700, tpd: 7_000 },
    };
    // What `tierline plans set` writes on the keys, right after the check read the organization.
    const racing = {
      getCustomer: async (id: string) => {
        const customer = await repository.getCustomer(id);
        await repository.updateCustomerKeys(customerId, `primary-${counter}`, {
          customModelLimits: custom,
          customPlanLimits: true,
        });
        return customer;
      },
      updateCustomerKeys: repository.updateCustomerKeys.bind(repository),
    };

    await setUsageTierLimits(racing, customerId, raised);

    expect(await keysOf(customerId)).toEqual([
      { tier: 'developer', customModelLimits: custom },
      { tier: 'developer', customModelLimits: custom },
    ]);
    // Going back to no usage tier does not take a custom plan's limits off either.
    await setUsageTierLimits(repository, customerId, undefined);
    expect((await keysOf(customerId))[0]?.customModelLimits).toEqual(custom);
  });
});
