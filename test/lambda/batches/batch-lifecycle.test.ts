import { parseBatchLine } from '../../../lambda/batches/batch-lines';
import type { BatchMessage } from '../../../lambda/batches/batch-queue';
import { BatchService } from '../../../lambda/batches/batch-service';
import { BatchWorker, lineRequestId } from '../../../lambda/batches/batch-worker';
import { BatchesRepository } from '../../../lambda/batches/batches-repository';
import type { Principal } from '../../../lambda/customers/authenticate';
import { createDocumentClient } from '../../../lambda/customers/customers-repository';
import { createFiles } from '../../../lambda/files/create-files';
import type { createS3Client } from '../../../lambda/files/file-storage';
import type { ModelBackend } from '../../../lambda/inference/backends/model-backend';
import { TestModelBackend } from '../../../lambda/inference/backends/test-model-backend';
import type { LedgerRecord } from '../../../lambda/metering/ledger';
import { BadRequestError } from '../../../lambda/openai/errors';
import { loadConfig } from '../../../lib/config/load';
import type { TierlineConfig } from '../../../lib/config/schema';
import type { LocalDynamo } from '../../support/dynalite';
import { chatBatchLine, type FileStores, startFileStores } from '../../support/file-stores';
import { meteringOn } from '../../support/metering';

/**
 * Open-batch slots under concurrent creates, the expiry sweep of stuck batches (with an injected
 * clock), and a line still running when its batch is cancelled: against dynalite and s3rver.
 */
const base = loadConfig({ env: 'dev' });
const MODEL = 'qwen3-8b';
const requestLine = (customId: string) => chatBatchLine(customId, MODEL, 16);

/** The dev config with the developer tier's batch settings changed. */
function withBatch(batch: Partial<TierlineConfig['tiers']['developer']['batch']>): TierlineConfig {
  const developer = base.tiers.developer;
  return {
    ...base,
    tiers: { ...base.tiers, developer: { ...developer, batch: { ...developer.batch, ...batch } } },
  };
}
const withOpenBatches = (max: number) => withBatch({ maxOpenBatches: max });
/** What one line of {@link requestLine} holds of its model's enqueued-token allowance. */
function lineTokens(): number {
  const parsed = parseBatchLine(requestLine('line-1'), 1, base, 'developer');
  if (parsed.kind !== 'run') throw new Error('the test line does not run');
  return parsed.line.promptTokens + parsed.line.maxTokens;
}

