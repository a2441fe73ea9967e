import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { BatchService } from '../../../lambda/batches/batch-service';
import { BatchesRepository } from '../../../lambda/batches/batches-repository';
import type { Principal } from '../../../lambda/customers/authenticate';
import {
  type CustomersRepository,
  createDocumentClient,
} from '../../../lambda/customers/customers-repository';
import { createFiles } from '../../../lambda/files/create-files';
import { createApiApp } from '../../../lambda/http/app';
import { TestModelBackend } from '../../../lambda/inference/backends/test-model-backend';
import { ResponsesRepository } from '../../../lambda/responses/responses-repository';
import { loadConfig } from '../../../lib/config/load';
import { newCustomersTable } from '../../support/dynalite';
import { type FileStores, startFileStores } from '../../support/file-stores';
import { meteringOn } from '../../support/metering';

/**
 * API Gateway keeps the authorizer's answer for its cache TTL, so a deleted customer's key still
 * reaches the API. Routes that create data read the customer and refuse one that is not active; the
 * principal here stands for that cached answer.
 */
const config = loadConfig({ env: 'dev' });
const principal: Principal = {
  kind: 'project_key',
  projectId: 'proj_test',
  permissions: 'all',
  customerId: 'cus_gone',
  tier: 'developer',
  usageIdentifierKey: 'k',
};
const line = (id: string) =>
  JSON.stringify({
    custom_id: id,
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: 'qwen3-8b', messages: [{ role: 'user', content: 'hi' }] },
  });

