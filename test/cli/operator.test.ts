import {
  APIGatewayClient,
  CreateApiKeyCommand,
  CreateUsagePlanCommand,
  CreateUsagePlanKeyCommand,
  DeleteApiKeyCommand,
  DeleteUsagePlanCommand,
  DeleteUsagePlanKeyCommand,
  GetApiKeysCommand,
  GetUsagePlansCommand,
  UpdateUsagePlanCommand,
} from '@aws-sdk/client-api-gateway';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { runCli } from '../../cli/main';
import { Operator, OperatorError } from '../../cli/operator';
import { authenticate } from '../../lambda/customers/authenticate';
import type { CustomersRepository } from '../../lambda/customers/customers-repository';
import { defaultProjectId } from '../../lambda/customers/key-permissions';
import { SpendTracker } from '../../lambda/metering/spend';
import { AuthenticationError } from '../../lambda/openai/errors';
import { loadConfig } from '../../lib/config/load';
import type { OperatorSettings } from '../../lib/operator-settings';
import {
  type LocalDynamo,
  newCustomersTable,
  newMeteringTable,
  startDynalite,
} from '../support/dynalite';
import { clearOfMinuteBoundary } from '../support/windows';

const settings: OperatorSettings = {
  apiId: 'api123',
  stageName: 'dev',
  openAIBaseUrl: 'https://api123.execute-api.eu-west-1.amazonaws.com/dev/v1',
  customersTableName: 'unused',
  meteringTableName: 'unused',
  usagePlanIds: { free: 'up-free', developer: 'up-dev', enterprise: 'up-ent' },
};
// Free without its key pool: these tests are about customers with keys of their own (every tier
// before the pool, and Free customers made before it, who keep theirs). The pool:
// test/cli/pooled-free-keys.test.ts.
const config = loadConfig({ env: 'dev', overrides: { tiers: { free: { edgePool: null } } } });

class ServiceError extends Error {
  constructor(name: string) {
    super(name);
    this.name = name;
  }
}

