import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { AggregateUpdater } from '../../../lambda/metering/aggregate-updates';
import { type LedgerRecord, LedgerWriter, ledgerRecord } from '../../../lambda/metering/ledger';
import { UsageAggregates } from '../../../lambda/metering/usage-aggregates';
import { BadRequestError } from '../../../lambda/openai/errors';
import { type LocalDynamo, newMeteringTable, startDynalite } from '../../support/dynalite';

const prices = { inputMicroUsdPerMillion: 1_000_000, outputMicroUsdPerMillion: 2_000_000 }; // $1 / $2 per 1M

function record(
  requestId: string,
  customerId: string,
  startedAt: string,
  model: string,
  tokens = 1_000,
): LedgerRecord {
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

describe('usage aggregates (against dynalite)', () => {
  let dynamo: LocalDynamo;
  let tableName: string;
  let doc: DynamoDBDocumentClient;
  let writer: LedgerWriter;
  let aggregates: UsageAggregates;
  let updater: AggregateUpdater;

  beforeAll(async () => {
    dynamo = await startDynalite();
    ({ tableName, doc } = await newMeteringTable(dynamo));
    writer = new LedgerWriter(doc, tableName, {
      send: () => Promise.reject(new Error('unexpected dead letter')),
    });
    aggregates = new UsageAggregates(doc, tableName);
    updater = new AggregateUpdater(doc, tableName);
  });
  afterAll(() => dynamo.stop());

  async function seed(records: LedgerRecord[]) {
    for (const r of records) await writer.write(r);
  }

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
        await updater.recomputeDay('cus_q', day);
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
      expect(empty.total).toEqual({
        requests: 0,
        input_tokens: 0,
        output_tokens: 0,
        cost_usd: '0.000000',
      });
      await expect(
        aggregates.queryUsage('cus_q', '2026-04-02', '2026-04-01', 'day'),
      ).rejects.toThrow(BadRequestError);
      await expect(
        aggregates.queryUsage('cus_q', '2026-4-1', '2026-04-01', 'model'),
      ).rejects.toThrow(BadRequestError);
    });
  });
});

describe('usage date validation', () => {
  it('refuses dates that match the pattern but do not exist, and ranges over a year', async () => {
    const aggregates = new UsageAggregates({} as never, 'unused');

    await expect(
      aggregates.queryUsage('cus_1', '2026-13-45', '2026-12-01', 'day'),
    ).rejects.toMatchObject({
      status: 400,
      param: 'start_date',
    });
    await expect(
      aggregates.queryUsage('cus_1', '2026-02-01', '2026-02-30', 'day'),
    ).rejects.toMatchObject({
      param: 'end_date',
    });
    await expect(
      aggregates.queryUsage('cus_1', '2024-01-01', '2026-01-01', 'model'),
    ).rejects.toThrow(/at most 366 days/);
  });
});