describe('batch lifecycle (dynalite, s3rver)', () => {
  let dynamo: LocalDynamo;
  let stores: FileStores;
  let s3: ReturnType<typeof createS3Client>;
  let customers = 0;

  beforeAll(async () => {
    stores = await startFileStores();
    ({ dynamo, s3 } = stores);
  });
  afterAll(() => stores.stop());

  async function setUp(
    options: { config?: TierlineConfig; backend?: ModelBackend; lines?: number } = {},
  ) {
    customers += 1;
    const config = options.config ?? base;
    let clock = new Date('2026-12-01T10:00:00Z');
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
    let queueFails = false;
    const queue = {
      send: async (messages: BatchMessage[]) => {
        if (queueFails) {
          queueFails = false;
          throw new Error('sqs unavailable');
        }
        sent.push(...messages);
      },
    };
    const worker = new BatchWorker({
      config,
      batches,
      files: files.files,
      storage: files.storage,
      backend: options.backend ?? new TestModelBackend({ replyTokens: 5 }),
      ledger,
      spend: metering.spend,
      queue,
      now,
    });
    const service = new BatchService({ config, batches, files: files.files, queue, now });
    const principal: Principal = {
      kind: 'project_key',
      projectId: 'proj_test',
      customerId: `cus_life${customers}`,
      tier: 'developer',
      usageIdentifierKey: 'k',
      spendLimitMicroUsd: 1_000_000,
    };
    const ids = Array.from({ length: options.lines ?? 30 }, (_, i) => `line-${i + 1}`);
    const input = await files.files.create(principal, {
      filename: 'in.jsonl',
      purpose: 'batch',
      content: Buffer.from(`${ids.map(requestLine).join('\n')}\n`),
    });
    const create = () =>
      service.create(principal, {
        input_file_id: input.fileId,
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
      });
    const contentOf = async (fileId: string | undefined) => {
      if (!fileId) return [];
      const content = (await files.files.content(principal, fileId)) as {
        body: Uint8Array;
      };
      return Buffer.from(content.body)
        .toString('utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
    };
    const spendItem = () => metering.spend.getMonthOf(principal.customerId, '2026-12');
    return {
      worker,
      service,
      batches,
      principal,
      create,
      sent,
      written,
      contentOf,
      spendItem,
      metering,
      ids,
      failQueueOnce: () => {
        queueFails = true;
      },
      advance: (ms: number) => {
        clock = new Date(clock.getTime() + ms);
      },
    };
  }

  describe('after a restart that lost the queue (local mode keeps it in memory)', () => {
    it('resume sends every open batch its work again: each ends, billed once per line, holding nothing', async () => {
      const t = await setUp({ lines: 30 });
      const running = await t.create();
      await t.worker.handle(t.sent.shift() as BatchMessage); // validate: in_progress, two run messages
      const [first] = t.sent.splice(0);
      await t.worker.handle(first as BatchMessage); // 20 lines ran; the second message dies with the process
      const waiting = await t.create(); // its validate message dies too
      const cancelled = await t.create();
      await t.worker.handle(
        t.sent
          .splice(0)
          .find((m) => m.kind === 'validate' && m.batchId === cancelled.batchId) as BatchMessage,
      );
      await t.service.cancel(t.principal, cancelled.batchId); // and its finalize message
      t.sent.splice(0);
      expect((await t.service.get(t.principal, running.batchId)).status).toBe('in_progress');

      expect(await t.worker.resume()).toBeGreaterThanOrEqual(3);
      // The sweep partition is shared with this file's other tests: run only this customer's
      // messages.
      const mine = () =>
        t.sent
          .splice(0)
          .filter((m) => m.kind !== 'sweep' && m.customerId === t.principal.customerId);
      for (let round = mine(); round.length > 0; round = mine())
        for (const m of round) await t.worker.handle(m);

      expect(await t.service.get(t.principal, running.batchId)).toMatchObject({
        status: 'completed',
        total: 30,
        completed: 30,
        failed: 0,
      });
      expect((await t.service.get(t.principal, waiting.batchId)).status).toBe('completed');
      expect((await t.service.get(t.principal, cancelled.batchId)).status).toBe('cancelled');
      // The 20 lines that ran before the restart were settled, not run or billed again.
      expect(t.written).toHaveLength(60);
      expect(new Set(t.written.map((r) => r.requestId)).size).toBe(60);
      const spend = await t.spendItem();
      expect(spend.reservedMicroUsd).toBe(0);
      expect(spend.spentMicroUsd).toBe(t.written.reduce((sum, r) => sum + r.costMicroUsd, 0));
      expect(await t.batches.openSlots(t.principal.customerId)).toEqual([]);
      expect(await t.batches.enqueuedTokens(t.principal.customerId, MODEL)).toBe(0);
    });
  });

  describe('cancelling a big batch', () => {
    it('writes its unrun lines in one pass: no per-line settlement, its run messages do nothing, nothing held', async () => {
      const t = await setUp({ lines: 400 });
      const batch = await t.create();
      await t.worker.handle(t.sent.shift() as BatchMessage); // validate: 20 run messages
      const runs = t.sent.splice(0);
      expect(runs).toHaveLength(20);
      await t.worker.handle(runs[0] as BatchMessage); // 20 lines ran and are billed

      await t.service.cancel(t.principal, batch.batchId);
      const settle = jest.spyOn(t.metering.spend, 'settle');
      const getLine = jest.spyOn(t.batches, 'getLine');
      for (const m of t.sent.splice(0)) await t.worker.handle(m); // finalize
      for (const m of runs.slice(1)) await t.worker.handle(m); // the run messages still queued

      // Neither a settlement nor a read per unrun line (the 20 billed lines were settled when they
      // ran): on dynalite 2.8 s instead of 8.9 s for these 380 lines.
      expect(settle).not.toHaveBeenCalled();
      expect(getLine).not.toHaveBeenCalled();
      settle.mockRestore();
      getLine.mockRestore();
      const ended = await t.service.get(t.principal, batch.batchId);
      expect(ended).toMatchObject({ status: 'cancelled', completed: 20, failed: 380 });
      const errors = await t.contentOf(ended.errorFileId);
      expect(errors).toHaveLength(380);
      expect(
        errors.every((e: { error: { code: string } }) => e.error.code === 'batch_cancelled'),
      ).toBe(true);
      expect(t.written).toHaveLength(20);
      const spend = await t.spendItem();
      expect(spend.reservedMicroUsd).toBe(0);
      expect(spend.spentMicroUsd).toBe(t.written.reduce((sum, r) => sum + r.costMicroUsd, 0));
      expect(await t.batches.enqueuedTokens(t.principal.customerId, MODEL)).toBe(0);
    });
  });

  describe('a line killed between its ledger record and its settlement', () => {
    it('cancel settles what it left: nothing stays reserved or enqueued, and the counts match the bill', async () => {
      const t = await setUp({ lines: 30 });
      const batch = await t.create();
      await t.worker.handle(t.sent.shift() as BatchMessage); // validate
      const [first] = t.sent.splice(0);
      // The process dies after a line's settle mark, before its spend settlement; and after another
      // line's result, before it is counted on the batch.
      const settle = jest
        .spyOn(t.metering.spend, 'settle')
        .mockRejectedValueOnce(new Error('SIGKILL'));
      const count = jest
        .spyOn(t.batches as unknown as { countLine: () => Promise<void> }, 'countLine')
        .mockImplementationOnce(async () => {
          throw new Error('SIGKILL');
        });
      await t.worker.handle(first as BatchMessage).catch(() => undefined);
      settle.mockRestore();
      count.mockRestore();
      await t.worker.handle(first as BatchMessage).catch(() => undefined); // redelivered

      await t.service.cancel(t.principal, batch.batchId);
      for (let m = t.sent.shift(); m; m = t.sent.shift()) await t.worker.handle(m);

      const ended = await t.service.get(t.principal, batch.batchId);
      expect(ended.status).toBe('cancelled');
      const spend = await t.spendItem();
      expect(spend.reservedMicroUsd).toBe(0);
      expect(spend.spentMicroUsd).toBe(t.written.reduce((sum, r) => sum + r.costMicroUsd, 0));
      expect(ended.completed).toBe(t.written.length);
      expect(ended.completed + ended.failed).toBe(30);
      expect(await t.batches.enqueuedTokens(t.principal.customerId, MODEL)).toBe(0);
    });

    it('a line killed before it was counted does not keep its batch in_progress: it completes, counts exact', async () => {
      const t = await setUp({ lines: 30 });
      const batch = await t.create();
      await t.worker.handle(t.sent.shift() as BatchMessage);
      const [first, second] = t.sent.splice(0);
      const count = jest
        .spyOn(t.batches as unknown as { countLine: () => Promise<void> }, 'countLine')
        .mockImplementationOnce(async () => {
          throw new Error('SIGKILL');
        });
      await t.worker.handle(first as BatchMessage).catch(() => undefined);
      count.mockRestore();
      await t.worker.handle(first as BatchMessage); // redelivered
      await t.worker.handle(second as BatchMessage);

      expect(await t.service.get(t.principal, batch.batchId)).toMatchObject({
        status: 'completed',
        completed: 30,
        failed: 0,
      });
    });

    it('a batch validated before the remainder existed is still settled line by line, once', async () => {
      const t = await setUp({ lines: 30 });
      const batch = await t.create();
      // Its record has no reservedMicroUsd / enqueuedTokens, as one validated by the previous
      // release.
      const getBatch = t.batches.getBatch.bind(t.batches);
      const old = jest
        .spyOn(t.batches, 'getBatch')
        .mockImplementation(async (customerId, batchId) => {
          const record = await getBatch(customerId, batchId);
          if (record) {
            delete record.reservedMicroUsd;
            delete record.enqueuedTokens;
          }
          return record;
        });
      await t.worker.handle(t.sent.shift() as BatchMessage);
      const [first] = t.sent.splice(0);
      await t.worker.handle(first as BatchMessage);
      await t.service.cancel(t.principal, batch.batchId);
      for (let m = t.sent.shift(); m; m = t.sent.shift()) await t.worker.handle(m);
      old.mockRestore();

      expect((await t.service.get(t.principal, batch.batchId)).status).toBe('cancelled');
      const spend = await t.spendItem();
      expect(spend.reservedMicroUsd).toBe(0);
      expect(spend.spentMicroUsd).toBe(t.written.reduce((sum, r) => sum + r.costMicroUsd, 0));
      expect(await t.batches.enqueuedTokens(t.principal.customerId, MODEL)).toBe(0);
    });

    it('the expiry sweep settles it the same way, tokens too', async () => {
      const t = await setUp({ lines: 30 });
      await t.create();
      await t.worker.handle(t.sent.shift() as BatchMessage);
      const [first] = t.sent.splice(0);
      // This time before the line's token release too.
      const release = jest
        .spyOn(t.batches, 'releaseLineEnqueued')
        .mockRejectedValueOnce(new Error('SIGKILL'));
      const settle = jest
        .spyOn(t.metering.spend, 'settle')
        .mockRejectedValueOnce(new Error('SIGKILL'));
      await t.worker.handle(first as BatchMessage).catch(() => undefined);
      settle.mockRestore();
      release.mockRestore();

      t.advance(25 * 3600 * 1000);
      await t.worker.sweep();

      const spend = await t.spendItem();
      expect(spend.reservedMicroUsd).toBe(0);
      expect(spend.spentMicroUsd).toBe(t.written.reduce((sum, r) => sum + r.costMicroUsd, 0));
      expect(await t.batches.enqueuedTokens(t.principal.customerId, MODEL)).toBe(0);
    });
  });

  describe('open-batch limit', () => {
    it('10 concurrent creates with a limit of 3 create exactly 3; the others answer 400 too_many_open_batches', async () => {
      const t = await setUp({ config: withOpenBatches(3) });

      const results = await Promise.allSettled(Array.from({ length: 10 }, () => t.create()));

      const created = results.filter((r) => r.status === 'fulfilled');
      const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(created).toHaveLength(3);
      expect(refused).toHaveLength(7);
      for (const r of refused) {
        expect(r.reason).toBeInstanceOf(BadRequestError);
        expect(r.reason).toMatchObject({ status: 400, code: 'too_many_open_batches' });
      }
      expect((await t.service.list(t.principal, 100)).batches).toHaveLength(3);
      expect(await t.batches.openSlots(t.principal.customerId)).toHaveLength(3);
    });

    it('a batch that ends gives its slot back; a cancelled one too', async () => {
      const t = await setUp({ config: withOpenBatches(1), lines: 3 });
      const first = await t.create();
      await expect(t.create()).rejects.toMatchObject({ code: 'too_many_open_batches' });

      await t.service.cancel(t.principal, first.batchId);
      for (const m of t.sent.splice(0)) await t.worker.handle(m);
      expect((await t.service.get(t.principal, first.batchId)).status).toBe('cancelled');

      const second = await t.create();
      for (let m = t.sent.shift(); m; m = t.sent.shift()) await t.worker.handle(m);
      expect((await t.service.get(t.principal, second.batchId)).status).toBe('completed');
      expect(await t.batches.openSlots(t.principal.customerId)).toEqual([]);
      await expect(t.create()).resolves.toMatchObject({ status: 'validating' });
    });

    it('a create that fails after taking its slot leaks nothing: no slot, no sweep entry, no batch left open', async () => {
      const t = await setUp({ config: withOpenBatches(1), lines: 3 });
      const putBatch = jest
        .spyOn(t.batches, 'putBatch')
        .mockRejectedValueOnce(new Error('dynamodb throttled'));
      await expect(t.create()).rejects.toThrow('dynamodb throttled');
      putBatch.mockRestore();
      expect(await t.batches.openSlots(t.principal.customerId)).toEqual([]);
      expect(await t.batches.dueForSweep(9_999_999_999, 100)).not.toContainEqual(
        expect.objectContaining({ customerId: t.principal.customerId }),
      );

      // The queue refuses the first message: the batch fails at once, and its slot is free again.
      t.failQueueOnce();
      await expect(t.create()).rejects.toThrow('sqs unavailable');
      const [failed] = (await t.service.list(t.principal, 10)).batches;
      expect(failed).toMatchObject({ status: 'failed', errors: [{ code: 'queue_unavailable' }] });
      expect(await t.batches.openSlots(t.principal.customerId)).toEqual([]);
      await expect(t.create()).resolves.toMatchObject({ status: 'validating' });
    });

    it('a slot a crash kept (the batch ended, the release never ran) is healed when the limit is reached', async () => {
      const t = await setUp({ config: withOpenBatches(1), lines: 3 });
      const first = await t.create();
      const release = jest
        .spyOn(t.batches, 'releaseOpenBatch')
        .mockRejectedValueOnce(new Error('process died'));
      await t.service.cancel(t.principal, first.batchId);
      await expect(t.worker.handle(t.sent.at(-1) as BatchMessage)).rejects.toThrow('process died');
      release.mockRestore();
      expect((await t.service.get(t.principal, first.batchId)).status).toBe('cancelled');
      expect(await t.batches.openSlots(t.principal.customerId)).toEqual([first.batchId]);

      await expect(t.create()).resolves.toMatchObject({ status: 'validating' });
    });
  });

  describe('expiry sweep', () => {
    it('expires a batch whose messages are stuck: finished lines kept, the rest batch_expired and not billed', async () => {
      const t = await setUp({ lines: 30 });
      const batch = await t.create();
      await t.worker.handle(t.sent.shift() as BatchMessage); // validate
      const [first] = t.sent.splice(0); // two run messages; the second never arrives (stuck)
      await t.worker.handle(first as BatchMessage);

      t.advance(23 * 3600 * 1000);
      await t.worker.sweep(); // not due yet (the sweep partition is shared: other tests' batches may be)
      expect((await t.service.get(t.principal, batch.batchId)).status).toBe('in_progress');
      t.advance(2 * 3600 * 1000);
      await t.worker.sweep();

      const expired = await t.service.get(t.principal, batch.batchId);
      expect(expired.status).toBe('expired');
      expect(expired.times.expired).toEqual(expect.any(Number));
      expect(expired).toMatchObject({ total: 30, completed: 20, failed: 10 });
      expect(await t.contentOf(expired.outputFileId)).toHaveLength(20);
      const errors = await t.contentOf(expired.errorFileId);
      expect(errors).toHaveLength(10);
      expect(
        errors.every((e: { error: { code: string } }) => e.error.code === 'batch_expired'),
      ).toBe(true);
      // Billed: exactly the 20 lines that ran; what the other 10 held is given back.
      expect(t.written).toHaveLength(20);
      const spend = await t.spendItem();
      expect(spend.reservedMicroUsd).toBe(0);
      expect(spend.spentMicroUsd).toBe(t.written.reduce((sum, r) => sum + r.costMicroUsd, 0));
      // Nothing left to sweep, and the slot is free.
      expect(await t.batches.dueForSweep(9_999_999_999, 1000)).not.toContainEqual(
        expect.objectContaining({ batchId: batch.batchId }),
      );
      expect(await t.batches.openSlots(t.principal.customerId)).toEqual([]);
      // The stuck message arriving late changes nothing.
      await t.worker.handle(first as BatchMessage);
      expect(t.written).toHaveLength(20);
      expect((await t.service.get(t.principal, batch.batchId)).status).toBe('expired');
    });

    it('expires a batch that never left validating, listing every line as batch_expired', async () => {
      const t = await setUp({ lines: 4 });
      const batch = await t.create();
      t.sent.splice(0); // the validate message is lost
      t.advance(24 * 3600 * 1000 + 1000);

      await t.worker.sweep();

      const expired = await t.service.get(t.principal, batch.batchId);
      expect(expired).toMatchObject({ status: 'expired', total: 4, completed: 0, failed: 4 });
      expect(expired.outputFileId).toBeUndefined();
      expect(
        (await t.contentOf(expired.errorFileId)).map((e: { custom_id: string }) => e.custom_id),
      ).toEqual(t.ids);
      expect(t.written).toHaveLength(0);
    });
  });

  describe('a line running when the batch is cancelled', () => {
    it('is reported and billed the same way: cancelled and not billed when the cancel wrote its result first', async () => {
      let release: () => void = () => undefined;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const model = new TestModelBackend({ replyTokens: 5 });
      let started = 0;
      const backend: ModelBackend = Object.create(model, {
        complete: {
          value: async (...args: Parameters<ModelBackend['complete']>) => {
            started += 1;
            await gate; // every line of the run is at the model when the cancel comes
            return model.complete(...args);
          },
        },
      });
      const t = await setUp({ lines: 4, backend });
      const batch = await t.create();
      await t.worker.handle(t.sent.shift() as BatchMessage);
      const run = t.worker.handle(t.sent.shift() as BatchMessage);
      while (started < 4) await new Promise((r) => setTimeout(r, 5));

      await t.service.cancel(t.principal, batch.batchId);
      await t.worker.handle(t.sent.shift() as BatchMessage); // finalize: writes the files while the lines run
      release();
      await run;

      const cancelled = await t.service.get(t.principal, batch.batchId);
      expect(cancelled.status).toBe('cancelled');
      const errors = await t.contentOf(cancelled.errorFileId);
      expect(errors.map((e: { error: { code: string } }) => e.error.code)).toEqual(
        Array(4).fill('batch_cancelled'),
      );
      expect(cancelled.outputFileId).toBeUndefined();
      // The model ran, but the lines are reported cancelled: none of them is billed.
      expect(t.written).toHaveLength(0);
      const spend = await t.spendItem();
      expect(spend).toMatchObject({ reservedMicroUsd: 0, spentMicroUsd: 0 });
    });

    it('a line whose result was written first is completed and billed once, with the tokens its output reports', async () => {
      const t = await setUp({ lines: 6 });
      const batch = await t.create();
      await t.worker.handle(t.sent.shift() as BatchMessage);
      const run = t.sent.shift() as BatchMessage;
      // Two deliveries of the same run race: each line runs twice at the model, and only the stored
      // result bills.
      await Promise.all([t.worker.handle(run), t.worker.handle(run)]);
      for (const m of t.sent.splice(0)) await t.worker.handle(m);

      const done = await t.service.get(t.principal, batch.batchId);
      const output = await t.contentOf(done.outputFileId);
      expect(output).toHaveLength(6);
      expect(t.written).toHaveLength(6);
      // Every billed line's tokens are the ones its output line reports.
      for (const line of output as {
        custom_id: string;
        response: { body: { usage: { completion_tokens: number } } };
      }[]) {
        const record = t.written.find(
          (r) => r.requestId === lineRequestId(batch.batchId, line.custom_id),
        );
        expect(record?.outputTokens).toBe(line.response.body.usage.completion_tokens);
      }
    });
  });

  describe('enqueued-token allowance per model', () => {
    it('refuses a batch whose lines would pass it, with the numbers, and gives tokens back as lines finish', async () => {
      const perLine = lineTokens();
      const limit = perLine * 5;
      const t = await setUp({ config: withBatch({ maxEnqueuedTokensPerModel: limit }), lines: 3 });
      const first = await t.create();
      await t.worker.handle(t.sent.shift() as BatchMessage); // validated: 3 lines enqueued
      const firstRun = t.sent.splice(0);
      expect(await t.batches.enqueuedTokens(t.principal.customerId, MODEL)).toBe(3 * perLine);

      const second = await t.create();
      for (const m of t.sent.splice(0)) await t.worker.handle(m);

      const refused = await t.service.get(t.principal, second.batchId);
      expect(refused.status).toBe('failed');
      expect(refused.errors).toEqual([
        {
          code: 'token_limit_exceeded',
          message:
            `Enqueued token limit reached for ${MODEL}: limit ${limit}, already enqueued ${3 * perLine}, this batch ` +
            `${3 * perLine} (prompt estimates + max_completion_tokens of its lines). Wait for your open batches of ` +
            'this model to finish, or send a smaller batch or lower max_completion_tokens.',
          line: 0,
          param: null,
        },
      ]);
      // Nothing of the refused batch stays held: neither tokens nor spend.
      expect(await t.batches.enqueuedTokens(t.principal.customerId, MODEL)).toBe(3 * perLine);

      for (const m of firstRun) await t.worker.handle(m);
      for (const m of t.sent.splice(0)) await t.worker.handle(m);
      expect((await t.service.get(t.principal, first.batchId)).status).toBe('completed');
      expect(await t.batches.enqueuedTokens(t.principal.customerId, MODEL)).toBe(0);
      expect((await t.spendItem()).reservedMicroUsd).toBe(0);

      const third = await t.create();
      await t.worker.handle(t.sent.shift() as BatchMessage);
      expect((await t.service.get(t.principal, third.batchId)).status).toBe('in_progress');
    });

    it('a redelivered validation takes the tokens once; a cancelled batch gives them all back', async () => {
      const perLine = lineTokens();
      const t = await setUp({
        config: withBatch({ maxEnqueuedTokensPerModel: perLine * 4 }),
        lines: 3,
      });
      const batch = await t.create();
      const validate = t.sent.shift() as BatchMessage;
      await Promise.all([t.worker.handle(validate), t.worker.handle(validate)]);
      expect(await t.batches.enqueuedTokens(t.principal.customerId, MODEL)).toBe(3 * perLine);

      await t.service.cancel(t.principal, batch.batchId);
      for (const m of t.sent
        .splice(0)
        .filter((m) => m.kind === 'finalize')
        .slice(0, 1))
        await t.worker.handle(m);

      expect((await t.service.get(t.principal, batch.batchId)).status).toBe('cancelled');
      expect(await t.batches.enqueuedTokens(t.principal.customerId, MODEL)).toBe(0);
    });
  });
});
