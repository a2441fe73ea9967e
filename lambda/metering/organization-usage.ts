import { projectOrDefault } from '../customers/key-permissions';
import type { DocumentClient } from '../storage/document-client';
import { queryAll } from '../storage/query-pages';
import { type LedgerRecord, usagePartition, utcDay } from './ledger';
import { METERING_TABLE } from './metering-table';
import { MICRO_USD_PER_USD } from './pricing';

const { byCustomerDayIndex: BY_DAY } = METERING_TABLE;

/**
 * OpenAI's usage and costs of the administration API (`/v1/organization/usage/*`,
 * `/v1/organization/costs`), answered from the ledger, the billing truth: its index sorts an
 * organization's records by the time they started, so a bucket of a minute, an hour or a day is
 * one range of one day's partition, and every grouping (project, key, model, batch) is exact. The
 * daily usage aggregates have no project or key; these reads cost one Query page per 1 MB of the
 * range's records (about 2,500), bounded by the buckets one call may ask for.
 */

export const BUCKET_SECONDS = { '1m': 60, '1h': 3_600, '1d': 86_400 } as const;
export type BucketWidth = keyof typeof BUCKET_SECONDS;

/** The fields of a ledger record these reads use (the Query projects only these). */
export type UsageRecord = Pick<
  LedgerRecord,
  | 'customerId'
  | 'model'
  | 'startedAt'
  | 'inputTokens'
  | 'outputTokens'
  | 'costMicroUsd'
  | 'batch'
  | 'projectId'
  | 'apiKeyId'
>;

/** A range of whole buckets to answer, and which records count in it. */
export interface BucketQuery {
  /** Unix seconds: the range asked for, `end` exclusive. */
  start: number;
  end: number;
  width: BucketWidth;
  /** Buckets in one answer. */
  limit: number;
  /** Where a previous answer stopped: the start of its next bucket (Unix seconds). */
  resumeAt?: number;
}

export interface RecordFilter {
  projectIds?: ReadonlySet<string>;
  apiKeyIds?: ReadonlySet<string>;
  models?: ReadonlySet<string>;
  /** Ledger records name no user (sessions and keys alike): any user filter matches nothing. */
  userIds?: ReadonlySet<string>;
  batch?: boolean;
}

/** `user_id` and `service_tier` group nothing apart: records name no user, Tierline has one tier. */
export type GroupField =
  | 'project_id'
  | 'user_id'
  | 'api_key_id'
  | 'model'
  | 'batch'
  | 'line_item'
  | 'service_tier';

export interface UsagePage<R> {
  object: 'page';
  data: { object: 'bucket'; start_time: number; end_time: number; results: R[] }[];
  has_more: boolean;
  next_page: string | null;
}

/** The cursor of the bucket that starts at `seconds`. */
export const pageCursor = (seconds: number) => `page_${seconds}`;

/** A bucket's records summed, with the group's fields. */
interface Group {
  key: Record<Exclude<GroupField, 'service_tier'>, string | boolean | null>;
  records: UsageRecord[];
}

const sum = (records: UsageRecord[], field: 'inputTokens' | 'outputTokens' | 'costMicroUsd') =>
  records.reduce((total, record) => total + record[field], 0);

/** The ledger model of a training (fine-tuning/job-billing.ts `trainingLedgerModel`). */
const isTraining = (model: string) => model.startsWith('fine-tuning:');

/**
 * The line item of a record in costs: its model, and `batch` for batch lines (priced apart, at
 * the batch discount).
 */
const lineItemOf = (record: UsageRecord) =>
  record.batch === true ? `${record.model}, batch` : record.model;

function groupKey(record: UsageRecord, groupBy: ReadonlySet<GroupField>): Group['key'] {
  const field = <T>(name: GroupField, value: T) => (groupBy.has(name) ? value : null);
  return {
    project_id: field('project_id', projectOrDefault(record.customerId, record.projectId)),
    user_id: null,
    api_key_id: field('api_key_id', record.apiKeyId ?? null),
    model: field('model', record.model),
    batch: field('batch', record.batch === true),
    line_item: field('line_item', lineItemOf(record)),
  };
}

function matches(record: UsageRecord, filter: RecordFilter): boolean {
  if (filter.userIds) return false;
  if (
    filter.projectIds &&
    !filter.projectIds.has(projectOrDefault(record.customerId, record.projectId))
  )
    return false;
  if (filter.apiKeyIds && !filter.apiKeyIds.has(record.apiKeyId ?? '')) return false;
  if (filter.models && !filter.models.has(record.model)) return false;
  if (filter.batch !== undefined && (record.batch === true) !== filter.batch) return false;
  return true;
}

/** The records of one bucket, grouped; groups in the order of their first record. */
function groupsOf(records: UsageRecord[], groupBy: ReadonlySet<GroupField>): Group[] {
  const groups = new Map<string, Group>();
  for (const record of records) {
    const key = groupKey(record, groupBy);
    const id = JSON.stringify(key);
    const group = groups.get(id) ?? { key, records: [] };
    groups.set(id, group);
    group.records.push(record);
  }
  return [...groups.values()];
}

export class OrganizationUsage {
  /**
   * @param audioModels speech-to-text models: their records count audio seconds where a chat
   * model's count input tokens, and are transcriptions, not completions.
   */
  constructor(
    private readonly doc: DocumentClient,
    private readonly tableName: string,
    private readonly audioModels: ReadonlySet<string> = new Set(),
  ) {}

