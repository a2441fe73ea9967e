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
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { runCli } from '../../cli/main';
import { Operator } from '../../cli/operator';
import { BatchService } from '../../lambda/batches/batch-service';
import { BatchesRepository } from '../../lambda/batches/batches-repository';
import { FilesTableEraser } from '../../lambda/batches/customer-data';
import { authenticate } from '../../lambda/customers/authenticate';
import {
  type CustomersRepository,
  createDocumentClient,
} from '../../lambda/customers/customers-repository';
import { inDefaultProject } from '../../lambda/customers/project-ownership';
import { createFiles } from '../../lambda/files/create-files';
import type { createS3Client } from '../../lambda/files/file-storage';
import { FilesRepository } from '../../lambda/files/files-repository';
import { AuthenticationError } from '../../lambda/openai/errors';
import {
  ResponsesRepository,
  type StoredResponse,
} from '../../lambda/responses/responses-repository';
import { loadConfig } from '../../lib/config/load';
import type { OperatorSettings } from '../../lib/operator-settings';
import { type LocalDynamo, newCustomersTable } from '../support/dynalite';
import { type FileStores, startFileStores } from '../support/file-stores';

/**
 * `customers reactivate` and `customers delete`: customers in dynalite, files and batches in
 * dynalite and s3rver, API Gateway's management API mocked with every request asserted.
 */
const settings: OperatorSettings = {
  apiId: 'api123',
  stageName: 'dev',
  openAIBaseUrl: 'https://api123.execute-api.eu-west-1.amazonaws.com/dev/v1',
  customersTableName: 'unused',
  meteringTableName: 'unused',
  usagePlanIds: { free: 'up-free', developer: 'up-dev', enterprise: 'up-ent' },
};
const config = loadConfig({ env: 'dev' });
const line = (id: string) =>
  JSON.stringify({
    custom_id: id,
    method: 'POST',
    url: '/v1/chat/completions',
    body: {
      model: 'qwen3-8b',
      messages: [{ role: 'user', content: 'hi' }],
      max_completion_tokens: 8,
    },
  });

