import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { AggregateUpdater, CLAIM_MS } from '../../../lambda/metering/aggregate-updates';
import {
  type LedgerRecord,
  LedgerWriter,
  ledgerKeys,
  ledgerRecord,
} from '../../../lambda/metering/ledger';
import { createUsageAggregatorHandler } from '../../../lambda/metering/usage-stream';
import { type LocalDynamo, newMeteringTable, startDynalite } from '../../support/dynalite';

const silentLogger = { error: jest.fn() } as never;
const prices = { inputMicroUsdPerMillion: 1_000_000, outputMicroUsdPerMillion: 2_000_000 }; // $1 / $2 per 1M
const MODEL = 'llama-3.1-8b';

function record(
  requestId: string,
  customerId: string,
  startedAt = '2026-03-01T01:00:00.000Z',
  tokens = 1_000,
) {
  return ledgerRecord({
    requestId,
    customerId,
    model: MODEL,
    tier: 'developer',
    inputTokens: tokens,
    outputTokens: tokens / 2,
    prices,
    status: 'completed',
    startedAt,
    finishedAt: startedAt,
  });
}

let sequence = 0;
/** The stream record DynamoDB emits for a new ledger item: its whole new image. */
function streamInsert(
  r: LedgerRecord,
  eventName: DynamoDBRecord['eventName'] = 'INSERT',
): DynamoDBRecord {
  sequence += 1;
  const item: Record<string, unknown> = { ...ledgerKeys(r), ...r };
  const image = Object.fromEntries(
    Object.entries(item)
      .filter(([, v]) => typeof v === 'string' || typeof v === 'number')
      .map(([k, v]) => [k, typeof v === 'number' ? { N: String(v) } : { S: v as string }]),
  );
  return {
    eventName,
    dynamodb: { SequenceNumber: String(5000 + sequence), NewImage: image as never },
  };
}

