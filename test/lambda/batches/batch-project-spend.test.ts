import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { BatchMessage } from '../../../lambda/batches/batch-queue';
import { BatchService } from '../../../lambda/batches/batch-service';
import { BatchWorker } from '../../../lambda/batches/batch-worker';
import { BatchesRepository } from '../../../lambda/batches/batches-repository';
import type { Principal } from '../../../lambda/customers/authenticate';
import { createDocumentClient } from '../../../lambda/customers/customers-repository';
import { projectScope } from '../../../lambda/customers/project-limits';
import { createFiles } from '../../../lambda/files/create-files';
import type { createS3Client } from '../../../lambda/files/file-storage';
import { TestModelBackend } from '../../../lambda/inference/backends/test-model-backend';
import type { LedgerRecord } from '../../../lambda/metering/ledger';
import { createMetering } from '../../../lambda/metering/request-metering';
import type { SpendAlertMail } from '../../../lambda/metering/spend-alert-rules';
import type { DocumentClient } from '../../../lambda/storage/document-client';
import { loadConfig } from '../../../lib/config/load';
import { type LocalDynamo, newMeteringTable } from '../../support/dynalite';
import { chatBatchLine, type FileStores, startFileStores } from '../../support/file-stores';

/**
 * A project's monthly spend limit holds for its batches: the batch worker reserves the batch's
 * maximum cost on the project's spend item beside the organization's, and settles both to what
 * ran, once, whatever is delivered twice or crashes in between (dynalite, s3rver, the test model).
 */
const config = loadConfig({ env: 'dev' });
const MODEL = 'qwen3-8b';
const PROJECT = 'proj_capped';

// A large max_completion_tokens against a 5-token reply: the batch may cost far more than it does.
const requestLine = (customId: string) => chatBatchLine(customId, MODEL, 4_000);

interface SetUpOptions {
  /** The project's spend limit (µ$), as its key carries it. */
  projectLimit?: number;
  /** The project has spend alerts (and no limit, unless `projectLimit`). */
  projectAlerts?: boolean;
  /** Leave the validate message undelivered (returned as `validate`). */
  holdValidation?: boolean;
  /** Lines of a chunk sent at once (the worker's default: 4). */
  lineConcurrency?: number;
}

