import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { BatchMessage } from '../../../lambda/batches/batch-queue';
import { BatchService } from '../../../lambda/batches/batch-service';
import { BatchWorker, lineRequestId } from '../../../lambda/batches/batch-worker';
import { BatchesRepository } from '../../../lambda/batches/batches-repository';
import type { Principal } from '../../../lambda/customers/authenticate';
import { createDocumentClient } from '../../../lambda/customers/customers-repository';
import { createFiles } from '../../../lambda/files/create-files';
import type { createS3Client } from '../../../lambda/files/file-storage';
import { TestModelBackend } from '../../../lambda/inference/backends/test-model-backend';
import type { LedgerRecord } from '../../../lambda/metering/ledger';
import { loadConfig } from '../../../lib/config/load';
import type { LocalDynamo } from '../../support/dynalite';
import { chatBatchLine, type FileStores, startFileStores } from '../../support/file-stores';
import { meteringOn } from '../../support/metering';

/**
 * The batch worker against dynalite and s3rver, delivering its messages by hand: twice,
 * concurrently, after a crash, after a cancel, past the completion window, and up against a spend
 * limit.
 */
const config = loadConfig({ env: 'dev' });
const MODEL = 'qwen3-8b';

const requestLine = (customId: string) => chatBatchLine(customId, MODEL, 16);

