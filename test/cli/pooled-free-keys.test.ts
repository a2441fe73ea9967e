import { type APIGatewayClient, GetApiKeysCommand } from '@aws-sdk/client-api-gateway';
import { Operator } from '../../cli/operator';
import { authenticate } from '../../lambda/customers/authenticate';
import type { CustomersRepository } from '../../lambda/customers/customers-repository';
import {
  pooledUsageIdentifier,
  poolKeyValues,
  poolPlanName,
} from '../../lambda/customers/edge-key-pool';
import { createDocumentClient } from '../../lambda/storage/document-client';
import { loadConfig } from '../../lib/config/load';
import type { OperatorSettings } from '../../lib/operator-settings';
import { ApiGatewayEmulator } from '../../local/api-gateway-emulator';
import { type LocalDynamo, newCustomersTable, startDynalite } from '../support/dynalite';

const config = loadConfig({ env: 'dev' });
const pool = config.tiers.free.edgePool;
const settings: OperatorSettings = {
  apiId: 'local',
  stageName: 'dev',
  openAIBaseUrl: 'https://example.test/v1',
  customersTableName: 'unused',
  meteringTableName: 'unused',
  usagePlanIds: { free: 'up-free', developer: 'up-dev', enterprise: 'up-ent' },
};

/** A request the operator sent to API Gateway, as its command's name and input. */
type Sent = { command: string; input: Record<string, unknown> };

/**
 * Free customers on the pool (config `tiers.free.edgePool`, on by default), against dynalite and
 * local mode's API Gateway emulation (keys, plans, 409 on a repeated key value), every request
 * recorded; crashes are injected before or after a request reaches it.
 */
