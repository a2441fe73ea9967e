import { type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { type LedgerRecord, LedgerWriter, ledgerKeys, ledgerRecord } from '../../../lambda/metering/ledger';
import { createUsageAggregatorHandler, UsageAggregates } from '../../../lambda/metering/usage-aggregates';
import { BadRequestError } from '../../../lambda/openai/errors';
import { type LocalDynamo, newMeteringTable, startDynalite } from '../../support/dynalite';

const silentLogger = { error: jest.fn() } as never;
const prices = { inputMicroUsdPerMillion: 1_000_000, outputMicroUsdPerMillion: 2_000_000 }; // $1 / $2 per 1M

function record(requestId: string, customerId: string, startedAt: string, model: string, tokens = 1_000): LedgerRecord {
  return ledgerRecord({
    requestId,
    customerId,
    model,
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

/** The stream record DynamoDB emits for a new item; only its key attributes matter to the handler. */
function insertRecord(keys: Record<string, string>, eventName: DynamoDBRecord['eventName'] = 'INSERT'): DynamoDBRecord {
  sequence += 1;
  return {
    eventName,
    dynamodb: {
      SequenceNumber: String(1000 + sequence),
      NewImage: Object.fromEntries(Object.entries(keys).map(([name, value]) => [name, { S: value }])),
    },
  };
}

const ledgerStreamRecord = (r: LedgerRecord) => insertRecord(ledgerKeys(r));

describe('usage aggregates (against dynalite)', () => {
  let dynamo: LocalDynamo;
  let tableName: string;
  let doc: DynamoDBDocumentClient;
  let writer: LedgerWriter;
  let aggregates: UsageAggregates;

  beforeAll(async () => {
    dynamo = await startDynalite();
    ({ tableName, doc } = await newMeteringTable(dynamo));
    writer = new LedgerWriter(doc, tableName, { send: () => Promise.reject(new Error('unexpected dead letter')) });
    aggregates = new UsageAggregates(doc, tableName);
  });
  afterAll(() => dynamo.stop());

  async function aggregateItems(customerId: string) {
    const { Items = [] } = await doc.send(
      new QueryCommand({
        TableName: tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': `AGG#${customerId}` },
      }),
    );
    return Items;
  }

  async function seed(records: LedgerRecord[]) {
    for (const r of records) await writer.write(r);
  }

  it('sums a customer-day per model, and recomputing again changes nothing', async () => {
    await seed([
      record('r1', 'cus_sum', '2026-03-01T01:00:00.000Z', 'llama-3.1-8b'),
      record('r2', 'cus_sum', '2026-03-01T02:00:00.000Z', 'llama-3.1-8b', 3_000),
      record('r3', 'cus_sum', '2026-03-01T03:00:00.000Z', 'qwen3-32b'),
      record('r4', 'cus_sum', '2026-03-02T00:00:00.000Z', 'qwen3-32b'), // another day
      record('r5', 'cus_other', '2026-03-01T01:00:00.000Z', 'llama-3.1-8b'), // another customer
    ]);

    const first = await aggregates.recomputeDay('cus_sum', '2026-03-01');
    const afterFirst = await aggregateItems('cus_sum');
    const second = await aggregates.recomputeDay('cus_sum', '2026-03-01');
    const afterSecond = await aggregateItems('cus_sum');

    expect(first.models).toEqual({
      // 1000 in × $1/M + 500 out × $2/M = 2000 µ$; 3000 in + 1500 out = 6000 µ$.
      'llama-3.1-8b': { requests: 2, inputTokens: 4_000, outputTokens: 2_000, costMicroUsd: 8_000 },
      'qwen3-32b': { requests: 1, inputTokens: 1_000, outputTokens: 500, costMicroUsd: 2_000 },
    });
    expect(second).toEqual(first);
    expect(afterSecond).toEqual(afterFirst);
    expect(afterFirst.map((i) => i.sk)).toEqual(['2026-03-01#llama-3.1-8b', '2026-03-01#qwen3-32b']);
  });

  it('pages through a customer-day larger than one Query page', async () => {
    // ~2.3 KB per item: 1 MB pages make this 3 Query pages.
    const padding = 'x'.repeat(2_000);
    const records = Array.from({ length: 1_000 }, (_, i) => ({
      ...record(`big_${i}`, 'cus_big', '2026-03-05T00:00:00.000Z', 'llama-3.1-8b', 2),
      finishedAt: `2026-03-05T00:00:00.000Z${padding}`,
    }));
    await Promise.all(records.map((r) => writer.write(r)));
    const before = dynamo.calls();

    const { models } = await aggregates.recomputeDay('cus_big', '2026-03-05');

    expect(models['llama-3.1-8b']?.requests).toBe(1_000);
    expect(dynamo.calls() - before).toBe(3 + 1); // pages + one put
  });

  it('reports expected request ids the index did not return', async () => {
    await seed([record('seen', 'cus_missing', '2026-03-01T00:00:00.000Z', 'llama-3.1-8b')]);

    const { missing } = await aggregates.recomputeDay('cus_missing', '2026-03-01', ['seen', 'not-yet']);

    expect(missing).toEqual(['not-yet']);
  });

  it('does not let a stale recompute overwrite a fresher aggregate', async () => {
    await seed([record('s1', 'cus_stale', '2026-03-01T00:00:00.000Z', 'llama-3.1-8b')]);
    await aggregates.recomputeDay('cus_stale', '2026-03-01');
    await seed([record('s2', 'cus_stale', '2026-03-01T01:00:00.000Z', 'llama-3.1-8b')]);
    await aggregates.recomputeDay('cus_stale', '2026-03-01');
    // A recompute that read the ledger before s2 and writes late: simulated by writing its view directly.
    const stale = new UsageAggregates(
      {
        send: (command: unknown) =>
          command instanceof QueryCommand
            ? Promise.resolve({
                Items: [{ requestId: 's1', model: 'llama-3.1-8b', inputTokens: 1, outputTokens: 1, costMicroUsd: 1 }],
              })
            : doc.send(command as never),
      } as never,
      tableName,
    );

    await stale.recomputeDay('cus_stale', '2026-03-01');

    const [item] = await aggregateItems('cus_stale');
    expect(item?.requests).toBe(2);
  });

  describe('queryUsage', () => {
    beforeAll(async () => {
      await seed([
        record('q1', 'cus_q', '2026-04-01T00:00:00.000Z', 'qwen3-32b'),
        record('q2', 'cus_q', '2026-04-01T05:00:00.000Z', 'llama-3.1-8b'),
        record('q3', 'cus_q', '2026-04-02T00:00:00.000Z', 'llama-3.1-8b', 2_000),
        record('q4', 'cus_q', '2026-04-04T23:59:59.999Z', 'llama-3.1-8b', 4),
        record('q5', 'cus_q', '2026-04-05T00:00:00.000Z', 'llama-3.1-8b'), // after the range
      ]);
      for (const day of ['2026-04-01', '2026-04-02', '2026-04-04', '2026-04-05']) {
        await aggregates.recomputeDay('cus_q', day);
      }
    });

    it('groups by day, with the models of each day, in one Query', async () => {
      const before = dynamo.calls();

      const usage = await aggregates.queryUsage('cus_q', '2026-04-01', '2026-04-04', 'day');

      expect(dynamo.calls() - before).toBe(1);
      expect(usage).toEqual({
        object: 'list',
        group_by: 'day',
        start_date: '2026-04-01',
        end_date: '2026-04-04',
        data: [
          {
            object: 'usage.bucket',
            date: '2026-04-01',
            requests: 2,
            input_tokens: 2_000,
            output_tokens: 1_000,
            cost_usd: '0.004000',
            models: [
              {
                object: 'usage.model',
                model: 'llama-3.1-8b',
                requests: 1,
                input_tokens: 1_000,
                output_tokens: 500,
                cost_usd: '0.002000',
              },
              {
                object: 'usage.model',
                model: 'qwen3-32b',
                requests: 1,
                input_tokens: 1_000,
                output_tokens: 500,
                cost_usd: '0.002000',
              },
            ],
          },
          {
            object: 'usage.bucket',
            date: '2026-04-02',
            requests: 1,
            input_tokens: 2_000,
            output_tokens: 1_000,
            cost_usd: '0.004000',
            models: [expect.objectContaining({ model: 'llama-3.1-8b', requests: 1 })],
          },
          {
            object: 'usage.bucket',
            date: '2026-04-04',
            requests: 1,
            input_tokens: 4,
            output_tokens: 2,
            cost_usd: '0.000008',
            models: [expect.objectContaining({ model: 'llama-3.1-8b' })],
          },
        ],
        total: { requests: 4, input_tokens: 4_004, output_tokens: 2_002, cost_usd: '0.008008' },
      });
    });

    it('groups by model over the range', async () => {
      const usage = await aggregates.queryUsage('cus_q', '2026-04-01', '2026-04-05', 'model');

      expect(usage.data).toEqual([
        {
          object: 'usage.bucket',
          model: 'llama-3.1-8b',
          start_date: '2026-04-01',
          end_date: '2026-04-05',
          requests: 4,
          input_tokens: 4_004,
          output_tokens: 2_002,
          cost_usd: '0.008008',
        },
        {
          object: 'usage.bucket',
          model: 'qwen3-32b',
          start_date: '2026-04-01',
          end_date: '2026-04-05',
          requests: 1,
          input_tokens: 1_000,
          output_tokens: 500,
          cost_usd: '0.002000',
        },
      ]);
    });

    it('answers an empty list for a range without usage, and 400 for a bad range', async () => {
      const empty = await aggregates.queryUsage('cus_q', '2026-05-01', '2026-05-31', 'day');

      expect(empty.data).toEqual([]);
      expect(empty.total).toEqual({ requests: 0, input_tokens: 0, output_tokens: 0, cost_usd: '0.000000' });
      await expect(aggregates.queryUsage('cus_q', '2026-04-02', '2026-04-01', 'day')).rejects.toThrow(BadRequestError);
      await expect(aggregates.queryUsage('cus_q', '2026-4-1', '2026-04-01', 'model')).rejects.toThrow(BadRequestError);
    });
  });

  describe('stream handler', () => {
    it('recomputes each customer-day of a batch once, duplicates and other items skipped', async () => {
      const h1 = record('h1', 'cus_h', '2026-06-01T00:00:00.000Z', 'llama-3.1-8b');
      const h2 = record('h2', 'cus_h', '2026-06-01T01:00:00.000Z', 'qwen3-32b');
      const h3 = record('h3', 'cus_h', '2026-06-02T00:00:00.000Z', 'llama-3.1-8b');
      await seed([h1, h2, h3]);
      const recompute = jest.spyOn(aggregates, 'recomputeDay');
      const handler = createUsageAggregatorHandler(aggregates, silentLogger);
      const r1 = ledgerStreamRecord(h1);
      const event: DynamoDBStreamEvent = {
        Records: [
          r1,
          insertRecord({ pk: 'SPEND#cus_h#2026-06', sk: 'SPEND' }),
          ledgerStreamRecord(h2),
          r1, // a duplicate delivery of the same stream record
          insertRecord({ pk: 'AGG#cus_h', sk: '2026-06-01#llama-3.1-8b' }),
          ledgerStreamRecord(h3),
          insertRecord(ledgerKeys(h1), 'MODIFY'),
        ],
      };

      const response = await handler(event);

      expect(response).toEqual({ batchItemFailures: [] });
      expect(recompute.mock.calls).toEqual([
        ['cus_h', '2026-06-01', ['h1', 'h2', 'h1']],
        ['cus_h', '2026-06-02', ['h3']],
      ]);
      const usage = await aggregates.queryUsage('cus_h', '2026-06-01', '2026-06-02', 'model');
      expect(usage.total.requests).toBe(3);
      recompute.mockRestore();
    });

    it('reports the first record of the first failed customer-day, and stops there', async () => {
      const recomputeDay = jest.fn(async (_customerId: string, day: string) => {
        if (day === '2026-07-02') throw new Error('throttled');
        return { models: {}, missing: [] };
      });
      const handler = createUsageAggregatorHandler({ recomputeDay }, silentLogger);
      const a = ledgerStreamRecord(record('f1', 'cus_f', '2026-07-01T00:00:00.000Z', 'm'));
      const b = ledgerStreamRecord(record('f2', 'cus_f', '2026-07-02T00:00:00.000Z', 'm'));
      const a2 = ledgerStreamRecord(record('f3', 'cus_f', '2026-07-01T01:00:00.000Z', 'm'));
      const c = ledgerStreamRecord(record('f4', 'cus_f', '2026-07-03T00:00:00.000Z', 'm'));

      const response = await handler({ Records: [a, b, a2, c] });

      expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: b.dynamodb?.SequenceNumber }] });
      expect(recomputeDay.mock.calls.map(([, day]) => day)).toEqual(['2026-07-01', '2026-07-02']);
    });

    it('fails a customer-day whose new records the index has not returned yet, so the retry picks them up', async () => {
      const handler = createUsageAggregatorHandler(aggregates, silentLogger);
      // In the stream, but not (yet) in the index: never written to the table here.
      const lagging = ledgerStreamRecord(record('lagging', 'cus_lag', '2026-08-01T00:00:00.000Z', 'm'));

      const response = await handler({ Records: [lagging] });

      expect(response.batchItemFailures).toEqual([{ itemIdentifier: lagging.dynamodb?.SequenceNumber }]);
    });
  });
});

describe('usage date validation', () => {
  it('refuses dates that match the pattern but do not exist, and ranges over a year', async () => {
    const aggregates = new UsageAggregates({} as never, 'unused');

    await expect(aggregates.queryUsage('cus_1', '2026-13-45', '2026-12-01', 'day')).rejects.toMatchObject({
      status: 400,
      param: 'start_date',
    });
    await expect(aggregates.queryUsage('cus_1', '2026-02-01', '2026-02-30', 'day')).rejects.toMatchObject({
      param: 'end_date',
    });
    await expect(aggregates.queryUsage('cus_1', '2024-01-01', '2026-01-01', 'model')).rejects.toThrow(
      /at most 366 days/,
    );
  });
});