describe('batch worker (dynalite, s3rver)', () => {
  let dynamo: LocalDynamo;
  let stores: FileStores;
  let s3: ReturnType<typeof createS3Client>;
  let customerCounter = 0;
  let clock = new Date('2026-12-01T10:00:00Z');

  beforeAll(async () => {
    stores = await startFileStores();
    ({ dynamo, s3 } = stores);
  });
  afterAll(() => stores.stop());

  /** A customer with a batch of `lines` lines, validated; the run messages are returned, not delivered. */
  async function setUp(lines: number, options: { spendLimitMicroUsd?: number } = {}) {
    customerCounter += 1;
    const now = () => clock;
    const doc = createDocumentClient(dynamo.client);
    const metering = await meteringOn(dynamo, config, now);
    const written: LedgerRecord[] = [];
    const ledger = {
      write: async (record: LedgerRecord) => {
        const result = await metering.ledger.write(record);
        if (result === 'written') written.push(record);
        return result;
      },
    };
    const files = createFiles({
      doc,
      tableName: 'files',
      s3,
      bucket: 'files',
      config: config.files,
      now,
    });
    const batches = new BatchesRepository(doc, 'files');
    const sent: BatchMessage[] = [];
    const queue = { send: async (messages: BatchMessage[]) => void sent.push(...messages) };
    const worker = new BatchWorker({
      config,
      batches,
      files: files.files,
      storage: files.storage,
      backend: new TestModelBackend({ replyTokens: 5 }),
      ledger,
      spend: metering.spend,
      queue,
      now,
    });
    const service = new BatchService({ config, batches, files: files.files, queue, now });
    const principal: Principal = {
      kind: 'project_key',
      projectId: 'proj_test',
      customerId: `cus_batch${customerCounter}`,
      tier: 'developer',
      usageIdentifierKey: 'k',
      ...(options.spendLimitMicroUsd !== undefined
        ? { spendLimitMicroUsd: options.spendLimitMicroUsd }
        : {}),
    };
    const ids = Array.from({ length: lines }, (_, i) => `line-${i + 1}`);
    const input = await files.files.create(principal, {
      filename: 'in.jsonl',
      purpose: 'batch',
      content: Buffer.from(`${ids.map(requestLine).join('\n')}\n`),
    });
    const batch = await service.create(principal, {
      input_file_id: input.fileId,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const validate = sent.splice(0);
    for (const message of validate) await worker.handle(message);
    const runs = sent.splice(0).filter((m) => m.kind === 'run');
    const read = () => batches.getBatch(principal.customerId, batch.batchId);
    const contentOf = async (fileId: string | undefined) =>
      fileId
        ? Buffer.from(
            (await files.files.content(principal, fileId)) &&
              ((await files.files.content(principal, fileId)) as { body: Uint8Array }).body,
          )
            .toString('utf8')
            .trim()
            .split('\n')
            .map((l) => JSON.parse(l))
        : [];
    const month = () =>
      doc.send(
        new GetCommand({
          TableName: metering.tableName,
          Key: { pk: `SPEND#${principal.customerId}#2026-12`, sk: 'SPEND' },
        }),
      );
    return {
      worker,
      service,
      principal,
      batch,
      runs,
      sent,
      read,
      contentOf,
      written,
      ids,
      metering,
      month,
      doc,
    };
  }

  it('a redelivered message (also concurrently) repeats no output line and bills no line twice', async () => {
    const t = await setUp(45);
    expect(t.runs).toHaveLength(3); // 20 lines per chunk
    // Every message delivered twice at once, then once more.
    await Promise.all(t.runs.flatMap((m) => [t.worker.handle(m), t.worker.handle(m)]));
    for (const m of t.runs) await t.worker.handle(m);
    for (const m of t.sent.splice(0)) await t.worker.handle(m); // any finalize queued

    const batch = await t.read();
    expect(batch?.status).toBe('completed');
    expect(batch).toMatchObject({ total: 45, completed: 45, failed: 0 });
    const output = await t.contentOf(batch?.outputFileId);
    expect(output).toHaveLength(45);
    expect(new Set(output.map((o: { custom_id: string }) => o.custom_id))).toEqual(new Set(t.ids));
    expect(t.written).toHaveLength(45);
    expect(new Set(t.written.map((r) => r.requestId))).toEqual(
      new Set(t.ids.map((id) => lineRequestId(t.batch.batchId, id))),
    );
    expect(t.written.every((r) => r.batch === true && r.discountPercent === 50)).toBe(true);
  });

  it('a crash after a line was written and before the message was acknowledged neither repeats nor double-bills', async () => {
    const t = await setUp(10, { spendLimitMicroUsd: 1_000_000 });
    const [first] = t.runs;
    if (!first) throw new Error('no run message');
    // Crash: the spend settlement of the 4th line fails, after its output line and ledger record
    // were written.
    const repository = (t.worker as unknown as { options: { batches: BatchesRepository } }).options
      .batches;
    const markSettled = repository.markSettled.bind(repository);
    let calls = 0;
    jest.spyOn(repository, 'markSettled').mockImplementation(async (...args) => {
      calls += 1;
      if (calls === 4) throw new Error('process died here');
      return markSettled(...args);
    });
    await expect(t.worker.handle(first)).rejects.toThrow('process died here');
    jest.restoreAllMocks();
    await t.worker.handle(first); // SQS delivers it again
    for (const m of t.sent.splice(0)) await t.worker.handle(m);

    const batch = await t.read();
    expect(batch?.status).toBe('completed');
    expect(await t.contentOf(batch?.outputFileId)).toHaveLength(10);
    expect(t.written).toHaveLength(10);
    // Spend: every line's reservation released and its cost committed exactly once.
    const { Item } = await t.month();
    const billed = t.written.reduce((sum, r) => sum + r.costMicroUsd, 0);
    expect(Item).toMatchObject({
      reservedMicroUsd: 0,
      committedMicroUsd: billed,
      usedMicroUsd: billed,
    });
  });

  it('a cancelled batch stops new lines, keeps what finished, and lists the rest as cancelled', async () => {
    const t = await setUp(45, { spendLimitMicroUsd: 1_000_000 });
    const [first, ...rest] = t.runs;
    await t.worker.handle(first as BatchMessage);
    const cancelling = await t.service.cancel(t.principal, t.batch.batchId);
    expect(cancelling.status).toBe('cancelling');
    for (const m of t.sent.splice(0)) await t.worker.handle(m); // finalize
    for (const m of rest) await t.worker.handle(m); // late deliveries change nothing

    const batch = await t.read();
    expect(batch?.status).toBe('cancelled');
    expect(batch?.times.cancelling).toEqual(expect.any(Number));
    expect(batch?.times.cancelled).toEqual(expect.any(Number));
    expect(await t.contentOf(batch?.outputFileId)).toHaveLength(20);
    const errors = await t.contentOf(batch?.errorFileId);
    expect(errors).toHaveLength(25);
    expect(
      errors.every((e: { error: { code: string } }) => e.error.code === 'batch_cancelled'),
    ).toBe(true);
    expect(t.written).toHaveLength(20);
    const { Item } = await t.month();
    expect(Item?.reservedMicroUsd).toBe(0); // what the cancelled lines held is given back
  });

  it('an expired batch keeps partial results and writes each unfinished line with batch_expired', async () => {
    const t = await setUp(30);
    const [first, second] = t.runs;
    await t.worker.handle(first as BatchMessage);
    clock = new Date(clock.getTime() + 25 * 3600 * 1000); // past the 24h window
    await t.worker.handle(second as BatchMessage);
    for (const m of t.sent.splice(0)) await t.worker.handle(m);

    const batch = await t.read();
    expect(batch?.status).toBe('expired');
    expect(batch?.times.expired).toEqual(expect.any(Number));
    expect(await t.contentOf(batch?.outputFileId)).toHaveLength(20);
    const errors = await t.contentOf(batch?.errorFileId);
    expect(errors).toHaveLength(10);
    expect(errors.every((e: { error: { code: string } }) => e.error.code === 'batch_expired')).toBe(
      true,
    );
    expect(t.written).toHaveLength(20);
  });

  it('reserves the whole batch before any line runs: a batch that could pass the spend limit fails at once', async () => {
    const t = await setUp(10, { spendLimitMicroUsd: 5 }); // 10 lines may cost about 10 µ$
    const batch = await t.read();
    expect(batch?.status).toBe('failed');
    expect(batch?.errors?.[0]).toMatchObject({ code: 'spend_limit_exceeded' });
    expect(batch?.errors?.[0]?.message).toContain('spend limit');
    expect(t.runs).toHaveLength(0);
    expect(t.written).toHaveLength(0);
  });

  it('holds the batch maximum while it runs, so online spend cannot take what the batch may need', async () => {
    const t = await setUp(10, { spendLimitMicroUsd: 1_000_000 });
    const { Item } = await t.month();
    expect(Item?.reservedMicroUsd).toBeGreaterThan(0);
    const online = await t.metering.spend.reserve(
      t.principal.customerId,
      1_000_000,
      1_000_000 - Item?.reservedMicroUsd + 1,
    );
    expect(online.admitted).toBe(false);
  });
});