describe('operator commands (customers in dynalite, API Gateway mocked)', () => {
  let dynamo: LocalDynamo;
  let repository: CustomersRepository;
  let apiGateway: APIGatewayClient;
  let gateway: AwsClientStub<APIGatewayClient>;
  let operator: Operator;
  let ids: number;

  beforeAll(async () => {
    dynamo = await startDynalite();
  });
  afterAll(() => dynamo.stop());

  beforeEach(async () => {
    ({ repository } = await newCustomersTable(dynamo));
    apiGateway = new APIGatewayClient({ region: 'eu-west-1' });
    gateway = mockClient(apiGateway);
    let keys = 0;
    gateway.on(CreateApiKeyCommand).callsFake((input) => {
      keys += 1;
      return { id: `gwkey-${keys}`, name: input.name, value: input.value, enabled: true };
    });
    gateway.on(CreateUsagePlanKeyCommand).resolves({});
    gateway.on(DeleteUsagePlanKeyCommand).resolves({});
    gateway.on(DeleteApiKeyCommand).resolves({});
    gateway.on(GetApiKeysCommand).resolves({ items: [] });
    gateway.on(GetUsagePlansCommand).resolves({ items: [] });
    ids = 0;
    operator = new Operator({
      customers: repository,
      apiGateway,
      settings,
      config,
      newCustomerId: () => {
        ids += 1;
        return `cus_${ids}`;
      },
    });
  });
  afterEach(() => gateway.restore());

  const lookup = (hash: string) => repository.getKey(hash);

  describe('customers create', () => {
    it('creates an API Gateway key on the tier plan and a key the authorizer accepts', async () => {
      const result = await operator.createCustomer({
        name: 'Acme',
        email: ' Ops@Acme.test ',
        tier: 'developer',
      });

      expect(result.created).toBe(true);
      expect(result.customer).toMatchObject({
        customerId: 'cus_1',
        email: 'ops@acme.test',
        tier: 'developer',
        status: 'active',
        apiGatewayKeyId: 'gwkey-1',
        usagePlanId: 'up-dev',
      });
      expect(result.customer.pendingKeyHash).toBeUndefined();
      const [createKey] = gateway.commandCalls(CreateApiKeyCommand);
      expect(createKey?.args[0].input).toEqual({
        name: 'tierline-dev-cus_1',
        description: expect.stringContaining('cus_1'),
        value: expect.stringMatching(/^[0-9A-Za-z]{40}$/),
        enabled: true,
        tags: { project: 'tierline', environment: 'dev', customerId: 'cus_1' },
      });
      expect(gateway.commandCalls(CreateUsagePlanKeyCommand).map((c) => c.args[0].input)).toEqual([
        { usagePlanId: 'up-dev', keyId: 'gwkey-1', keyType: 'API_KEY' },
      ]);
      const principal = await authenticate(`Bearer ${result.apiKey}`, lookup);
      expect(principal).toEqual({
        kind: 'project_key',
        projectId: defaultProjectId('cus_1'),
        permissions: 'all',
        keyId: 'key_primary',
        customerId: 'cus_1',
        tier: 'developer',
        usageIdentifierKey: createKey?.args[0].input.value,
      });
      // The operator's admin key: the administration API only, on the same customer.
      const admin = await operator.createAdminKey('cus_1', 'ops');
      expect(admin.key).toMatch(/^tl_admin_[0-9A-Za-z]{49}$/);
      expect(await authenticate(`Bearer ${admin.key}`, lookup)).toMatchObject({
        kind: 'admin_key',
        keyId: admin.id,
        customerId: 'cus_1',
        usageIdentifierKey: createKey?.args[0].input.value,
      });
    });

    it('is safe to re-run: the same e-mail changes nothing, issues no key and calls no AWS API', async () => {
      await operator.createCustomer({ name: 'Acme', email: 'ops@acme.test', tier: 'developer' });
      gateway.resetHistory();

      const again = await operator.createCustomer({
        name: 'Acme Inc',
        email: 'OPS@acme.test',
        tier: 'enterprise',
      });

      expect(again.created).toBe(false);
      expect(again.apiKey).toBeUndefined();
      expect(again.customer).toMatchObject({
        customerId: 'cus_1',
        name: 'Acme',
        tier: 'developer',
      });
      expect(gateway.calls()).toHaveLength(0);
      expect((await operator.listCustomers()).customers).toHaveLength(1);
    });

    it('undoes everything when attaching the key to the usage plan fails half way', async () => {
      gateway.on(CreateUsagePlanKeyCommand).rejects(new ServiceError('TooManyRequestsException'));

      await expect(
        operator.createCustomer({ name: 'Acme', email: 'ops@acme.test', tier: 'free' }),
      ).rejects.toThrow('TooManyRequestsException');

      expect(gateway.commandCalls(DeleteApiKeyCommand).map((c) => c.args[0].input)).toEqual([
        { apiKey: 'gwkey-1' },
      ]);
      expect(await repository.getCustomer('cus_1')).toBeUndefined();
      expect((await operator.listCustomers()).customers).toEqual([]);

      // The e-mail was released: a retry creates the customer cleanly under a new id.
      gateway.on(CreateUsagePlanKeyCommand).resolves({});
      const retry = await operator.createCustomer({
        name: 'Acme',
        email: 'ops@acme.test',
        tier: 'free',
      });
      expect(retry).toMatchObject({
        created: true,
        customer: { customerId: 'cus_2', status: 'active' },
      });
    });

    it('undoes the API Gateway key and the key item when the final DynamoDB write fails', async () => {
      const update = jest
        .spyOn(repository, 'updateCustomer')
        .mockRejectedValueOnce(new Error('dynamodb down'));

      await expect(
        operator.createCustomer({ name: 'Acme', email: 'ops@acme.test', tier: 'free' }),
      ).rejects.toThrow('dynamodb down');

      expect(gateway.commandCalls(DeleteApiKeyCommand).map((c) => c.args[0].input)).toEqual([
        { apiKey: 'gwkey-1' },
      ]);
      expect(await repository.getCustomer('cus_1')).toBeUndefined();
      update.mockRestore();
    });

    it('finishes a create that was interrupted outright, cleaning up what it left', async () => {
      // What a crash between CreateApiKey and the last write leaves behind:
      await repository.claimEmail('ops@acme.test', 'cus_old');
      await repository.putCustomer({
        customerId: 'cus_old',
        name: 'Acme',
        email: 'ops@acme.test',
        tier: 'free',
        status: 'creating',
        pendingKeyHash: 'a'.repeat(64),
        createdAt: '2026-11-01T00:00:00.000Z',
        updatedAt: '2026-11-01T00:00:00.000Z',
      });
      await repository.putKey({
        keyHash: 'a'.repeat(64),
        customerId: 'cus_old',
        tier: 'free',
        usageIdentifierKey: 'orphan',
        status: 'active',
        createdAt: '2026-11-01T00:00:00.000Z',
      });
      gateway.on(GetApiKeysCommand).resolves({
        items: [
          { id: 'gwkey-orphan', name: 'tierline-dev-cus_old' },
          { id: 'gwkey-other', name: 'tierline-dev-cus_old2' },
        ],
      });

      const result = await operator.createCustomer({
        name: 'Acme',
        email: 'ops@acme.test',
        tier: 'free',
      });

      expect(result).toMatchObject({
        created: true,
        customer: { customerId: 'cus_old', status: 'active' },
      });
      expect(result.customer.createdAt).toBe('2026-11-01T00:00:00.000Z');
      expect(gateway.commandCalls(GetApiKeysCommand)[0]?.args[0].input).toEqual({
        nameQuery: 'tierline-dev-cus_old',
        limit: 500,
      });
      expect(gateway.commandCalls(DeleteApiKeyCommand).map((c) => c.args[0].input)).toEqual([
        { apiKey: 'gwkey-orphan' },
      ]);
      expect(await repository.getKey('a'.repeat(64))).toBeUndefined();
    });

    it('rejects bad input with exit code 2 before touching anything', async () => {
      const attempt = operator.createCustomer({ name: '', email: 'not-an-email', tier: 'gold' });

      await expect(attempt).rejects.toBeInstanceOf(OperatorError);
      await expect(attempt).rejects.toMatchObject({ exitCode: 2 });
      await expect(attempt).rejects.toThrow(
        /name: name must not be empty[\s\S]*email: email must look like/,
      );
      expect(gateway.calls()).toHaveLength(0);
    });

    it('explains API Gateway’s 10,000-key limit when it is reached', async () => {
      gateway.on(CreateApiKeyCommand).rejects(new ServiceError('LimitExceededException'));

      await expect(
        operator.createCustomer({ name: 'A', email: 'a@b.test', tier: 'free' }),
      ).rejects.toThrow(/at most 10,000 API keys/);
      expect(await repository.getCustomer('cus_1')).toBeUndefined();
    });
  });

  describe('customers set-tier', () => {
    it('moves the key to the new tier plan and the authorizer sees the new tier; re-running changes nothing', async () => {
      const { apiKey } = await operator.createCustomer({
        name: 'A',
        email: 'a@b.test',
        tier: 'free',
      });
      gateway.resetHistory();

      const result = await operator.setTier('cus_1', 'developer');

      expect(result.changed).toBe(true);
      expect(gateway.commandCalls(DeleteUsagePlanKeyCommand).map((c) => c.args[0].input)).toEqual([
        { usagePlanId: 'up-free', keyId: 'gwkey-1' },
      ]);
      expect(gateway.commandCalls(CreateUsagePlanKeyCommand).map((c) => c.args[0].input)).toEqual([
        { usagePlanId: 'up-dev', keyId: 'gwkey-1', keyType: 'API_KEY' },
      ]);
      expect((await authenticate(`Bearer ${apiKey}`, lookup)).tier).toBe('developer');

      gateway.resetHistory();
      expect((await operator.setTier('cus_1', 'developer')).changed).toBe(false);
      expect(gateway.calls()).toHaveLength(0);
    });

    it('finishes a move that stopped after leaving the old plan (key already on the new plan)', async () => {
      await operator.createCustomer({ name: 'A', email: 'a@b.test', tier: 'free' });
      gateway.on(DeleteUsagePlanKeyCommand).rejects(new ServiceError('NotFoundException'));
      gateway.on(CreateUsagePlanKeyCommand).rejects(new ServiceError('ConflictException'));

      await expect(operator.setTier('cus_1', 'enterprise')).resolves.toMatchObject({
        changed: true,
        customer: { tier: 'enterprise', usagePlanId: 'up-ent' },
      });
    });

    it('moves a key that an interrupted command left on another plan (ConflictException)', async () => {
      await operator.createCustomer({ name: 'A', email: 'a@b.test', tier: 'free' });
      gateway.resetHistory();
      gateway
        .on(CreateUsagePlanKeyCommand, { usagePlanId: 'up-dev' })
        .rejectsOnce(new ServiceError('ConflictException'))
        .resolves({});
      gateway
        .on(GetUsagePlansCommand, { keyId: 'gwkey-1' })
        .resolves({ items: [{ id: 'up-custom-old' }] });

      await operator.setTier('cus_1', 'developer');

      expect(gateway.commandCalls(GetUsagePlansCommand).map((c) => c.args[0].input)).toEqual([
        { keyId: 'gwkey-1', limit: 500 },
      ]);
      expect(gateway.commandCalls(DeleteUsagePlanKeyCommand).map((c) => c.args[0].input)).toEqual([
        { usagePlanId: 'up-free', keyId: 'gwkey-1' },
        { usagePlanId: 'up-custom-old', keyId: 'gwkey-1' },
      ]);
      expect(
        gateway.commandCalls(CreateUsagePlanKeyCommand).map((c) => c.args[0].input.usagePlanId),
      ).toEqual(['up-dev', 'up-dev']);
    });

    it('puts the key back on its old plan when the new plan refuses it', async () => {
      await operator.createCustomer({ name: 'A', email: 'a@b.test', tier: 'free' });
      gateway.resetHistory();
      gateway
        .on(CreateUsagePlanKeyCommand, { usagePlanId: 'up-dev' })
        .rejects(new ServiceError('BadRequestException'))
        .on(CreateUsagePlanKeyCommand, { usagePlanId: 'up-free' })
        .resolves({});

      await expect(operator.setTier('cus_1', 'developer')).rejects.toThrow('BadRequestException');

      expect(
        gateway.commandCalls(CreateUsagePlanKeyCommand).map((c) => c.args[0].input.usagePlanId),
      ).toEqual(['up-dev', 'up-free']);
      expect(await repository.getCustomer('cus_1')).toMatchObject({
        tier: 'free',
        usagePlanId: 'up-free',
      });
    });
  });

  describe('customers rotate-key and revoke', () => {
    it('rotate-key issues a new key on the same usage identifier and revokes the old one', async () => {
      const created = await operator.createCustomer({ name: 'A', email: 'a@b.test', tier: 'free' });
      const usageIdentifier = gateway.commandCalls(CreateApiKeyCommand)[0]?.args[0].input.value;
      gateway.resetHistory();

      const rotated = await operator.rotateKey('cus_1');

      expect(rotated.apiKey).not.toBe(created.apiKey);
      await expect(authenticate(`Bearer ${created.apiKey}`, lookup)).rejects.toBeInstanceOf(
        AuthenticationError,
      );
      const principal = await authenticate(`Bearer ${rotated.apiKey}`, lookup);
      expect(principal.usageIdentifierKey).toBe(usageIdentifier);
      expect(gateway.calls()).toHaveLength(0);
      expect(rotated.customer.pendingKeyHash).toBeUndefined();
    });

    it('revoke stops the key, deletes the API Gateway key, and is safe to re-run', async () => {
      const { apiKey } = await operator.createCustomer({
        name: 'A',
        email: 'a@b.test',
        tier: 'free',
      });
      gateway.resetHistory();

      const revoked = await operator.revoke('cus_1');

      expect(revoked.status).toBe('revoked');
      await expect(authenticate(`Bearer ${apiKey}`, lookup)).rejects.toBeInstanceOf(
        AuthenticationError,
      );
      expect(gateway.commandCalls(DeleteApiKeyCommand).map((c) => c.args[0].input)).toEqual([
        { apiKey: 'gwkey-1' },
      ]);

      gateway.on(DeleteApiKeyCommand).rejects(new ServiceError('NotFoundException'));
      await expect(operator.revoke('cus_1')).resolves.toMatchObject({ status: 'revoked' });
      await expect(operator.rotateKey('cus_1')).rejects.toThrow(/is revoked, not active/);
      await expect(
        operator.createCustomer({ name: 'A', email: 'a@b.test', tier: 'free' }),
      ).rejects.toThrow(/belongs to revoked customer cus_1/);
    });

    it('finishes a rotation whose last step failed: the replaced key is revoked by the next run', async () => {
      const { apiKey: first } = await operator.createCustomer({
        name: 'A',
        email: 'a@b.test',
        tier: 'free',
      });
      const updateKey = jest
        .spyOn(repository, 'updateKey')
        .mockRejectedValueOnce(new Error('throttled'));

      await expect(operator.rotateKey('cus_1')).rejects.toThrow('throttled');
      updateKey.mockRestore();
      expect((await authenticate(`Bearer ${first}`, lookup)).customerId).toBe('cus_1'); // not revoked yet
      const { apiKey: third } = await operator.rotateKey('cus_1');

      await expect(authenticate(`Bearer ${first}`, lookup)).rejects.toBeInstanceOf(
        AuthenticationError,
      );
      expect((await authenticate(`Bearer ${third}`, lookup)).customerId).toBe('cus_1');
      expect((await repository.getCustomer('cus_1'))?.previousKeyHash).toBeUndefined();
    });

    it('marks a revocation that failed half way so no other command brings the customer back', async () => {
      const { apiKey } = await operator.createCustomer({
        name: 'A',
        email: 'a@b.test',
        tier: 'free',
      });
      gateway.on(DeleteApiKeyCommand).rejectsOnce(new ServiceError('TooManyRequestsException'));

      await expect(operator.revoke('cus_1')).rejects.toThrow('TooManyRequestsException');

      expect((await repository.getCustomer('cus_1'))?.status).toBe('revoking');
      await expect(authenticate(`Bearer ${apiKey}`, lookup)).rejects.toBeInstanceOf(
        AuthenticationError,
      );
      await expect(operator.rotateKey('cus_1')).rejects.toThrow(/is revoking, not active/);
      await expect(operator.setTier('cus_1', 'developer')).rejects.toThrow(
        /is revoking, not active/,
      );
      await expect(operator.revoke('cus_1')).resolves.toMatchObject({ status: 'revoked' });
    });

    it('answers an unknown customer id clearly', async () => {
      await expect(operator.revoke('cus_nope')).rejects.toThrow('No customer with id cus_nope.');
    });
  });

  describe('plans create-custom', () => {
    const input = {
      rateLimit: 800,
      burstLimit: 1600,
      quota: { limit: 5_000_000, period: 'MONTH' as const },
      models: { 'qwen3-32b': { rpm: 100, rpd: 100_000, tpm: 50_000, tpd: 5_000_000 } },
    };

    it("creates the customer's own usage plan on the stage, moves its key there and carries the limits", async () => {
      const { apiKey } = await operator.createCustomer({
        name: 'A',
        email: 'a@b.test',
        tier: 'enterprise',
      });
      gateway.on(CreateUsagePlanCommand).resolves({ id: 'up-custom-1' });
      gateway.resetHistory();

      const customer = await operator.createCustomPlan('cus_1', input);

      expect(gateway.commandCalls(CreateUsagePlanCommand).map((c) => c.args[0].input)).toEqual([
        {
          name: 'tierline-dev-custom-cus_1',
          description: 'Tierline custom plan of cus_1',
          throttle: { rateLimit: 800, burstLimit: 1600 },
          quota: { limit: 5_000_000, period: 'MONTH' },
          apiStages: [{ apiId: 'api123', stage: 'dev' }],
          tags: { project: 'tierline', environment: 'dev', customerId: 'cus_1' },
        },
      ]);
      expect(gateway.commandCalls(DeleteUsagePlanKeyCommand).map((c) => c.args[0].input)).toEqual([
        { usagePlanId: 'up-ent', keyId: 'gwkey-1' },
      ]);
      expect(gateway.commandCalls(CreateUsagePlanKeyCommand).map((c) => c.args[0].input)).toEqual([
        { usagePlanId: 'up-custom-1', keyId: 'gwkey-1', keyType: 'API_KEY' },
      ]);
      expect(customer).toMatchObject({
        usagePlanId: 'up-custom-1',
        customPlan: {
          usagePlanId: 'up-custom-1',
          edge: { rateLimit: 800, burstLimit: 1600 },
          models: input.models,
        },
      });
      expect((await authenticate(`Bearer ${apiKey}`, lookup)).customModelLimits).toEqual(
        input.models,
      );
    });

    it('re-running updates the same plan in place', async () => {
      await operator.createCustomer({ name: 'A', email: 'a@b.test', tier: 'enterprise' });
      gateway.on(CreateUsagePlanCommand).resolves({ id: 'up-custom-1' });
      await operator.createCustomPlan('cus_1', input);
      gateway.resetHistory();

      await operator.createCustomPlan('cus_1', {
        ...input,
        rateLimit: 900,
        quota: undefined,
        models: {},
      });

      expect(gateway.commandCalls(CreateUsagePlanCommand)).toHaveLength(0);
      expect(gateway.commandCalls(UpdateUsagePlanCommand).map((c) => c.args[0].input)).toEqual([
        {
          usagePlanId: 'up-custom-1',
          patchOperations: [
            { op: 'replace', path: '/throttle/rateLimit', value: '900' },
            { op: 'replace', path: '/throttle/burstLimit', value: '1600' },
            { op: 'remove', path: '/quota' },
          ],
        },
      ]);
      const customer = await repository.getCustomer('cus_1');
      expect(customer?.customPlan?.models).toEqual({});
      expect(await repository.getKey(customer?.keyHash as string)).not.toHaveProperty(
        'customModelLimits',
      );
    });

    it('reuses a plan left by an interrupted run instead of creating a second one', async () => {
      await operator.createCustomer({ name: 'A', email: 'a@b.test', tier: 'enterprise' });
      gateway
        .on(GetUsagePlansCommand)
        .resolves({ items: [{ id: 'up-left', name: 'tierline-dev-custom-cus_1' }] });
      gateway.resetHistory();

      const customer = await operator.createCustomPlan('cus_1', input);

      expect(gateway.commandCalls(CreateUsagePlanCommand)).toHaveLength(0);
      expect(customer.usagePlanId).toBe('up-left');
    });

    it('is for Enterprise customers and offered models only', async () => {
      await operator.createCustomer({ name: 'A', email: 'a@b.test', tier: 'developer' });

      await expect(operator.createCustomPlan('cus_1', input)).rejects.toThrow(
        /set-tier cus_1 enterprise/,
      );
      await expect(
        operator.createCustomPlan('cus_1', {
          ...input,
          models: { 'gpt-4': { rpm: 1, rpd: 1, tpm: 1, tpd: 1 } },
        }),
      ).rejects.toThrow(/gpt-4 is not offered on the enterprise tier/);
      await expect(operator.createCustomPlan('cus_1', { ...input, burstLimit: 1 })).rejects.toThrow(
        /burstLimit/,
      );
    });

    it('set-tier away from the custom plan deletes it after detaching it from the stage', async () => {
      await operator.createCustomer({ name: 'A', email: 'a@b.test', tier: 'enterprise' });
      gateway.on(CreateUsagePlanCommand).resolves({ id: 'up-custom-1' });
      await operator.createCustomPlan('cus_1', input);
      gateway.resetHistory();

      await operator.setTier('cus_1', 'enterprise');

      expect(gateway.commandCalls(UpdateUsagePlanCommand).map((c) => c.args[0].input)).toEqual([
        {
          usagePlanId: 'up-custom-1',
          patchOperations: [{ op: 'remove', path: '/apiStages', value: 'api123:dev' }],
        },
      ]);
      expect(gateway.commandCalls(DeleteUsagePlanCommand).map((c) => c.args[0].input)).toEqual([
        { usagePlanId: 'up-custom-1' },
      ]);
      const customer = await repository.getCustomer('cus_1');
      expect(customer).toMatchObject({ tier: 'enterprise', usagePlanId: 'up-ent' });
      expect(customer?.customPlan).toBeUndefined();
    });
  });

  describe('plans list', () => {
    it('lists the tier plans and custom plans of this deployment only, following pages', async () => {
      gateway
        .on(GetUsagePlansCommand)
        .resolvesOnce({
          items: [
            {
              id: 'up-free',
              name: 'tierline-dev-free',
              throttle: { rateLimit: 2, burstLimit: 10 },
            },
            { id: 'up-other', name: 'someone-else' },
          ],
          position: 'page2',
        })
        .resolvesOnce({
          items: [
            { id: 'up-c', name: 'tierline-dev-custom-cus_9', quota: { limit: 5, period: 'DAY' } },
          ],
        });

      const plans = await operator.listPlans();

      expect(plans).toEqual([
        {
          id: 'up-free',
          name: 'tierline-dev-free',
          kind: 'free',
          throttle: { rateLimit: 2, burstLimit: 10 },
          quota: undefined,
        },
        {
          id: 'up-c',
          name: 'tierline-dev-custom-cus_9',
          kind: 'custom',
          customerId: 'cus_9',
          throttle: undefined,
          quota: { limit: 5, period: 'DAY' },
        },
      ]);
      expect(gateway.commandCalls(GetUsagePlansCommand).map((c) => c.args[0].input)).toEqual([
        { position: undefined, limit: 500 },
        { position: 'page2', limit: 500 },
      ]);
    });
  });
});