  /** Chat completions and Responses (batch lines too): tokens and requests per bucket and group. */
  completions(customerId: string, query: BucketQuery, filter: RecordFilter, groupBy: GroupSet) {
    return this.page(customerId, query, filter, groupBy, {
      counts: (record) => !this.audioModels.has(record.model) && !isTraining(record.model),
      result: (group) => ({
        object: 'organization.usage.completions.result' as const,
        input_tokens: sum(group.records, 'inputTokens'),
        output_tokens: sum(group.records, 'outputTokens'),
        // Tierline's models keep no prompt cache and take text only.
        input_cached_tokens: 0,
        input_audio_tokens: 0,
        output_audio_tokens: 0,
        num_model_requests: group.records.length,
        project_id: group.key.project_id as string | null,
        user_id: null,
        api_key_id: group.key.api_key_id as string | null,
        model: group.key.model as string | null,
        batch: group.key.batch as boolean | null,
        service_tier: null,
      }),
    });
  }

  /** Speech to text: billed audio seconds (the ledger's input tokens of a speech model). */
  audioTranscriptions(
    customerId: string,
    query: BucketQuery,
    filter: RecordFilter,
    groupBy: GroupSet,
  ) {
    return this.page(customerId, query, filter, groupBy, {
      counts: (record) => this.audioModels.has(record.model),
      result: (group) => ({
        object: 'organization.usage.audio_transcriptions.result' as const,
        seconds: sum(group.records, 'inputTokens'),
        num_model_requests: group.records.length,
        project_id: group.key.project_id as string | null,
        user_id: null,
        api_key_id: group.key.api_key_id as string | null,
        model: group.key.model as string | null,
      }),
    });
  }

  /** What every record is billed, in USD, per day and group (a line item is a model, or its batch). */
  costs(customerId: string, query: BucketQuery, filter: RecordFilter, groupBy: GroupSet) {
    return this.page(customerId, query, filter, groupBy, {
      counts: () => true,
      result: (group) => {
        const lineItem = group.key.line_item as string | null;
        const audio = group.records.every((record) => this.audioModels.has(record.model));
        return {
          object: 'organization.costs.result' as const,
          // Integer µ$ summed exactly, then to dollars once.
          amount: {
            value: sum(group.records, 'costMicroUsd') / MICRO_USD_PER_USD,
            currency: 'usd',
          },
          line_item: lineItem,
          project_id: group.key.project_id as string | null,
          api_key_id: group.key.api_key_id as string | null,
          quantity: lineItem === null ? null : this.quantityOf(group.records),
          quantity_unit: lineItem === null ? null : audio ? 'duration_seconds' : 'tokens',
        };
      },
    });
  }

  /** Tokens in and out; a speech model's seconds of audio (its records' input tokens). */
  private quantityOf(records: UsageRecord[]): number {
    return records.reduce(
      (total, record) =>
        total + record.inputTokens + (this.audioModels.has(record.model) ? 0 : record.outputTokens),
      0,
    );
  }

  private async page<R>(
    customerId: string,
    query: BucketQuery,
    filter: RecordFilter,
    groupBy: GroupSet,
    kind: { counts: (record: UsageRecord) => boolean; result: (group: Group) => R },
  ): Promise<UsagePage<R>> {
    const width = BUCKET_SECONDS[query.width];
    const first = query.resumeAt ?? query.start - (query.start % width);
    const starts: number[] = [];
    for (let at = first; at < query.end && starts.length < query.limit; at += width)
      starts.push(at);
    const next = first + starts.length * width;
    const from = Math.max(query.start, first);
    const to = Math.min(query.end, next);
    const records = (
      to > from ? await this.records(customerId, from * 1000, to * 1000) : []
    ).filter((record) => kind.counts(record) && matches(record, filter));
    const byBucket = new Map<number, UsageRecord[]>();
    for (const record of records) {
      const seconds = Math.floor(Date.parse(record.startedAt) / 1000);
      const bucket = seconds - ((seconds - first) % width);
      const bucketRecords = byBucket.get(bucket) ?? [];
      byBucket.set(bucket, bucketRecords);
      bucketRecords.push(record);
    }
    return {
      object: 'page',
      data: starts.map((start) => ({
        object: 'bucket' as const,
        start_time: Math.max(start, query.start),
        end_time: Math.min(start + width, query.end),
        results: groupsOf(byBucket.get(start) ?? [], groupBy).map(kind.result),
      })),
      has_more: next < query.end,
      next_page: next < query.end ? pageCursor(next) : null,
    };
  }

  /**
   * The organization's ledger records that started in [fromMs, toMs): one range of each UTC day's
   * partition, read through its pages. The index's sort key is `<startedAt>#<requestId>`, so a
   * record starting at `toMs` sorts above `toMs`'s ISO time and is left out.
   */
  async records(customerId: string, fromMs: number, toMs: number): Promise<UsageRecord[]> {
    const from = new Date(fromMs).toISOString();
    const to = new Date(toMs).toISOString();
    const records: UsageRecord[] = [];
    for (let day = utcDay(from); day <= utcDay(new Date(toMs - 1).toISOString()); ) {
      const input = {
        TableName: this.tableName,
        IndexName: BY_DAY.name,
        KeyConditionExpression: '#pk = :pk AND #sk BETWEEN :from AND :to',
        ProjectionExpression:
          'customerId, model, startedAt, inputTokens, outputTokens, costMicroUsd, #batch, ' +
          'projectId, apiKeyId',
        ExpressionAttributeNames: {
          '#pk': BY_DAY.partitionKey,
          '#sk': BY_DAY.sortKey,
          // BATCH is one of DynamoDB's reserved words.
          '#batch': 'batch',
        },
        ExpressionAttributeValues: {
          ':pk': usagePartition(customerId, day),
          ':from': from,
          ':to': to,
        },
      };
      for await (const record of queryAll(this.doc, input, (item) => item as UsageRecord))
        records.push(record);
      day = utcDay(new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000).toISOString());
    }
    return records;
  }
}

export type GroupSet = ReadonlySet<GroupField>;
