import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { BadRequestError } from '../openai/errors';
import type {
  DayBucket,
  ModelBucket,
  ModelUsage,
  UsageFields,
  UsageList,
} from '../openai/shapes/usage';
import type { DocumentClient } from '../storage/document-client';
import { METERING_TABLE } from './metering-table';
import { formatUsd } from './pricing';

const { partitionKey: PK, sortKey: SK } = METERING_TABLE;

/**
 * `GET /v1/usage` and the console read the usage aggregates: `AGG#<customerId>` / `<day>#<model>`,
 * kept in step with the ledger exactly once per record and recomputable from it
 * (aggregate-updates.ts).
 */

export interface UsageTotals {
  requests: number;
  inputTokens: number;
  outputTokens: number;
  /** Billed audio seconds of speech-to-text models (their ledger records' "input tokens"). */
  audioSeconds: number;
  costMicroUsd: number;
}

export type UsageGroupBy = 'day' | 'model';

const DAY = /^\d{4}-\d{2}-\d{2}$/;

const zero = (): UsageTotals => ({
  requests: 0,
  inputTokens: 0,
  outputTokens: 0,
  audioSeconds: 0,
  costMicroUsd: 0,
});

function add(into: UsageTotals, more: UsageTotals): void {
  into.requests += more.requests;
  into.inputTokens += more.inputTokens;
  into.outputTokens += more.outputTokens;
  into.audioSeconds += more.audioSeconds;
  into.costMicroUsd += more.costMicroUsd;
}

function fields(t: UsageTotals): UsageFields {
  return {
    requests: t.requests,
    input_tokens: t.inputTokens,
    output_tokens: t.outputTokens,
    ...(t.audioSeconds > 0 ? { audio_seconds: t.audioSeconds } : {}),
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

/**
 * The one name the models a caller may not see by name are reported under ({@link
 * UsageQueryOptions.unlisted}): their figures stay in the totals, their ids are not said.
 */
export const UNLISTED_MODELS = 'ft:unlisted';

export interface UsageQueryOptions {
  /**
   * Which of the models in the range the caller may not see by name (a project key: another
   * project's `ft:` models, whose ids answer 404 everywhere else): reported as {@link UNLISTED_MODELS}.
   */
  unlisted?: (models: readonly string[]) => Promise<ReadonlySet<string>>;
}

export class UsageAggregates {
  /**
   * @param audioModels speech-to-text models: the ledger counts their billed audio seconds where a
   * chat model's input tokens are (the unit their price is per), shown here as `audio_seconds`.
   */
  constructor(
    private readonly doc: DocumentClient,
    private readonly tableName: string,
    private readonly audioModels: ReadonlySet<string> = new Set(),
  ) {}

  /** Usage of `startDay`..`endDay` (UTC, inclusive) from the aggregates: one Query per 1 MB page. */
  async queryUsage(
    customerId: string,
    startDay: string,
    endDay: string,
    groupBy: 'day',
    options?: UsageQueryOptions,
  ): Promise<UsageList<DayBucket>>;
  async queryUsage(
    customerId: string,
    startDay: string,
    endDay: string,
    groupBy: 'model',
    options?: UsageQueryOptions,
  ): Promise<UsageList<ModelBucket>>;
  async queryUsage(
    customerId: string,
    startDay: string,
    endDay: string,
    groupBy: UsageGroupBy,
    options?: UsageQueryOptions,
  ): Promise<UsageList<DayBucket | ModelBucket>>;
  async queryUsage(
    customerId: string,
    startDay: string,
    endDay: string,
    groupBy: UsageGroupBy,
    options: UsageQueryOptions = {},
  ): Promise<UsageList<DayBucket | ModelBucket>> {
    if (!isDay(startDay))
      throw new BadRequestError('start_date must be a date YYYY-MM-DD', { param: 'start_date' });
    if (!isDay(endDay))
      throw new BadRequestError('end_date must be a date YYYY-MM-DD', { param: 'end_date' });
    if (startDay > endDay)
      throw new BadRequestError('start_date must not be after end_date', { param: 'start_date' });
    if (Date.parse(endDay) - Date.parse(startDay) > MAX_RANGE_DAYS * 86_400_000) {
      throw new BadRequestError(`The date range may span at most ${MAX_RANGE_DAYS} days.`, {
        param: 'end_date',
      });
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
          ExpressionAttributeValues: {
            ':pk': `AGG#${customerId}`,
            ':from': `${startDay}#`,
            ':to': `${endDay}$`,
          },
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) {
        const audio = this.audioModels.has(item.model as string);
        rows.push({
          day: item.day as string,
          model: item.model as string,
          totals: {
            requests: item.requests as number,
            inputTokens: audio ? 0 : (item.inputTokens as number),
            outputTokens: item.outputTokens as number,
            audioSeconds: audio ? (item.inputTokens as number) : 0,
            costMicroUsd: item.costMicroUsd as number,
          },
        });
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);

    const unlisted = options.unlisted
      ? await options.unlisted([...new Set(rows.map((row) => row.model))])
      : new Set<string>();
    const nameOf = (model: string) => (unlisted.has(model) ? UNLISTED_MODELS : model);
    const total = zero();
    const groups = new Map<string, { totals: UsageTotals; models: Map<string, UsageTotals> }>();
    for (const row of rows) {
      add(total, row.totals);
      const model = nameOf(row.model);
      const key = groupBy === 'day' ? row.day : model;
      const group = groups.get(key) ?? { totals: zero(), models: new Map() };
      groups.set(key, group);
      add(group.totals, row.totals);
      if (groupBy === 'day') {
        // Several unlisted models of one day are one entry.
        const totals = group.models.get(model) ?? zero();
        group.models.set(model, totals);
        add(totals, row.totals);
      }
    }
    // Rows come sorted by day, then model (the sort key): day buckets are in order, model buckets
    // are sorted here.
    const data =
      groupBy === 'day'
        ? [...groups].map(
            ([date, g]): DayBucket => ({
              object: 'usage.bucket',
              date,
              ...fields(g.totals),
              models: [...g.models].map(
                ([model, totals]): ModelUsage => ({
                  object: 'usage.model',
                  model,
                  ...fields(totals),
                }),
              ),
            }),
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
    return {
      object: 'list',
      group_by: groupBy,
      start_date: startDay,
      end_date: endDay,
      data,
      total: fields(total),
    };
  }
}
