import { Logger } from '@aws-lambda-powertools/logger';
import { type DynamoDBDocumentClient, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { isConditionFailure } from '../customers/customers-repository';
import { BadRequestError } from '../openai/errors';
import { usagePartition } from './ledger';
import { METERING_TABLE } from './metering-table';
import { formatUsd } from './pricing';

const { partitionKey: PK, sortKey: SK, byCustomerDayIndex: BY_DAY } = METERING_TABLE;

/**
 * Usage aggregates for `GET /v1/usage` and the console: `AGG#<customerId>` / `<day>#<model>`, derived from the
 * ledger and recomputed from it, never incremented, so replays and duplicate stream records cannot skew them.
 */

export interface UsageTotals {
  requests: number;
  inputTokens: number;
  outputTokens: number;
  costMicroUsd: number;
}

export interface RecomputeResult {
  /** Totals per model of the customer-day, as written. */
  models: Record<string, UsageTotals>;
  /** Of the request ids the caller expected, those the index did not return yet (it is eventually consistent). */
  missing: string[];
}

export type UsageGroupBy = 'day' | 'model';

export interface UsageFields {
  requests: number;
  input_tokens: number;
  output_tokens: number;
  /** Exact decimal string, 6 decimals. */
  cost_usd: string;
}

export interface ModelUsage extends UsageFields {
  object: 'usage.model';
  model: string;
}

/** `group_by=day`: one bucket per day with usage, its models inside. */
export interface DayBucket extends UsageFields {
  object: 'usage.bucket';
  date: string;
  models: ModelUsage[];
}

/** `group_by=model`: one bucket per model over the whole range. */
export interface ModelBucket extends UsageFields {
  object: 'usage.bucket';
  model: string;
  start_date: string;
  end_date: string;
}

export interface UsageList<B> {
  object: 'list';
  group_by: UsageGroupBy;
  start_date: string;
  end_date: string;
  /** Days without usage have no bucket. */
  data: B[];
  total: UsageFields;
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;

const zero = (): UsageTotals => ({ requests: 0, inputTokens: 0, outputTokens: 0, costMicroUsd: 0 });

function add(into: UsageTotals, more: UsageTotals): void {
  into.requests += more.requests;
  into.inputTokens += more.inputTokens;
  into.outputTokens += more.outputTokens;
  into.costMicroUsd += more.costMicroUsd;
}

function fields(t: UsageTotals): UsageFields {
  return {
    requests: t.requests,
    input_tokens: t.inputTokens,
    output_tokens: t.outputTokens,
    cost_usd: formatUsd(t.costMicroUsd),
  };
}

/** A real calendar day `YYYY-MM-DD` (not just the pattern: 2026-13-45 is refused). */
function isDay(value: string): boolean {
  if (!DAY.test(value)) return false;
  const date = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 10) === value;
}

/** Longest range one `/v1/usage` call may ask for. */
const MAX_RANGE_DAYS = 366;

export class UsageAggregates {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  /**
   * Sums the customer-day's ledger per model (one Query per 1 MB page of the index) and writes one aggregate
   * per model (one PutItem each). The put only replaces an aggregate that counted no more requests: the ledger
   * only grows, so a concurrent recompute that read less of it cannot overwrite a fresher result.
   */
  async recomputeDay(
    customerId: string,
    day: string,
    expectRequestIds: Iterable<string> = [],
  ): Promise<RecomputeResult> {
    const missing = new Set(expectRequestIds);
    const models: Record<string, UsageTotals> = {};
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: BY_DAY.name,
          KeyConditionExpression: '#gpk = :gpk',
          ProjectionExpression: 'requestId, model, inputTokens, outputTokens, costMicroUsd',
          ExpressionAttributeNames: { '#gpk': BY_DAY.partitionKey },
          ExpressionAttributeValues: { ':gpk': usagePartition(customerId, day) },
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) {
        missing.delete(item.requestId as string);
        const model = item.model as string;
        const totals = models[model] ?? zero();
        models[model] = totals;
        add(totals, {
          requests: 1,
          inputTokens: item.inputTokens as number,
          outputTokens: item.outputTokens as number,
          costMicroUsd: item.costMicroUsd as number,
        });
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);

    for (const [model, totals] of Object.entries(models)) {
      try {
        await this.doc.send(
          new PutCommand({
            TableName: this.tableName,
            Item: { [PK]: `AGG#${customerId}`, [SK]: `${day}#${model}`, customerId, day, model, ...totals },
            ConditionExpression: 'attribute_not_exists(#pk) OR #requests <= :requests',
            ExpressionAttributeNames: { '#pk': PK, '#requests': 'requests' },
            ExpressionAttributeValues: { ':requests': totals.requests },
          }),
        );
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
      }
    }
    return { models, missing: [...missing] };
  }

  /** Usage of `startDay`..`endDay` (UTC, inclusive) from the aggregates: one Query per 1 MB page. */
  async queryUsage(customerId: string, startDay: string, endDay: string, groupBy: 'day'): Promise<UsageList<DayBucket>>;
  async queryUsage(
    customerId: string,
    startDay: string,
    endDay: string,
    groupBy: 'model',
  ): Promise<UsageList<ModelBucket>>;
  async queryUsage(
    customerId: string,
    startDay: string,
    endDay: string,
    groupBy: UsageGroupBy,
  ): Promise<UsageList<DayBucket | ModelBucket>>;
  async queryUsage(
    customerId: string,
    startDay: string,
    endDay: string,
    groupBy: UsageGroupBy,
  ): Promise<UsageList<DayBucket | ModelBucket>> {
    if (!isDay(startDay)) throw new BadRequestError('start_date must be a date YYYY-MM-DD', 'start_date');
    if (!isDay(endDay)) throw new BadRequestError('end_date must be a date YYYY-MM-DD', 'end_date');
    if (startDay > endDay) throw new BadRequestError('start_date must not be after end_date', 'start_date');
    if (Date.parse(endDay) - Date.parse(startDay) > MAX_RANGE_DAYS * 86_400_000) {
      throw new BadRequestError(`The date range may span at most ${MAX_RANGE_DAYS} days.`, 'end_date');
    }

    // Sort keys are `<day>#<model>`, so every key of endDay sorts below `<endDay>$` ('#' < '$').
    const rows: { day: string; model: string; totals: UsageTotals }[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: '#pk = :pk AND #sk BETWEEN :from AND :to',
          ExpressionAttributeNames: { '#pk': PK, '#sk': SK },
          ExpressionAttributeValues: { ':pk': `AGG#${customerId}`, ':from': `${startDay}#`, ':to': `${endDay}$` },
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) {
        rows.push({
          day: item.day as string,
          model: item.model as string,
          totals: {
            requests: item.requests as number,
            inputTokens: item.inputTokens as number,
            outputTokens: item.outputTokens as number,
            costMicroUsd: item.costMicroUsd as number,
          },
        });
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);

    const total = zero();
    const groups = new Map<string, { totals: UsageTotals; models: ModelUsage[] }>();
    for (const row of rows) {
      add(total, row.totals);
      const key = groupBy === 'day' ? row.day : row.model;
      const group = groups.get(key) ?? { totals: zero(), models: [] };
      groups.set(key, group);
      add(group.totals, row.totals);
      if (groupBy === 'day') group.models.push({ object: 'usage.model', model: row.model, ...fields(row.totals) });
    }
    // Rows come sorted by day, then model (the sort key): day buckets are in order, model buckets are sorted here.
    const data =
      groupBy === 'day'
        ? [...groups].map(
            ([date, g]): DayBucket => ({ object: 'usage.bucket', date, ...fields(g.totals), models: g.models }),
          )
        : [...groups]
            .sort(([a], [b]) => (a < b ? -1 : 1))
            .map(
              ([model, g]): ModelBucket => ({
                object: 'usage.bucket',
                model,
                start_date: startDay,
                end_date: endDay,
                ...fields(g.totals),
              }),
            );
    return { object: 'list', group_by: groupBy, start_date: startDay, end_date: endDay, data, total: fields(total) };
  }
}