describe('batches held to their project monthly spend limit (dynalite, s3rver)', () => {
  let dynamo: LocalDynamo;
  let stores: FileStores;
  let s3: ReturnType<typeof createS3Client>;
  let customers = 0;
  let clock = new Date('2026-12-01T10:00:00Z');

  beforeAll(async () => {
    stores = await startFileStores();
    ({ dynamo, s3 } = stores);
  });
  afterAll(() => stores.stop());

  async function setUp(lines: number, options: SetUpOptions = {}) {
    customers += 1;
    const now = () => clock;
    const table = await newMeteringTable(dynamo);
    // Every call on the metering table, to see which spend items a batch touches.
    const meteringKeys: string[] = [];
    const counting: DocumentClient = {
      send: (command: { input: { Key?: Record<string, unknown> } }) => {
        meteringKeys.push(String(command.input.Key?.pk ?? ''));
        return table.doc.send(command as never);
      },
    } as DocumentClient;
    const mail: SpendAlertMail[] = [];
    const metering = createMetering({
      config,
      doc: counting,
      tableName: table.tableName,
      deadLetters: { send: async () => undefined },
      alerts: { publish: async () => undefined },
      spendAlertMail: { send: async (m) => void mail.push(m) },
      aggregateInline: true,
      now,
    });
    const written: LedgerRecord[] = [];
    const ledger = {
      write: async (record: LedgerRecord) => {
        const result = await metering.ledger.write(record);
        if (result === 'written') written.push(record);
        return result;
      },
    };
    const doc = createDocumentClient(dynamo.client);
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
    const spend = metering.spend;
    const worker = new BatchWorker({
      config,
      batches,
      files: files.files,
      storage: files.storage,
      backend: new TestModelBackend({ replyTokens: 5 }),
      ledger,
      spend,
      queue,
      now,
      ...(options.lineConcurrency === undefined
        ? {}
        : { lineConcurrency: options.lineConcurrency }),
    });
    const service = new BatchService({ config, batches, files: files.files, queue, now });
    const customerId = `cus_batchproj${customers}`;
    const principal: Principal = {
      kind: 'project_key',
      projectId: PROJECT,
      customerId,
      tier: 'developer',
      usageIdentifierKey: 'k',
      ...(options.projectLimit === undefined
        ? {}
        : { projectSpendLimitMicroUsd: options.projectLimit }),
      ...(options.projectAlerts ? { projectSpendAlerts: true as const } : {}),
    };
    if (options.projectAlerts) {
      await metering.alertRules.change(projectScope(customerId, PROJECT), {
        kind: 'create',
        rule: { thresholdAmount: 0, recipients: ['owner@example.com'], subjectPrefix: null },
      });
    }
    const ids = Array.from({ length: lines }, (_, i) => `line-${i + 1}`);
    const create = async () => {
      const input = await files.files.create(principal, {
        filename: 'in.jsonl',
        purpose: 'batch',
        content: Buffer.from(`${ids.map(requestLine).join('\n')}\n`),
      });
      return service.create(principal, {
        input_file_id: input.fileId,
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
      });
    };
    const batch = await create();
    const validate = sent.splice(0);
    if (!options.holdValidation) for (const message of validate) await worker.handle(message);
    const read = () => batches.getBatch(customerId, batch.batchId);
    const monthOf = async (scope: string) =>
      (
        await table.doc.send(
          new GetCommand({
            TableName: table.tableName,
            Key: { pk: `SPEND#${scope}#2026-12`, sk: 'SPEND' },
            ConsistentRead: true,
          }),
        )
      ).Item ?? {};
    /** Delivers every queued message, and what they queue, until none is left. */
    const drain = async () => {
      for (let next = sent.shift(); next; next = sent.shift()) await worker.handle(next);
    };
    return {
      worker,
      service,
      /** Another batch of the same customer and file, created and validated. */
      another: async (options: { drain: boolean } = { drain: true }) => {
        const next = await create();
        if (options.drain) await drain();
        return next;
      },
      spend,
      batches,
      principal,
      batch,
      validate,
      sent,
      drain,
      read,
      written,
      mail,
      meteringKeys,
      organization: () => monthOf(customerId),
      project: () => monthOf(projectScope(customerId, PROJECT)),
      billed: () => written.reduce((sum, record) => sum + record.costMicroUsd, 0),
    };
  }

  /** The most a 10-line file of {@link requestLine} may cost: what its batch reserves. */
  async function maxCostOf10Lines(): Promise<number> {
    const t = await setUp(10);
    const reserved = (await t.read())?.reservedMicroUsd;
    if (reserved === undefined) throw new Error('the batch did not start');
    return reserved;
  }

  it('refuses at start a batch that may cost more than the project has left, giving back what the organization held', async () => {
    const maxCost = await maxCostOf10Lines();
    const t = await setUp(10, { projectLimit: maxCost - 1 });
    const batch = await t.read();
    expect(batch?.status).toBe('failed');
    expect(batch?.errors).toHaveLength(1);
    expect(batch?.errors?.[0]).toMatchObject({ code: 'spend_limit_exceeded', line: 0 });
    expect(batch?.errors?.[0]?.message).toContain(`project \`${PROJECT}\``);
    expect(batch?.errors?.[0]?.message).toContain(
      '/v1/organization/projects/{project_id}/spend_limit',
    );
    expect(t.sent.filter((m) => m.kind === 'run')).toHaveLength(0);
    expect(t.written).toHaveLength(0);
    // The organization's reservation was taken, then given back whole; the project's never held.
    expect(await t.organization()).toMatchObject({ reservedMicroUsd: 0, usedMicroUsd: 0 });
    const project = await t.project();
    expect(project.reservedMicroUsd ?? 0).toBe(0);
    expect(project.usedMicroUsd ?? 0).toBe(0);
    // The enqueued tokens went back too: the same batch fits once the limit allows it.
    expect(await t.batches.enqueuedTokens(t.principal.customerId, MODEL)).toBe(0);

    const fits = await setUp(10, { projectLimit: maxCost });
    expect((await fits.read())?.status).toBe('in_progress');
    expect(await fits.project()).toMatchObject({
      reservedMicroUsd: maxCost,
      usedMicroUsd: maxCost,
    });
  });

  it('a batch within the limit leaves the project spent exactly what its lines cost', async () => {
    const t = await setUp(25, { projectLimit: 1_000_000 });
    const started = await t.read();
    expect(started?.projectSpendHold).toBe(true);
    const maxCost = started?.reservedMicroUsd ?? 0;
    expect(await t.project()).toMatchObject({
      reservedMicroUsd: maxCost,
      limitMicroUsd: 1_000_000,
    });
    await t.drain();

    const batch = await t.read();
    expect(batch?.status).toBe('completed');
    expect(t.written).toHaveLength(25);
    const billed = t.billed();
    expect(billed).toBeGreaterThan(0);
    expect(billed).toBeLessThan(maxCost);
    const settled = { reservedMicroUsd: 0, committedMicroUsd: billed, usedMicroUsd: billed };
    expect(await t.project()).toMatchObject({
      ...settled,
      headroomMicroUsd: 1_000_000 - billed,
    });
    expect(await t.organization()).toMatchObject(settled);
  });

  it('a cancelled batch settles the project to what ran before the cancel', async () => {
    const t = await setUp(45, { projectLimit: 1_000_000 });
    const [first, ...rest] = t.sent.splice(0);
    await t.worker.handle(first as BatchMessage);
    await t.service.cancel(t.principal, t.batch.batchId);
    await t.drain(); // the finalize the cancel queued
    for (const late of rest) await t.worker.handle(late); // late deliveries change nothing

    expect((await t.read())?.status).toBe('cancelled');
    expect(t.written).toHaveLength(20);
    const billed = t.billed();
    const settled = { reservedMicroUsd: 0, committedMicroUsd: billed, usedMicroUsd: billed };
    expect(await t.project()).toMatchObject(settled);
    expect(await t.organization()).toMatchObject(settled);
  });

  it('an expired batch settles the project to what ran in its window', async () => {
    const t = await setUp(30, { projectLimit: 1_000_000 });
    const [first] = t.sent.splice(0);
    await t.worker.handle(first as BatchMessage);
    clock = new Date(clock.getTime() + 25 * 3600 * 1000); // past the 24h window
    await t.worker.sweep();
    await t.drain();
    clock = new Date('2026-12-01T10:00:00Z');

    expect((await t.read())?.status).toBe('expired');
    expect(t.written).toHaveLength(20);
    const billed = t.billed();
    const settled = { reservedMicroUsd: 0, committedMicroUsd: billed, usedMicroUsd: billed };
    expect(await t.project()).toMatchObject(settled);
    expect(await t.organization()).toMatchObject(settled);
  });

  it('duplicate start and finalize deliveries change nothing', async () => {
    const t = await setUp(10, { projectLimit: 1_000_000, holdValidation: true });
    const [validate] = t.validate;
    if (!validate) throw new Error('no validate message');
    // The validation delivered twice at once, then once more: one reservation on each item.
    await Promise.all([t.worker.handle(validate), t.worker.handle(validate)]);
    await t.worker.handle(validate);
    const maxCost = (await t.read())?.reservedMicroUsd ?? 0;
    expect(await t.project()).toMatchObject({ reservedMicroUsd: maxCost, usedMicroUsd: maxCost });
    expect(await t.organization()).toMatchObject({ reservedMicroUsd: maxCost });
    const runs = t.sent.filter((m) => m.kind === 'run');
    t.sent.length = 0;
    // One validation's run messages (the loser queued none), each delivered twice.
    expect(runs).toHaveLength(1);
    await Promise.all(runs.flatMap((m) => [t.worker.handle(m), t.worker.handle(m)]));
    const finalize: BatchMessage = {
      kind: 'finalize',
      customerId: t.principal.customerId,
      batchId: t.batch.batchId,
    };
    await Promise.all([t.worker.handle(finalize), t.worker.handle(finalize)]);
    await t.drain();

    expect((await t.read())?.status).toBe('completed');
    const billed = t.billed();
    const settled = { reservedMicroUsd: 0, committedMicroUsd: billed, usedMicroUsd: billed };
    expect(await t.project()).toMatchObject(settled);
    expect(await t.organization()).toMatchObject(settled);
  });

  it("a crash between the organization's and the project's settles leaves the project's to the redelivery, once", async () => {
    const t = await setUp(10, { projectLimit: 1_000_000 });
    const scope = projectScope(t.principal.customerId, PROJECT);
    const settle = t.spend.settle.bind(t.spend);
    let projectSettles = 0;
    // The 3rd line's project settle dies after the organization's applied.
    jest.spyOn(t.spend, 'settle').mockImplementation(async (reservation, ...rest) => {
      if (reservation.customerId === scope && ++projectSettles === 3)
        throw new Error('process died here');
      return settle(reservation, ...rest);
    });
    const remainder = t.spend.settleBatchRemainder.bind(t.spend);
    let crashedFinalize = false;
    // The first finalize dies after the organization's remainder, before the project's.
    jest.spyOn(t.spend, 'settleBatchRemainder').mockImplementation(async (customerId, ...rest) => {
      if (customerId === scope && !crashedFinalize) {
        crashedFinalize = true;
        throw new Error('process died here too');
      }
      return remainder(customerId, ...rest);
    });
    const [run] = t.sent.splice(0);
    await expect(t.worker.handle(run as BatchMessage)).rejects.toThrow('process died here');
    await expect(t.worker.handle(run as BatchMessage)).rejects.toThrow('process died here too');
    expect((await t.read())?.status).toBe('finalizing');
    await t.worker.handle({
      kind: 'finalize',
      customerId: t.principal.customerId,
      batchId: t.batch.batchId,
    });
    jest.restoreAllMocks();

    expect((await t.read())?.status).toBe('completed');
    expect(t.written).toHaveLength(10);
    const billed = t.billed();
    const settled = { reservedMicroUsd: 0, committedMicroUsd: billed, usedMicroUsd: billed };
    expect(await t.project()).toMatchObject(settled);
    expect(await t.organization()).toMatchObject(settled);
  });

  it("a project's spend alerts fire on its batch's spend, once", async () => {
    const t = await setUp(10, { projectAlerts: true });
    await t.drain();
    expect((await t.read())?.status).toBe('completed');
    const billed = t.billed();
    expect(await t.project()).toMatchObject({ reservedMicroUsd: 0, committedMicroUsd: billed });
    expect(t.mail).toHaveLength(1);
    expect(t.mail[0]?.text).toContain(`Project ${PROJECT} of organization`);
  });

  it('a batch of a project without a spend limit or alerts makes no call on a project spend item', async () => {
    // One line at a time: the first settles of a month seed its alert thresholds once, not racing.
    const t = await setUp(10, { lineConcurrency: 1 });
    await t.drain();
    expect((await t.read())?.status).toBe('completed');
    expect(t.meteringKeys.filter((key) => key.includes('@'))).toEqual([]);
    // The same batch in a capped project: every call it makes more is on the project's items.
    const capped = await setUp(10, { projectLimit: 1_000_000, lineConcurrency: 1 });
    await capped.drain();
    expect((await capped.read())?.status).toBe('completed');
    const ofProject = capped.meteringKeys.filter((key) => key.includes('@'));
    const onProjectMonth = ofProject.filter((key) => key.startsWith('SPEND#'));
    // One reserve, one settle a line, the month's alert thresholds seeded once by the first settle,
    // the remainder's read and update, and the read of the end's look for a late start's hold.
    expect(onProjectMonth).toHaveLength(1 + 10 + 1 + 2 + 1);
    expect(capped.meteringKeys.length - ofProject.length).toBe(t.meteringKeys.length);
  });

  /** What a batch leaves on a month item: its marks and sums (`bhold_`, `bres_`, `bcost_`, `bdone_`). */
  const batchAttributesOf = (item: Record<string, unknown>) =>
    Object.keys(item).filter((name) => /^b(hold|res|cost|done)_/.test(name));

  it('leaves nothing of finished batches on the month items: they do not grow per batch', async () => {
    const t = await setUp(3, { projectLimit: 1_000_000 });
    await t.drain();
    expect((await t.read())?.status).toBe('completed');
    const afterOne = { organization: await t.organization(), project: await t.project() };
    expect(batchAttributesOf(afterOne.organization)).toEqual([]);
    expect(batchAttributesOf(afterOne.project)).toEqual([]);

    // More batches, one cancelled before its lines ran: the items keep the same attributes.
    for (let i = 0; i < 4; i++) await t.another();
    // Started (its reservation held), then cancelled before its lines ran.
    const cancelled = await t.another({ drain: false });
    for (const message of t.sent.splice(0)) await t.worker.handle(message);
    expect((await t.batches.getBatch(t.principal.customerId, cancelled.batchId))?.status).toBe(
      'in_progress',
    );
    await t.service.cancel(t.principal, cancelled.batchId);
    await t.drain();
    expect((await t.batches.getBatch(t.principal.customerId, cancelled.batchId))?.status).toBe(
      'cancelled',
    );
    for (const [scope, item] of [
      ['organization', await t.organization()],
      ['project', await t.project()],
    ] as const) {
      expect({ scope, batchAttributes: batchAttributesOf(item) }).toEqual({
        scope,
        batchAttributes: [],
      });
      expect({ scope, names: Object.keys(item).sort() }).toEqual({
        scope,
        names: Object.keys(afterOne[scope]).sort(),
      });
      expect(item).toMatchObject({ reservedMicroUsd: 0, committedMicroUsd: t.billed() });
    }
  });

  it('a line settlement or a remainder delivered again after the batch ended applies nothing', async () => {
    const t = await setUp(3, { projectLimit: 1_000_000 });
    await t.drain();
    const batch = await t.read();
    const before = await t.organization();
    const month = batch?.reservationMonth as string;

    const late = await t.spend.settle(
      {
        customerId: t.principal.customerId,
        month,
        reservedMicroUsd: 100,
        batchId: t.batch.batchId,
        batchHeld: true,
      },
      50,
    );
    const again = await t.spend.settleBatchRemainder(
      t.principal.customerId,
      month,
      t.batch.batchId,
      batch?.reservedMicroUsd ?? 0,
      t.billed(),
      { held: true },
    );

    expect(late.applied).toBe(false);
    expect(again).toBe(false);
    expect(await t.organization()).toEqual(before);
  });

  describe('a start that dies between its reservations and in_progress', () => {
    /** Delivers the validation once with `crash` in place, then restores the real calls. */
    async function crashedStart(t: Awaited<ReturnType<typeof setUp>>, crash: () => void) {
      crash();
      const [validate] = t.validate;
      await expect(t.worker.handle(validate as BatchMessage)).rejects.toThrow('process died');
      jest.restoreAllMocks();
      expect((await t.read())?.status).toBe('validating');
      return validate as BatchMessage;
    }
    const diesOnProjectReserve = (t: Awaited<ReturnType<typeof setUp>>) => () => {
      const reserve = t.spend.reserve.bind(t.spend);
      const scope = projectScope(t.principal.customerId, PROJECT);
      jest.spyOn(t.spend, 'reserve').mockImplementation(async (customerId, ...rest) => {
        if (customerId === scope) throw new Error('process died');
        return reserve(customerId, ...rest);
      });
      // A dead process gives nothing back either.
      jest.spyOn(t.spend, 'settleBatchRemainder').mockRejectedValue(new Error('process died'));
    };
    const diesBeforeInProgress = (t: Awaited<ReturnType<typeof setUp>>) => () => {
      const transition = t.batches.transition.bind(t.batches);
      jest.spyOn(t.batches, 'transition').mockImplementation(async (...args) => {
        if (args[3] === 'in_progress') throw new Error('process died');
        return transition(...args);
      });
    };

    it.each([
      ["after the organization's reservation", diesOnProjectReserve],
      ['after both reservations', diesBeforeInProgress],
    ])(
      '%s: the redelivery reuses what was held, and the batch settles exactly',
      async (_, dies) => {
        const maxCost = await maxCostOf10Lines();
        const t = await setUp(10, { projectLimit: 1_000_000, holdValidation: true });
        const validate = await crashedStart(t, dies(t));

        // Redelivered (SQS, after the visibility timeout), twice at once for good measure.
        await Promise.all([t.worker.handle(validate), t.worker.handle(validate)]);
        const started = await t.read();
        expect(started?.status).toBe('in_progress');
        for (const item of [await t.organization(), await t.project()])
          expect(item).toMatchObject({ reservedMicroUsd: maxCost, usedMicroUsd: maxCost });

        await t.drain();
        expect((await t.read())?.status).toBe('completed');
        const billed = t.billed();
        for (const item of [await t.organization(), await t.project()]) {
          expect(item).toMatchObject({
            reservedMicroUsd: 0,
            committedMicroUsd: billed,
            usedMicroUsd: billed,
          });
          expect(batchAttributesOf(item)).toEqual([]);
        }
      },
    );

    it('across the end of a UTC month: the redelivery reserves in the new month and gives back the old', async () => {
      const saved = clock;
      clock = new Date('2026-11-30T23:59:00Z');
      try {
        const t = await setUp(10, { projectLimit: 1_000_000, holdValidation: true });
        const validate = await crashedStart(t, diesBeforeInProgress(t));
        const scope = projectScope(t.principal.customerId, PROJECT);
        expect((await t.spend.getMonthOf(scope, '2026-11')).reservedMicroUsd).toBeGreaterThan(0);

        clock = new Date('2026-12-01T00:01:00Z');
        await t.worker.handle(validate);

        expect((await t.read())?.reservationMonth).toBe('2026-12');
        for (const customerId of [t.principal.customerId, scope])
          expect(await t.spend.getMonthOf(customerId, '2026-11')).toMatchObject({
            reservedMicroUsd: 0,
            spentMicroUsd: 0,
          });
        await t.drain();
        for (const item of [await t.organization(), await t.project()])
          expect(item).toMatchObject({ reservedMicroUsd: 0, committedMicroUsd: t.billed() });
      } finally {
        clock = saved;
      }
    });

    it.each([
      ["after the organization's reservation", diesOnProjectReserve],
      ['after both reservations', diesBeforeInProgress],
    ])('%s, then cancelled: the batch ends holding nothing', async (_, dies) => {
      const t = await setUp(10, { projectLimit: 1_000_000, holdValidation: true });
      const validate = await crashedStart(t, dies(t));
      expect((await t.organization()).reservedMicroUsd).toBeGreaterThan(0);

      await t.service.cancel(t.principal, t.batch.batchId);
      // The redelivered validation finds the batch cancelling; the finalize gives back the holds.
      await t.worker.handle(validate);
      await t.drain();

      expect((await t.read())?.status).toBe('cancelled');
      for (const item of [await t.organization(), await t.project()]) {
        expect(item.reservedMicroUsd ?? 0).toBe(0);
        expect(item.usedMicroUsd ?? 0).toBe(0);
        expect(batchAttributesOf(item)).toEqual([]);
      }
      expect(await t.batches.enqueuedTokens(t.principal.customerId, MODEL)).toBe(0);
    });
  });

  describe('a start delivery that stalls while another delivery runs the whole batch', () => {
    type Test = Awaited<ReturnType<typeof setUp>>;
    /**
     * The first call of a step the stalling delivery makes waits while `meanwhile` runs (with the
     * real calls), then goes on: a process that stalled there (a GC pause, a slow network) past the
     * queue's visibility timeout, so its message was delivered again and that delivery went on.
     */
    function stallAt(
      t: Test,
      step: 'takeEnqueued' | 'reserve' | 'reserve the project' | 'in_progress',
      meanwhile: () => Promise<void>,
    ) {
      let stalled = false;
      const stall = async <T>(real: () => Promise<T>): Promise<T> => {
        if (!stalled) {
          stalled = true;
          jest.restoreAllMocks();
          await meanwhile();
        }
        return real();
      };
      const scope = projectScope(t.principal.customerId, PROJECT);
      if (step === 'takeEnqueued') {
        const take = t.batches.takeEnqueued.bind(t.batches);
        jest
          .spyOn(t.batches, 'takeEnqueued')
          .mockImplementation((...args) => stall(() => take(...args)));
      } else if (step === 'in_progress') {
        const transition = t.batches.transition.bind(t.batches);
        jest
          .spyOn(t.batches, 'transition')
          .mockImplementation((...args) =>
            args[3] === 'in_progress' ? stall(() => transition(...args)) : transition(...args),
          );
      } else {
        const reserve = t.spend.reserve.bind(t.spend);
        jest
          .spyOn(t.spend, 'reserve')
          .mockImplementation((customerId, ...rest) =>
            step === 'reserve' || customerId === scope
              ? stall(() => reserve(customerId, ...rest))
              : reserve(customerId, ...rest),
          );
      }
    }

    /** Nothing held for the batch any more: no reservation, no mark, no enqueued token. */
    async function holdsNothing(t: Test, billed: number) {
      for (const item of [await t.organization(), await t.project()]) {
        expect(item).toMatchObject({
          reservedMicroUsd: 0,
          committedMicroUsd: billed,
          usedMicroUsd: billed,
        });
        expect(batchAttributesOf(item)).toEqual([]);
      }
      expect(await t.batches.enqueuedTokens(t.principal.customerId, MODEL)).toBe(0);
    }

    it.each([
      ['before it takes the enqueued tokens', 'takeEnqueued'],
      ["before the organization's reservation", 'reserve'],
      ["between the organization's and the project's reservations", 'reserve the project'],
      ['before in_progress', 'in_progress'],
    ] as const)('%s, until the batch completed: every hold is released once', async (_, step) => {
      const t = await setUp(10, { projectLimit: 1_000_000, holdValidation: true });
      const [validate] = t.validate as [BatchMessage];
      stallAt(t, step, async () => {
        await t.worker.handle(validate);
        await t.drain();
        expect((await t.read())?.status).toBe('completed');
      });

      await t.worker.handle(validate);
      await t.drain();

      expect((await t.read())?.status).toBe('completed');
      expect(t.written).toHaveLength(10);
      await holdsNothing(t, t.billed());
    });

    /**
     * A delivery reads the batch `validating` and stalls before its enqueued tokens; another runs
     * the whole batch, and the stalled one goes on (to its end) between that end's settlement and
     * its final transition: it takes tokens and reservations afresh and reads the batch
     * `finalizing`. Answers the enqueued tokens it left; `diesAfterFinal`: the end's process dies
     * right after its final transition.
     */
    async function stallIntoTheEnd(t: Test, diesAfterFinal = false): Promise<number> {
      const [validate] = t.validate as [BatchMessage];
      let stalled: () => void = () => undefined;
      const isStalled = new Promise<void>((resolve) => {
        stalled = resolve;
      });
      let goOn: () => void = () => undefined;
      const mayGoOn = new Promise<void>((resolve) => {
        goOn = resolve;
      });
      const take = t.batches.takeEnqueued.bind(t.batches);
      jest.spyOn(t.batches, 'takeEnqueued').mockImplementationOnce(async (...args) => {
        stalled();
        await mayGoOn;
        return take(...args);
      });
      const stalledDelivery = t.worker.handle(validate);
      await isStalled;
      let left = 0;
      const transition = t.batches.transition.bind(t.batches);
      jest.spyOn(t.batches, 'transition').mockImplementation(async (...args) => {
        if (args[3] !== 'completed') return transition(...args);
        goOn();
        await stalledDelivery;
        left = await t.batches.enqueuedTokens(t.principal.customerId, MODEL);
        const moved = await transition(...args);
        if (diesAfterFinal) throw new Error('process died here');
        return moved;
      });
      try {
        await t.worker.handle(validate);
        await t.drain();
      } finally {
        jest.restoreAllMocks();
      }
      expect((await t.read())?.status).toBe('completed');
      return left;
    }

    it('until the batch was settled but not yet final: the end gives back what it took after settling', async () => {
      const t = await setUp(10, { projectLimit: 1_000_000, holdValidation: true });

      expect(await stallIntoTheEnd(t)).toBeGreaterThan(0);

      await holdsNothing(t, t.billed());
    });

    it('an end that died before giving that back gives it back when its message comes again', async () => {
      const t = await setUp(10, { projectLimit: 1_000_000, holdValidation: true });
      await expect(stallIntoTheEnd(t, true)).rejects.toThrow('process died here');
      expect(await t.batches.enqueuedTokens(t.principal.customerId, MODEL)).toBeGreaterThan(0);

      await t.worker.handle({
        kind: 'finalize',
        customerId: t.principal.customerId,
        batchId: t.batch.batchId,
      });

      expect((await t.read())?.status).toBe('completed');
      await holdsNothing(t, t.billed());
    });

    it.each([
      ['before it takes the enqueued tokens', 'takeEnqueued'],
      ["before the organization's reservation", 'reserve'],
      ['before in_progress', 'in_progress'],
    ] as const)(
      '%s, until the batch was cancelled and ended: every hold is released once',
      async (_, step) => {
        const t = await setUp(10, { projectLimit: 1_000_000, holdValidation: true });
        const [validate] = t.validate as [BatchMessage];
        stallAt(t, step, async () => {
          await t.service.cancel(t.principal, t.batch.batchId);
          await t.drain();
          expect((await t.read())?.status).toBe('cancelled');
        });

        await t.worker.handle(validate);
        await t.drain();

        expect((await t.read())?.status).toBe('cancelled');
        await holdsNothing(t, 0);
      },
    );
  });

  it('a batch started before the bhold_ mark (no spendHeld) still settles exactly, once, by bdone_', async () => {
    const t = await setUp(10, { projectLimit: 1_000_000, holdValidation: true });
    // The start as the earlier code made it: reservations without the batch's mark, no spendHeld.
    const reserve = t.spend.reserve.bind(t.spend);
    jest
      .spyOn(t.spend, 'reserve')
      .mockImplementation((customerId, seed, max, options) =>
        reserve(customerId, seed, max, { ...options, batchId: undefined }),
      );
    const transition = t.batches.transition.bind(t.batches);
    jest.spyOn(t.batches, 'transition').mockImplementation((...args) => {
      const { spendHeld: _new, ...fields } = args[5] ?? {};
      return transition(args[0], args[1], args[2], args[3], args[4], fields);
    });
    for (const message of t.validate) await t.worker.handle(message);
    jest.restoreAllMocks();
    expect((await t.read())?.spendHeld).toBeUndefined();

    await t.drain();
    await t.worker.handle({
      kind: 'finalize',
      customerId: t.principal.customerId,
      batchId: t.batch.batchId,
    });

    expect((await t.read())?.status).toBe('completed');
    const billed = t.billed();
    for (const item of [await t.organization(), await t.project()]) {
      expect(item).toMatchObject({ reservedMicroUsd: 0, committedMicroUsd: billed });
      expect(batchAttributesOf(item)).toEqual([`bdone_${t.batch.batchId}`]);
    }
  });
});