describe('customers reactivate / delete (dynalite, s3rver, API Gateway mocked)', () => {
  let dynamo: LocalDynamo;
  let stores: FileStores;
  let s3: ReturnType<typeof createS3Client>;
  let repository: CustomersRepository;
  let gateway: AwsClientStub<APIGatewayClient>;
  let operator: Operator;
  let files: ReturnType<typeof createFiles>;
  let batches: BatchesRepository;
  let ids = 0;
  const doc = () => createDocumentClient(dynamo.client);

  beforeAll(async () => {
    stores = await startFileStores();
    ({ dynamo, s3 } = stores);
  });
  afterAll(() => stores.stop());

  let waits: number[] = [];
  let duringWait: () => Promise<unknown> = async () => undefined;

  beforeEach(async () => {
    waits = [];
    duringWait = async () => undefined;
    ({ repository } = await newCustomersTable(dynamo));
    const apiGateway = new APIGatewayClient({ region: 'eu-west-1' });
    gateway = mockClient(apiGateway);
    let keys = 0;
    gateway.on(CreateApiKeyCommand).callsFake(() => {
      keys += 1;
      return { id: `gwkey-${keys}` };
    });
    gateway.on(CreateUsagePlanKeyCommand).resolves({});
    gateway.on(DeleteUsagePlanKeyCommand).resolves({});
    gateway.on(DeleteApiKeyCommand).resolves({});
    gateway.on(GetApiKeysCommand).resolves({ items: [] });
    gateway.on(GetUsagePlansCommand).resolves({ items: [] });
    files = createFiles({
      doc: doc(),
      tableName: 'files',
      s3,
      bucket: 'files',
      config: config.files,
    });
    batches = new BatchesRepository(doc(), 'files');
    operator = new Operator({
      customers: repository,
      apiGateway,
      customerData: new FilesTableEraser(doc(), 'files', files.storage, batches),
      settings,
      config,
      newCustomerId: () => {
        ids += 1;
        return `cus_life${ids}`;
      },
      // `delete` waits out the authorizer cache before its second sweep: here whatever runs in that
      // wait.
      sleep: async (ms) => {
        waits.push(ms);
        await duringWait();
      },
    });
  });
  afterEach(() => gateway.restore());

  const lookup = (hash: string) => repository.getKey(hash);
  const requests = () => gateway.calls().map((c) => [c.args[0].constructor.name, c.args[0].input]);
  async function cli(...argv: string[]) {
    let out = '';
    let err = '';
    const code = await runCli(argv, {
      out: (t) => (out += t),
      err: (t) => (err += t),
      connect: async () => operator,
    });
    return { code, out, err };
  }

  it('reactivate gives a revoked customer a new key on its tier plan; the old key stays dead', async () => {
    const created = await operator.createCustomer({
      name: 'A',
      email: 'a@life.test',
      tier: 'developer',
    });
    const id = created.customer.customerId;
    await operator.revoke(id);
    gateway.resetHistory();

    const { code, out } = await cli('--json', 'customers', 'reactivate', id);

    expect(code).toBe(0);
    const result = JSON.parse(out);
    expect(result.customer).toMatchObject({
      customerId: id,
      status: 'active',
      apiGatewayKeyId: 'gwkey-2',
    });
    expect(result.customer).not.toHaveProperty('keyHash');
    expect(requests()).toEqual([
      [
        'CreateApiKeyCommand',
        {
          name: `tierline-dev-${id}`,
          description: expect.stringContaining(id),
          value: expect.stringMatching(/^[0-9A-Za-z]{40}$/),
          enabled: true,
          tags: { project: 'tierline', environment: 'dev', customerId: id },
        },
      ],
      [
        'CreateUsagePlanKeyCommand',
        { usagePlanId: 'up-dev', keyId: 'gwkey-2', keyType: 'API_KEY' },
      ],
    ]);
    expect((await authenticate(`Bearer ${result.api_key}`, lookup)).customerId).toBe(id);
    await expect(authenticate(`Bearer ${created.apiKey}`, lookup)).rejects.toBeInstanceOf(
      AuthenticationError,
    );
  });

  it('reactivate refuses an active customer (wrong_state, exit 4) and an unknown one (not_found, exit 3)', async () => {
    const { customer } = await operator.createCustomer({
      name: 'A',
      email: 'a@life.test',
      tier: 'free',
    });

    const active = await cli('--json', 'customers', 'reactivate', customer.customerId);
    const unknown = await cli('customers', 'reactivate', 'cus_nobody');

    expect(active.code).toBe(4);
    expect(JSON.parse(active.err)).toEqual({
      error: {
        message: `Customer ${customer.customerId} is already active.`,
        code: 'wrong_state',
        exit_code: 4,
      },
    });
    expect(unknown).toMatchObject({ code: 3, err: 'No customer with id cus_nobody.\n' });
  });

  it('a reactivation that fails half way leaves the customer revoked, and the next run finishes it', async () => {
    const { customer } = await operator.createCustomer({
      name: 'A',
      email: 'a@life.test',
      tier: 'developer',
    });
    await operator.revoke(customer.customerId);
    gateway
      .on(CreateUsagePlanKeyCommand)
      .rejectsOnce(Object.assign(new Error('slow down'), { name: 'TooManyRequestsException' }));
    gateway.resetHistory();

    await expect(operator.reactivate(customer.customerId)).rejects.toThrow('slow down');

    expect(gateway.commandCalls(DeleteApiKeyCommand).map((c) => c.args[0].input)).toEqual([
      { apiKey: 'gwkey-2' },
    ]);
    const after = await repository.getCustomer(customer.customerId);
    expect(after).toMatchObject({ status: 'revoked' });
    expect(after?.pendingKeyHash).toBeUndefined();
    const again = await operator.reactivate(customer.customerId);
    expect(again.customer).toMatchObject({
      status: 'active',
      apiGatewayKeyId: 'gwkey-3',
      usagePlanId: 'up-dev',
    });
  });

  it('delete needs --yes, then revokes every key, unlinks and deletes the API Gateway key, erases files, batches and stored responses, and frees the e-mail', async () => {
    const created = await operator.createCustomer({
      name: 'Acme',
      email: 'ops@life.test',
      tier: 'developer',
    });
    const id = created.customer.customerId;
    // A named project's objects: the operator's delete erases every project's.
    const project = { customerId: id, projectId: 'proj_test' };
    const input = await files.files.create(project, {
      filename: 'in.jsonl',
      purpose: 'batch',
      content: Buffer.from(`${line('a')}\n${line('b')}\n`),
    });
    await files.uploads.create(project, {
      filename: 'big.jsonl',
      purpose: 'batch',
      bytes: 10,
      mimeType: 'text/jsonl',
    });
    const service = new BatchService({
      config,
      batches,
      files: files.files,
      queue: { send: async () => undefined },
    });
    const batch = await service.create(
      {
        kind: 'project_key',
        projectId: 'proj_test',
        customerId: id,
        tier: 'developer',
        usageIdentifierKey: 'k',
      },
      { input_file_id: input.fileId, endpoint: '/v1/chat/completions', completion_window: '24h' },
    );
    // A stored response whose dropped input counts against the storage quota: the counter, the
    // counted item and the response go with the partition.
    const responses = new ResponsesRepository(doc(), 'files');
    await responses.countStoredInput(
      project,
      'resp_0a',
      500,
      config.tiers.developer.storageQuotaBytes,
    );
    const response = { id: 'resp_0a', created_at: 0 } as StoredResponse['response'];
    await responses.put(project, { response, inputItems: [], conversation: [] }, { counted: true });
    expect(await new FilesRepository(doc(), 'files').storedBytes(id)).toBe(input.bytes + 500);
    gateway.resetHistory();

    const unconfirmed = await cli('customers', 'delete', id);
    expect(unconfirmed.code).toBe(2);
    expect(unconfirmed.err).toContain('Add --yes to confirm.');
    expect(gateway.calls()).toHaveLength(0);

    const { code, out } = await cli('--json', 'customers', 'delete', id, '--yes');

    expect(code).toBe(0);
    expect(JSON.parse(out)).toMatchObject({
      deleted: true,
      customer: {
        customerId: id,
        status: 'deleted',
        email: 'ops@life.test',
        deletedAt: expect.any(String),
      },
      erased: { files: 1, uploads: 1, batches: 1, objects: 1 },
    });
    expect(requests()).toEqual([
      ['DeleteUsagePlanKeyCommand', { usagePlanId: 'up-dev', keyId: 'gwkey-1' }],
      ['DeleteApiKeyCommand', { apiKey: 'gwkey-1' }],
    ]);
    await expect(authenticate(`Bearer ${created.apiKey}`, lookup)).rejects.toBeInstanceOf(
      AuthenticationError,
    );
    const { Items } = await doc().send(
      new QueryCommand({
        TableName: 'files',
        KeyConditionExpression: 'pk = :p',
        ExpressionAttributeValues: { ':p': `CUS#${id}` },
      }),
    );
    expect(Items).toEqual([]);
    expect(await files.storage.get(input.objectKey)).toBeUndefined();
    expect(await batches.openSlots(id)).toEqual([]);
    expect(await batches.dueForSweep(batch.expiresAt + 1, 100)).not.toContainEqual(
      expect.objectContaining({ batchId: batch.batchId }),
    );

    // The e-mail is free: a new customer gets it under a new id.
    const next = await operator.createCustomer({
      name: 'Acme again',
      email: 'ops@life.test',
      tier: 'free',
    });
    expect(next).toMatchObject({ created: true, customer: { status: 'active' } });
    expect(next.customer.customerId).not.toBe(id);
  });

  it('delete sweeps again after the authorizer cache TTL: a file a cached key made after the first sweep goes too', async () => {
    const created = await operator.createCustomer({
      name: 'Late',
      email: 'late@life.test',
      tier: 'developer',
    });
    const id = created.customer.customerId;
    let late: { objectKey: string } | undefined;
    // A create that read the customer as active just before `deleting`, writing after the first
    // sweep.
    duringWait = async () => {
      late = await files.files.create(inDefaultProject(id), {
        filename: 'late.jsonl',
        purpose: 'batch',
        content: Buffer.from(`${line('z')}\n`),
      });
    };

    const result = await operator.deleteCustomer(id, { confirmed: true });

    expect(waits).toEqual([config.environment.authorizerCacheTtlSeconds * 1000]);
    expect(result.erased).toMatchObject({ files: 1, objects: 1 });
    const { Items } = await doc().send(
      new QueryCommand({
        TableName: 'files',
        KeyConditionExpression: 'pk = :p',
        ExpressionAttributeValues: { ':p': `CUS#${id}` },
      }),
    );
    expect(Items).toEqual([]);
    expect(await files.storage.get((late as { objectKey: string }).objectKey)).toBeUndefined();
  });

  it('delete is idempotent, keeps the new owner of the e-mail, and answers not_found for an unknown id', async () => {
    const { customer } = await operator.createCustomer({
      name: 'A',
      email: 'a@life.test',
      tier: 'free',
    });
    await operator.deleteCustomer(customer.customerId, { confirmed: true });
    const newcomer = await operator.createCustomer({
      name: 'B',
      email: 'a@life.test',
      tier: 'free',
    });
    gateway
      .on(DeleteApiKeyCommand)
      .rejects(Object.assign(new Error('gone'), { name: 'NotFoundException' }));

    const again = await cli('customers', 'delete', customer.customerId, '--yes');
    const unknown = await cli('--json', 'customers', 'delete', 'cus_nobody', '--yes');

    expect(again.code).toBe(0);
    expect(again.out).toContain('was already deleted');
    expect((await repository.getCustomer(customer.customerId))?.status).toBe('deleted');
    // The second run did not take the address back from its new owner.
    expect(await repository.claimEmail('a@life.test', 'cus_probe')).toBe(
      newcomer.customer.customerId,
    );
    expect(unknown.code).toBe(3);
    expect(JSON.parse(unknown.err).error.code).toBe('not_found');
    // A deleted customer cannot be reactivated, revoked or changed.
    expect((await cli('customers', 'reactivate', customer.customerId)).code).toBe(4);
    expect((await cli('customers', 'revoke', customer.customerId)).code).toBe(4);
    expect((await cli('customers', 'set-tier', customer.customerId, 'developer')).code).toBe(4);
  });

  it('delete of an Enterprise customer removes its custom usage plan from the stage, then the plan', async () => {
    const { customer } = await operator.createCustomer({
      name: 'E',
      email: 'e@life.test',
      tier: 'enterprise',
    });
    gateway.on(CreateUsagePlanCommand).resolves({ id: 'up-custom-9' });
    await operator.createCustomPlan(customer.customerId, {
      rateLimit: 50,
      burstLimit: 100,
      models: {},
    });
    gateway.on(UpdateUsagePlanCommand).resolves({});
    gateway.on(DeleteUsagePlanCommand).resolves({});
    gateway.resetHistory();

    await operator.deleteCustomer(customer.customerId, { confirmed: true });

    expect(requests()).toEqual([
      ['DeleteUsagePlanKeyCommand', { usagePlanId: 'up-custom-9', keyId: 'gwkey-1' }],
      ['DeleteApiKeyCommand', { apiKey: 'gwkey-1' }],
      [
        'UpdateUsagePlanCommand',
        {
          usagePlanId: 'up-custom-9',
          patchOperations: [{ op: 'remove', path: '/apiStages', value: 'api123:dev' }],
        },
      ],
      ['DeleteUsagePlanCommand', { usagePlanId: 'up-custom-9' }],
    ]);
  });
});