function attribute(record: DynamoDBRecord, name: string): string | undefined {
  return record.dynamodb?.NewImage?.[name]?.S;
}

/**
 * DynamoDB Streams consumer of the metering table: recomputes, once per batch, each customer-day that got new
 * ledger records. Other items of the table (counters, spend, aggregates) are skipped; the event source should
 * also filter them out (pk prefix `REQ#`, eventName INSERT) so they do not invoke the function at all.
 *
 * On a failure it reports the first record of the failed customer-day as the batch item failure: Lambda then
 * retries the shard from that record on, and recomputing the customer-days that had succeeded is harmless.
 * A customer-day whose index read did not yet return one of the new records (the index lags the table) counts
 * as failed, so the retry picks the record up.
 */
export function createUsageAggregatorHandler(
  aggregates: Pick<UsageAggregates, 'recomputeDay'>,
  logger = new Logger({ serviceName: 'usage-aggregator' }),
) {
  return async (event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> => {
    // In order of each customer-day's first record in the batch.
    const groups = new Map<string, { customerId: string; day: string; first: DynamoDBRecord; requestIds: string[] }>();
    for (const record of event.Records) {
      const pk = attribute(record, PK);
      const gsi1pk = attribute(record, BY_DAY.partitionKey);
      if (record.eventName !== 'INSERT' || !pk?.startsWith('REQ#') || !gsi1pk?.startsWith('USAGE#')) continue;
      const group = groups.get(gsi1pk);
      const requestId = pk.slice('REQ#'.length);
      if (group) {
        group.requestIds.push(requestId);
        continue;
      }
      const split = gsi1pk.lastIndexOf('#');
      groups.set(gsi1pk, {
        customerId: gsi1pk.slice('USAGE#'.length, split),
        day: gsi1pk.slice(split + 1),
        first: record,
        requestIds: [requestId],
      });
    }

    for (const { customerId, day, first, requestIds } of groups.values()) {
      let failure: unknown;
      try {
        const { missing } = await aggregates.recomputeDay(customerId, day, requestIds);
        if (missing.length > 0) failure = new Error(`the index did not return requests yet: ${missing.join(', ')}`);
      } catch (error) {
        failure = error;
      }
      if (failure === undefined) continue;
      const sequenceNumber = first.dynamodb?.SequenceNumber;
      logger.error('usage recompute failed', { customerId, day, sequenceNumber, error: failure });
      // Without a sequence number nothing can be reported: fail the whole batch.
      if (!sequenceNumber) throw failure;
      return { batchItemFailures: [{ itemIdentifier: sequenceNumber }] };
    }
    return { batchItemFailures: [] };
  };
}