describe('a customer that is no longer active, behind a cached authorizer answer', () => {
  let stores: FileStores;
  let repository: CustomersRepository;
  let app: ReturnType<typeof createApiApp>;
  let files: ReturnType<typeof createFiles>;
  let doc: ReturnType<typeof createDocumentClient>;
  let meteringTable: string;

  beforeAll(async () => {
    stores = await startFileStores();
    ({ repository } = await newCustomersTable(stores.dynamo));
    doc = createDocumentClient(stores.dynamo.client);
    files = createFiles({
      doc,
      tableName: 'files',
      s3: stores.s3,
      bucket: 'files',
      config: config.files,
    });
    const batches = new BatchService({
      config,
      batches: new BatchesRepository(doc, 'files'),
      files: files.files,
      queue: { send: async () => undefined },
    });
    const metering = await meteringOn(stores.dynamo, config);
    meteringTable = metering.tableName;
    app = createApiApp({
      config,
      // Every request reads the customer here; how long one process keeps "active" is
      // test/lambda/customers/active-customers.test.ts's.
      activeCustomerCacheMs: 0,
      principalOf: async () => principal,
      customers: repository,
      backend: new TestModelBackend(),
      ...metering,
      files,
      batches,
      responses: new ResponsesRepository(doc, 'files'),
    });
  });
  afterAll(() => stores.stop());

  const setStatus = (status: 'active' | 'deleting' | 'deleted' | 'revoked') =>
    repository.putCustomer({
      customerId: principal.customerId,
      name: 'Gone',
      email: 'gone@example.test',
      tier: 'developer',
      status,
      createdAt: new Date().toISOString(),
    } as Parameters<CustomersRepository['putCustomer']>[0]);
  const upload = (content: string) => {
    const form = new FormData();
    form.set('purpose', 'batch');
    form.set('file', new Blob([content]), 'in.jsonl');
    return app.request('/v1/files', { method: 'POST', body: form });
  };
  const json = (path: string, body: unknown) =>
    app.request(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it.each(['deleting', 'deleted', 'revoked'] as const)(
    'refuses files, uploads and batches of a %s customer with 401 and leaves nothing',
    async (status) => {
      await setStatus('active');
      const input = await upload(`${line('a')}\n`);
      expect(input.status).toBe(200);
      const fileId = ((await input.json()) as { id: string }).id;
      await setStatus(status);

      const refused = [
        await upload(`${line('b')}\n`),
        await json('/v1/uploads', {
          filename: 'x.jsonl',
          purpose: 'batch',
          bytes: 10,
          mime_type: 'text/jsonl',
        }),
        await json('/openai/v1/batches', {
          input_file_id: fileId,
          endpoint: '/v1/chat/completions',
          completion_window: '24h',
        }),
      ];
      for (const response of refused) {
        expect(response.status).toBe(401);
        expect(await response.json()).toMatchObject({ error: { code: 'invalid_api_key' } });
      }
      // Only the file made while active is there.
      const listed = await files.files.list(principal, { limit: 100, order: 'desc' });
      expect(listed.files.map((f) => f.fileId)).toEqual([fileId]);
      await files.files.delete(principal, fileId);
    },
  );

  const scan = async (TableName: string) =>
    (await doc.send(new ScanCommand({ TableName, ConsistentRead: true }))).Items ?? [];
  const storedResponses = async () =>
    (await scan('files')).filter((item) => String(item.sk ?? item.SK).startsWith('RESP#'));

  it.each(['deleting', 'deleted', 'revoked'] as const)(
    'refuses a Responses request of a %s customer with 401: nothing stored, no reservation kept',
    async (status) => {
      // The check runs beside the admission (app.ts): the 401 still comes first and the hold made
      // meanwhile is given back.
      await setStatus('active');
      const served = await json('/v1/responses', { model: 'qwen3-8b', input: 'hi' });
      expect(served.status).toBe(200);
      const storedBefore = await storedResponses();
      expect(storedBefore.length).toBeGreaterThan(0);
      const meteringBefore = await scan(meteringTable);
      await setStatus(status);

      const refused = [
        await json('/v1/responses', { model: 'qwen3-8b', input: 'hi' }),
        await json('/openai/v1/responses', { model: 'qwen3-8b', input: 'hi', stream: true }),
        // Another refusal would have answered these; being inactive is told first, as before.
        await json('/v1/responses', { model: 'qwen3-8b', input: 'hi', temperature: 9 }),
        await json('/v1/responses', { model: 'no-such-model', input: 'hi' }),
        await json('/v1/responses', { model: 'qwen3-8b', input: 'hi', max_output_tokens: 1e9 }),
      ];
      for (const response of refused) {
        expect(response.status).toBe(401);
        expect(response.headers.get('x-ratelimit-limit-requests')).toBeNull();
        expect(await response.json()).toMatchObject({ error: { code: 'invalid_api_key' } });
      }
      expect(await storedResponses()).toEqual(storedBefore);
      // A hold given back leaves the counters as they were; only their revision (`rv`) moved.
      const counters = (items: Record<string, unknown>[]) =>
        items.map(({ rv: _revision, ...counts }) => counts);
      expect(counters(await scan(meteringTable))).toEqual(counters(meteringBefore));
      await setStatus('active');
    },
  );

  it('keeps "active" for half the authorizer TTL on Responses only: a file is refused at once', async () => {
    // The deployed default: dev's 60 s authorizer cache, so "active" is kept for 30 s.
    const kept = createApiApp({
      config,
      principalOf: async () => principal,
      customers: repository,
      backend: new TestModelBackend(),
      ...(await meteringOn(stores.dynamo, config)),
      files,
      responses: new ResponsesRepository(doc, 'files'),
    });
    const respond = () =>
      kept.request('/v1/responses', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'qwen3-8b', input: 'hi' }),
      });
    await setStatus('active');
    expect((await respond()).status).toBe(200);
    await setStatus('revoked');
    // Within the kept time a response is still stored, as the authorizer still lets the key run
    // chat; customers delete's second sweep, a whole TTL later, removes it.
    expect((await respond()).status).toBe(200);
    // Files, uploads, batches, jobs and keys read the customer every time.
    const form = new FormData();
    form.set('purpose', 'batch');
    form.set('file', new Blob([`${line('late')}\n`]), 'in.jsonl');
    const file = await kept.request('/v1/files', { method: 'POST', body: form });
    expect(file.status).toBe(401);
    expect(await file.json()).toMatchObject({ error: { code: 'invalid_api_key' } });
    await setStatus('active');
  });

  it('still serves reads to it (they create nothing)', async () => {
    await setStatus('deleted');
    expect((await app.request('/v1/files')).status).toBe(200);
  });
});