describe('usage aggregates applied exactly once per ledger record (against dynalite)', () => {
  let dynamo: LocalDynamo;
  let tableName: string;
  let doc: DynamoDBDocumentClient;
  let writer: LedgerWriter;
  let nowMs: number;
  let updater: AggregateUpdater;

  beforeAll(async () => {
    dynamo = await startDynalite();
    ({ tableName, doc } = await newMeteringTable(dynamo));
    writer = new LedgerWriter(doc, tableName, {
      send: () => Promise.reject(new Error('unexpected dead letter')),
    });
  });
  afterAll(() => dynamo.stop());
  beforeEach(() => {
    nowMs = Date.parse('2026-03-01T02:00:00.000Z');
    updater = new AggregateUpdater(doc, tableName, () => nowMs);
  });

  async function aggregate(customerId: string, day = '2026-03-01') {
    const { Item } = await doc.send(
      new GetCommand({
        TableName: tableName,
        Key: { pk: `AGG#${customerId}`, sk: `${day}#${MODEL}` },
      }),
    );
    return Item;
  }

  /** A document client that fails the `n`th UpdateItem it sends (1-based): a crash at that step. */
  function crashingAt(n: number): DynamoDBDocumentClient {
    let updates = 0;
    return {
      send: (command: unknown) => {
        if (command instanceof UpdateCommand && ++updates === n)
          return Promise.reject(new Error('crashed'));
        return doc.send(command as never);
      },
    } as never;
  }

  it('counts a record applied three times (a retry, a redelivery, a replay) once', async () => {
    const r = record('once', 'cus_once');
    await writer.write(r);

    const results = [await updater.apply(r), await updater.apply(r), await updater.apply(r)];

    expect(results).toEqual(['applied', 'already_applied', 'already_applied']);
    expect(await aggregate('cus_once')).toMatchObject({
      requests: 1,
      inputTokens: 1_000,
      outputTokens: 500,
    });
    expect(
      Object.keys((await aggregate('cus_once')) ?? {}).filter((k) => k.startsWith('applying#')),
    ).toEqual([]);
  });

  it.each([
    [1, 'after the claim, before the increment'],
    [2, 'after the increment, before the ledger flag'],
    [3, 'after the ledger flag, before the marker is removed'],
  ])(
    'counts once when the applier crashed at write %i (%s) and another finishes later',
    async (step, _label) => {
      const customerId = `cus_crash${step}`;
      const r = record(`crash${step}`, customerId);
      await writer.write(r);

      await expect(
        new AggregateUpdater(crashingAt(step + 1), tableName, () => nowMs).apply(r),
      ).rejects.toThrow('crashed');
      const whileClaimed = await updater.apply(r);
      nowMs += CLAIM_MS + 1;
      const later = await updater.apply(r);

      // A crash after the flag leaves nothing to do: the record is applied; before it, the claim
      // holds it.
      expect(whileClaimed).toBe(step === 3 ? 'already_applied' : 'busy');
      expect(later).toBe(step === 3 ? 'already_applied' : 'applied');
      expect(await aggregate(customerId)).toMatchObject({ requests: 1, costMicroUsd: 2_000 });
    },
  );

  // Issue 8, row 6: every ledger write recomputed the customer's whole day (p50 568 -> 1,733 ms at
  // 2,000).
  it('costs the same four writes per record, and no read, however many records the day has', async () => {
    const callsToApply = async (r: LedgerRecord) => {
      await writer.write(r);
      const before = dynamo.calls();
      await updater.apply(r);
      return dynamo.calls() - before;
    };
    const first = await callsToApply(record('heavy-0', 'cus_heavy'));
    const day = Array.from({ length: 300 }, (_, i) => record(`heavy-${i + 1}`, 'cus_heavy'));
    await Promise.all(day.map((r) => writer.write(r)));
    for (const r of day) await updater.apply(r);

    const last = await callsToApply(record('heavy-last', 'cus_heavy'));

    expect([first, last]).toEqual([4, 4]);
    expect(await aggregate('cus_heavy')).toMatchObject({ requests: 302 });
  });

  it('repairs a customer-day from the ledger: a damaged total, and a record a crash left unapplied', async () => {
    const applied = [
      record('rep1', 'cus_repair'),
      record('rep2', 'cus_repair', '2026-03-01T05:00:00.000Z', 3_000),
    ];
    for (const r of applied) {
      await writer.write(r);
      await updater.apply(r);
    }
    const orphan = record('rep3', 'cus_repair');
    await writer.write(orphan); // the process died before applying it
    await doc.send(
      new UpdateCommand({
        TableName: tableName,
        Key: { pk: 'AGG#cus_repair', sk: `2026-03-01#${MODEL}` },
        UpdateExpression: 'SET requests = :wrong',
        ExpressionAttributeValues: { ':wrong': 99 },
      }),
    );

    const totals = await updater.recomputeDay('cus_repair', '2026-03-01');
    const again = await updater.recomputeDay('cus_repair', '2026-03-01');

    const expected = { requests: 3, inputTokens: 5_000, outputTokens: 2_500, costMicroUsd: 10_000 };
    expect(totals[MODEL]).toEqual(expected);
    expect(again[MODEL]).toEqual(expected);
    expect(await aggregate('cus_repair')).toMatchObject(expected);
  });

  it('stays exact when a repair runs while records are being applied', async () => {
    const records = Array.from({ length: 60 }, (_, i) => record(`live-${i}`, 'cus_live'));
    await Promise.all(records.map((r) => writer.write(r)));

    await Promise.all([
      ...records.map((r) => updater.apply(r)),
      updater.recomputeDay('cus_live', '2026-03-01'),
      updater.recomputeDay('cus_live', '2026-03-01'),
    ]);
    // Whatever a repair found claimed by a live applier, that applier added.
    await updater.recomputeDay('cus_live', '2026-03-01');

    expect(await aggregate('cus_live')).toMatchObject({ requests: 60, inputTokens: 60_000 });
  });

  describe('stream handler', () => {
    it('applies each new ledger record once, a redelivered batch and other items included', async () => {
      const records = [
        record('h1', 'cus_h'),
        record('h2', 'cus_h'),
        record('h3', 'cus_h', '2026-03-02T00:00:00.000Z'),
      ];
      for (const r of records) await writer.write(r);
      const handler = createUsageAggregatorHandler(updater, silentLogger);
      const batch = {
        Records: [
          ...records.map((r) => streamInsert(r)),
          streamInsert(records[0] as LedgerRecord), // the same record delivered twice
          streamInsert(records[1] as LedgerRecord, 'MODIFY'),
          {
            eventName: 'INSERT',
            dynamodb: { NewImage: { pk: { S: 'SPEND#cus_h#2026-03' } } },
          } as DynamoDBRecord,
        ],
      };

      const first = await handler(batch);
      const redelivered = await handler(batch);

      expect([first, redelivered]).toEqual([{ batchItemFailures: [] }, { batchItemFailures: [] }]);
      expect(await aggregate('cus_h')).toMatchObject({ requests: 2 });
      expect(await aggregate('cus_h', '2026-03-02')).toMatchObject({ requests: 1 });
    });

    it('reports the first record (in stream order) that failed, so the retry starts there', async () => {
      const apply = jest.fn(async (r: { requestId: string }) => {
        if (r.requestId === 'f2') throw new Error('throttled');
        return r.requestId === 'f3' ? ('busy' as const) : ('applied' as const);
      });
      const handler = createUsageAggregatorHandler({ apply }, silentLogger);
      const inserts = ['f1', 'f2', 'f3'].map((id) => streamInsert(record(id, 'cus_f')));

      const response = await handler({ Records: inserts });

      expect(response).toEqual({
        batchItemFailures: [{ itemIdentifier: inserts[1]?.dynamodb?.SequenceNumber }],
      });
    });
  });
});