describe('customers spend-limit (customers in dynalite)', () => {
  let dynamo: LocalDynamo;
  let repository: CustomersRepository;
  let operator: Operator;
  let spend: SpendTracker;

  beforeAll(async () => {
    dynamo = await startDynalite();
    ({ repository } = await newCustomersTable(dynamo));
    const metering = await newMeteringTable(dynamo);
    spend = new SpendTracker(metering.doc, metering.tableName, { publish: async () => undefined });
    const apiGateway = new APIGatewayClient({ region: 'eu-west-1' });
    const gateway = mockClient(apiGateway);
    gateway.on(CreateApiKeyCommand).callsFake((input) => ({ id: 'gwkey', value: input.value }));
    gateway.on(CreateUsagePlanKeyCommand).resolves({});
    operator = new Operator({ customers: repository, spend, apiGateway, settings, config });
  });
  afterAll(() => dynamo.stop());

  it('sets the limit on the month item (enforced at once), the customer and its key, and removes it', async () => {
    const { apiKey, customer } = await operator.createCustomer({
      name: 'Dev',
      email: 'dev@x.test',
      tier: 'developer',
    });
    // The limit set and read on one month's item (a month ends on a minute's end).
    await clearOfMinuteBoundary(10_000);

    const limited = await operator.setSpendLimit(customer.customerId, 25.5);
    const principal = await authenticate(`Bearer ${apiKey}`, (hash) => repository.getKey(hash));
    const monthWithLimit = await spend.getMonth(customer.customerId);
    const removed = await operator.setSpendLimit(customer.customerId, null);

    expect(monthWithLimit.limitMicroUsd).toBe(25_500_000);
    expect((await spend.getMonth(customer.customerId)).limitMicroUsd).toBeUndefined();

    expect(limited.spendLimitUsd).toBe(25.5);
    expect(principal.spendLimitMicroUsd).toBe(25_500_000);
    expect(removed.spendLimitUsd).toBeUndefined();
    expect(
      await authenticate(`Bearer ${apiKey}`, (hash) => repository.getKey(hash)),
    ).not.toHaveProperty('spendLimitMicroUsd');
  });

  // Lowering the limit while requests are in flight billed 138% (API) / 480% (CLI) of the new
  // limit. They are not cut (docs/decisions.md, "Spend limits"): the CLI says so, with the figures.
  it('warns that requests in flight are not cut, and how far the month may go past a lowered limit', async () => {
    const { customer } = await operator.createCustomer({
      name: 'Busy',
      email: 'busy@x.test',
      tier: 'developer',
    });
    // The spend, the holds and the CLI's reading of them in one UTC month (it ends on a minute's
    // end).
    await clearOfMinuteBoundary(15_000);
    await operator.setSpendLimit(customer.customerId, 10);
    // $1 spent, and 80 streams in flight holding $4 in all.
    const spentOne = await spend.reserve(customer.customerId, undefined, 1_000_000);
    if (!spentOne.admitted) throw new Error('not admitted');
    await spend.settle(spentOne.reservation, 1_000_000);
    for (let i = 0; i < 80; i++) await spend.reserve(customer.customerId, undefined, 50_000);
    let out = '';
    const cli = (...argv: string[]) =>
      runCli(argv, { out: (t) => (out += t), err: () => undefined, connect: async () => operator });

    expect(await cli('customers', 'spend-limit', customer.customerId, '2')).toBe(0);
    expect(out).toContain('Spend limit of');
    expect(out).toContain('requests in flight hold up to $4.000000; they are not cut');
    expect(out).toContain('this month may reach $5.000000, above the new limit of $2.000000');

    out = '';
    expect(await cli('--json', 'customers', 'spend-limit', customer.customerId, '20')).toBe(0);
    const view = JSON.parse(out) as { warnings?: string[] };
    expect(view.warnings).toHaveLength(1);
  });

  it('refuses a spend limit on the free tier, and a negative one', async () => {
    const { customer } = await operator.createCustomer({
      name: 'Free',
      email: 'free@x.test',
      tier: 'free',
    });
    const { customer: dev } = await operator.createCustomer({
      name: 'Dev2',
      email: 'dev2@x.test',
      tier: 'developer',
    });

    await expect(operator.setSpendLimit(customer.customerId, 10)).rejects.toThrow(
      /not available on the free tier/,
    );
    await expect(operator.setSpendLimit(dev.customerId, -1)).rejects.toMatchObject({ exitCode: 2 });
  });
});