describe('pooled Free keys (dynalite, local API Gateway emulation)', () => {
  let dynamo: LocalDynamo;
  let emulator: ApiGatewayEmulator;
  let repository: CustomersRepository;
  let sent: Sent[];
  let crash: ((command: string, phase: 'before' | 'after') => boolean) | undefined;
  let operator: Operator;
  let serial = 0;

  beforeAll(async () => {
    if (!pool) throw new Error('the dev config must pool Free keys');
    dynamo = await startDynalite();
    await ApiGatewayEmulator.createTable(dynamo.client);
    emulator = new ApiGatewayEmulator(createDocumentClient(dynamo.client));
    for (const [tier, id] of Object.entries(settings.usagePlanIds)) {
      await emulator.upsertPlan(id, `tierline-dev-${tier}`, { rateLimit: 5, burstLimit: 10 });
    }
    // What the nested stack deploys (lib/constructs/api/edge-key-pool.ts), as local mode does.
    await emulator.upsertPlan('up-free-pool', poolPlanName('dev', 'free'), {
      rateLimit: pool.rateLimit,
      burstLimit: pool.burstLimit,
    });
    for (const [index, value] of poolKeyValues('dev', 'free', pool.keys).entries()) {
      await emulator.upsertPlanKey('up-free-pool', `pool-${index}`, value);
    }
  });
  afterAll(() => dynamo.stop());

  beforeEach(async () => {
    ({ repository } = await newCustomersTable(dynamo));
    sent = [];
    crash = undefined;
    const apiGateway = {
      send: async (command: { input: Record<string, unknown> }) => {
        const name = command.constructor.name;
        sent.push({ command: name, input: command.input });
        if (crash?.(name, 'before')) throw new Error(`crash before ${name}`);
        const answer = await emulator.send(command);
        if (crash?.(name, 'after')) throw new Error(`crash after ${name}`);
        return answer;
      },
    } as unknown as APIGatewayClient;
    operator = new Operator({
      customers: repository,
      apiGateway,
      settings,
      config,
      newCustomerId: () => {
        serial += 1;
        return `cus_pooled${serial}`;
      },
      customerData: {
        erase: async () => ({ files: 0, uploads: 0, batches: 0, otherItems: 0, objects: 0 }),
      },
      sleep: async () => undefined,
    });
  });

  const crashOnce = (command: string, phase: 'before' | 'after') => {
    let done = false;
    crash = (name, at) => {
      if (done || name !== command || at !== phase) return false;
      done = true;
      return true;
    };
  };
  const createFree = async () => {
    return operator.createCustomer({
      name: 'Free Co',
      email: `f${serial + 1}@pool.test`,
      tier: 'free',
    });
  };
  /** The customer's own keys in API Gateway (by the name Tierline gives them). */
  const ownKeys = async (customerId: string) => {
    const name = operator.apiGatewayKeyName(customerId);
    const { items = [] } = (await emulator
      .asClient()
      .send(new GetApiKeysCommand({ nameQuery: name, includeValues: true }))) as {
      items?: { id: string; name: string; value: string }[];
    };
    return items.filter((k) => k.name === name);
  };
  const planOfValue = async (value: string) => (await emulator.plansByKeyValue()).get(value)?.name;
  const lookup = (hash: string) => repository.getKey(hash);

  it('creates a Free customer without a single API Gateway request, on its pool key', async () => {
    const created = await createFree();
    const { customerId } = created.customer;
    const shared = pooledUsageIdentifier(config, 'free', customerId);

    expect(sent).toEqual([]);
    expect(created.customer).toMatchObject({
      status: 'active',
      tier: 'free',
      sharedUsageKey: shared,
    });
    expect(created.customer.apiGatewayKeyId).toBeUndefined();
    expect(created.customer.usagePlanId).toBeUndefined();
    const principal = await authenticate(`Bearer ${created.apiKey}`, lookup);
    expect(principal).toMatchObject({ customerId, tier: 'free', usageIdentifierKey: shared });
    expect(await planOfValue(shared ?? '')).toBe('tierline-dev-free-pool');
    // Keys made later copy the customer's usage identifier: the same pool key.
    const admin = await operator.createAdminKey(customerId, 'ops');
    expect(await authenticate(`Bearer ${admin.key}`, lookup)).toMatchObject({
      usageIdentifierKey: shared,
    });
    expect(sent).toEqual([]);
  });

  it('still gives Developer customers their own key (the exact requests)', async () => {
    const created = await operator.createCustomer({
      name: 'Dev Co',
      email: 'dev@pool.test',
      tier: 'developer',
    });
    const { customerId } = created.customer;
    const [key] = await ownKeys(customerId);
    expect(sent).toEqual([
      {
        command: 'CreateApiKeyCommand',
        input: {
          name: `tierline-dev-${customerId}`,
          description: expect.any(String),
          value: key?.value,
          enabled: true,
          tags: { project: 'tierline', environment: 'dev', customerId },
        },
      },
      {
        command: 'CreateUsagePlanKeyCommand',
        input: { usagePlanId: 'up-dev', keyId: key?.id, keyType: 'API_KEY' },
      },
    ]);
  });

  it('an upgrade to Developer makes exactly one key of its own, on the plan, and every key takes it', async () => {
    const created = await createFree();
    const { customerId } = created.customer;
    const admin = await operator.createAdminKey(customerId, 'ops');
    sent = [];

    const result = await operator.setTier(customerId, 'developer');

    const keys = await ownKeys(customerId);
    expect(keys).toHaveLength(1);
    const [own] = keys;
    const name = `tierline-dev-${customerId}`;
    expect(sent).toEqual([
      {
        command: 'GetApiKeysCommand',
        input: { nameQuery: name, includeValues: true, limit: 500 },
      },
      {
        command: 'CreateApiKeyCommand',
        input: expect.objectContaining({ name, value: own?.value }),
      },
      {
        command: 'CreateUsagePlanKeyCommand',
        input: { usagePlanId: 'up-dev', keyId: own?.id, keyType: 'API_KEY' },
      },
    ]);
    expect(result.changed).toBe(true);
    expect(result.customer).toMatchObject({
      tier: 'developer',
      apiGatewayKeyId: own?.id,
      usagePlanId: 'up-dev',
    });
    expect(result.customer.sharedUsageKey).toBeUndefined();
    expect(result.customer.pendingUsageKey).toBeUndefined();
    for (const key of [created.apiKey, admin.key]) {
      expect(await authenticate(`Bearer ${key}`, lookup)).toMatchObject({
        tier: 'developer',
        usageIdentifierKey: own?.value,
      });
    }
    expect(await planOfValue(own?.value ?? '')).toBe('tierline-dev-developer');

    sent = [];
    expect((await operator.setTier(customerId, 'developer')).changed).toBe(false);
    expect(sent).toEqual([]);
    // Back to Free: the key of its own moves to the Free plan, as any dedicated key does.
    await operator.setTier(customerId, 'free');
    expect(sent.map((s) => s.command)).not.toContain('CreateApiKeyCommand');
    expect(await planOfValue(own?.value ?? '')).toBe('tierline-dev-free');
    expect(await ownKeys(customerId)).toHaveLength(1);
  });

  const crashes: [string, () => void][] = [
    ['before CreateApiKey', () => crashOnce('CreateApiKeyCommand', 'before')],
    ['after CreateApiKey (its answer lost)', () => crashOnce('CreateApiKeyCommand', 'after')],
    ['before CreateUsagePlanKey', () => crashOnce('CreateUsagePlanKeyCommand', 'before')],
    ['after CreateUsagePlanKey', () => crashOnce('CreateUsagePlanKeyCommand', 'after')],
  ];
  it.each(crashes)(
    'an upgrade that crashes %s is finished by a retry, with one key',
    async (_, arm) => {
      const created = await createFree();
      const { customerId } = created.customer;
      arm();
      await expect(operator.setTier(customerId, 'developer')).rejects.toThrow('crash');
      // Until the retry the customer is Free on its pool key, and its key still works.
      expect(await authenticate(`Bearer ${created.apiKey}`, lookup)).toMatchObject({
        tier: 'free',
      });

      const retried = await operator.setTier(customerId, 'developer');

      const keys = await ownKeys(customerId);
      expect(keys).toHaveLength(1);
      expect(retried.customer).toMatchObject({ tier: 'developer', apiGatewayKeyId: keys[0]?.id });
      expect(await authenticate(`Bearer ${created.apiKey}`, lookup)).toMatchObject({
        tier: 'developer',
        usageIdentifierKey: keys[0]?.value,
      });
      expect(await planOfValue(keys[0]?.value ?? '')).toBe('tierline-dev-developer');
    },
  );

  it.each([
    ['the keys are updated', 'updateCustomerKeys'],
    ['the customer is updated', 'updateCustomer'],
  ] as const)(
    'an upgrade that crashes before %s is finished by a retry, with one key',
    async (_, method) => {
      const created = await createFree();
      const { customerId } = created.customer;
      const original = repository[method].bind(repository) as (...args: unknown[]) => Promise<void>;
      const spy = jest.spyOn(repository, method).mockImplementation(async (...args: unknown[]) => {
        // The claim of the key's value is an update too: crash on the one that ends the switch.
        const set = args[method === 'updateCustomer' ? 1 : 2] as Record<string, unknown>;
        if (method === 'updateCustomer' && !('apiGatewayKeyId' in set)) return original(...args);
        spy.mockRestore();
        throw new Error('crash');
      });
      await expect(operator.setTier(customerId, 'developer')).rejects.toThrow('crash');

      await operator.setTier(customerId, 'developer');

      const keys = await ownKeys(customerId);
      expect(keys).toHaveLength(1);
      expect(await repository.getCustomer(customerId)).toMatchObject({
        tier: 'developer',
        apiGatewayKeyId: keys[0]?.id,
      });
      expect(await authenticate(`Bearer ${created.apiKey}`, lookup)).toMatchObject({
        usageIdentifierKey: keys[0]?.value,
      });
    },
  );

  it('two upgrades at once make one key between them', async () => {
    const { customer } = await createFree();
    await Promise.all([
      operator.setTier(customer.customerId, 'developer'),
      operator.setTier(customer.customerId, 'developer'),
    ]);
    const keys = await ownKeys(customer.customerId);
    expect(keys).toHaveLength(1);
    expect(await repository.getCustomer(customer.customerId)).toMatchObject({
      tier: 'developer',
      apiGatewayKeyId: keys[0]?.id,
    });
  });

  it('revoke, reactivate and delete of a pooled customer never touch a pool key', async () => {
    const created = await createFree();
    const { customerId } = created.customer;
    const shared = created.customer.sharedUsageKey ?? '';
    sent = [];

    await operator.revoke(customerId);
    await expect(authenticate(`Bearer ${created.apiKey}`, lookup)).rejects.toThrow();
    const back = await operator.reactivate(customerId);
    expect(back.customer).toMatchObject({ status: 'active', sharedUsageKey: shared });
    expect(await authenticate(`Bearer ${back.apiKey}`, lookup)).toMatchObject({
      usageIdentifierKey: shared,
    });
    const deleted = await operator.deleteCustomer(customerId, { confirmed: true });
    expect(deleted.customer.status).toBe('deleted');
    await expect(authenticate(`Bearer ${back.apiKey}`, lookup)).rejects.toThrow();

    const touched = sent.map((s) => s.command);
    expect(touched).not.toContain('DeleteApiKeyCommand');
    expect(touched).not.toContain('DeleteUsagePlanKeyCommand');
    expect(touched).not.toContain('CreateApiKeyCommand');
    // Every pool key is still there, on the pooled plan.
    const plans = await emulator.plansByKeyValue();
    for (const value of poolKeyValues('dev', 'free', pool?.keys ?? 0)) {
      expect(plans.get(value)?.name).toBe('tierline-dev-free-pool');
    }
  });

  it('rotate-key, suspend and restore of a pooled customer send nothing and keep its pool key', async () => {
    const created = await createFree();
    const { customerId } = created.customer;
    const shared = created.customer.sharedUsageKey;
    sent = [];

    const rotated = await operator.rotateKey(customerId);
    await operator.suspend(customerId);
    await expect(authenticate(`Bearer ${rotated.apiKey}`, lookup)).rejects.toThrow();
    await operator.restore(customerId);

    expect(sent).toEqual([]);
    await expect(authenticate(`Bearer ${created.apiKey}`, lookup)).rejects.toThrow();
    expect(await authenticate(`Bearer ${rotated.apiKey}`, lookup)).toMatchObject({
      customerId,
      usageIdentifierKey: shared,
    });
  });

  it('a Free customer made before the pool keeps its own key, and moves it on upgrade', async () => {
    const before = new Operator({
      customers: repository,
      apiGateway: emulator.asClient(),
      settings,
      config: loadConfig({ env: 'dev', overrides: { tiers: { free: { edgePool: null } } } }),
      newCustomerId: () => 'cus_legacy',
    });
    const legacy = await before.createCustomer({
      name: 'Old',
      email: 'old@pool.test',
      tier: 'free',
    });
    const [own] = await ownKeys('cus_legacy');
    expect(legacy.customer.apiGatewayKeyId).toBe(own?.id);
    sent = [];

    await operator.setTier('cus_legacy', 'developer');

    expect(sent.map((s) => s.command)).toEqual([
      'DeleteUsagePlanKeyCommand',
      'CreateUsagePlanKeyCommand',
    ]);
    expect(await ownKeys('cus_legacy')).toHaveLength(1);
    expect(await authenticate(`Bearer ${legacy.apiKey}`, lookup)).toMatchObject({
      tier: 'developer',
      usageIdentifierKey: own?.value,
    });
  });
});
