import { randomBytes } from 'node:crypto';
import { QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { TierName } from '../../lib/config/schema';
import { applied } from '../storage/conditional-writes';
import type { DocumentClient } from '../storage/document-client';
import { and, compare, exists, notExists, update } from '../storage/expressions';
import { METERING_TABLE, RECORD_VERSION } from './metering-table';
import type { TokenPrices } from './pricing';

const { partitionKey: PK, sortKey: SK, byCustomerDayIndex: INDEX } = METERING_TABLE;

/**
 * The longest a request can run: the chat function's timeout (Lambda stops it there), which is also
 * API Gateway's 15-minute limit on a streamed response. The CDK app sets the function's timeout
 * from it.
 */
export const MAX_REQUEST_MS = 15 * 60_000;

/**
 * Past its maximum duration a request is given this long more before the reconciler takes it over:
 * clock skew between instances and the writes of its own billing. One still billing itself later is
 * never billed twice (crash-safety.ts rules 4, 5).
 */
export const RECONCILE_MARGIN_MS = 60_000;

/**
 * Partitions of the due-time index: the counter items holding requests spread over them (each index
 * partition takes about 1,000 writes/s, and while a counter item is indexed every write of it is
 * also an index write), and the reconciler reads all of them.
 */
export const DUE_SHARDS = 16;

/**
 * What a request in flight holds, for the reconciler of requests whose process died. It rides on
 * the request's counter hold (crash-safety.ts rule 3): attribute `r<holdId>` of the counter item,
 * beside the hold mark, written by the admission's update (which also puts the item into the
 * due-time index) and removed by the settlement's.
 */
export interface ReservationRecord {
  requestId: string;
  /** Names the hold marks on the counter and spend items (and the record's attribute on the counter item). */
  holdId: string;
  customerId: string;
  tier: TierName;
  /** The model whose counters hold the request (a fine-tune's base model). */
  model: string;
  /** The model id called, when it is not {@link ReservationRecord.model} (a fine-tune): the ledger names it. */
  calledModel?: string;
  /** UTC day (`YYYY-MM-DD`) of the counters, and month (`YYYY-MM`) of the spend item, of the request's start. */
  day: string;
  month: string;
  /** Whether the request holds spend (every request of a paying tier does). */
  spendHold: boolean;
  /** Prompt tokens counted at admission: what a crashed request is billed (see README). */
  inputTokens: number;
  prices: TokenPrices;
  /** ISO timestamps: the request's start (its ledger day) and the time after which the reconciler takes it. */
  startedAt: string;
  deadline: string;
  /** The request's project and key, so a reconciled record counts where the request ran. */
  projectId?: string;
  apiKeyId?: string;
  /** Whether the request holds spend on its project's month too (a project with a spend limit). */
  projectSpendHold?: boolean;
}

/**
 * A record as the counter item stores it: only what the item's key (customer, model, day) and the
 * attribute's name (hold id) do not already say, under short names, as epoch milliseconds. Every
 * request in flight adds one to a shared item, and every write of that item is charged by its whole
 * size (1 WCU per KB, in the table and again in the index, which projects all attributes): about
 * 100 bytes each.
 */
export interface StoredRecord {
  id: string;
  t: TierName;
  s: boolean;
  in: number;
  pi: number;
  po: number;
  at: number;
  dl: number;
  /** {@link ReservationRecord.calledModel}: only on a fine-tune's record. */
  m?: string;
  /** {@link ReservationRecord.projectId} and `apiKeyId`: absent on records written before them. */
  p?: string;
  k?: string;
  /** {@link ReservationRecord.projectSpendHold}: only when true. */
  ps?: boolean;
}

export function storedRecord(record: ReservationRecord): StoredRecord {
  return {
    id: record.requestId,
    t: record.tier,
    s: record.spendHold,
    in: record.inputTokens,
    pi: record.prices.inputMicroUsdPerMillion,
    po: record.prices.outputMicroUsdPerMillion,
    at: Date.parse(record.startedAt),
    dl: Date.parse(record.deadline),
    ...(record.calledModel === undefined ? {} : { m: record.calledModel }),
    ...(record.projectId === undefined ? {} : { p: record.projectId }),
    ...(record.apiKeyId === undefined ? {} : { k: record.apiKeyId }),
    ...(record.projectSpendHold ? { ps: true } : {}),
  };
}

/** The record a counter item stores, completed from where it is stored. */
export function recordFrom(
  stored: StoredRecord,
  where: { holdId: string; customerId: string; model: string; day: string },
): ReservationRecord {
  const startedAt = new Date(stored.at).toISOString();
  return {
    requestId: stored.id,
    holdId: where.holdId,
    customerId: where.customerId,
    tier: stored.t,
    model: where.model,
    ...(stored.m === undefined ? {} : { calledModel: stored.m }),
    day: where.day,
    month: startedAt.slice(0, 7),
    spendHold: stored.s,
    inputTokens: stored.in,
    prices: { inputMicroUsdPerMillion: stored.pi, outputMicroUsdPerMillion: stored.po },
    startedAt,
    deadline: new Date(stored.dl).toISOString(),
    ...(stored.p === undefined ? {} : { projectId: stored.p }),
    ...(stored.k === undefined ? {} : { apiKeyId: stored.k }),
    ...(stored.ps ? { projectSpendHold: true } : {}),
  };
}

/** A hold id: 12 base64url characters (72 bits), short because it names attributes on shared items. */
export function newHoldId(): string {
  return randomBytes(9).toString('base64url');
}

/** The due-time index partition of an item holding requests: spread by its key. */
export function dueShardOf(pk: string): number {
  let hash = 0;
  for (let i = 0; i < pk.length; i++) hash = (hash * 31 + pk.charCodeAt(i)) >>> 0;
  return hash % DUE_SHARDS;
}

/**
 * The due-index keys of item `pk` whose earliest record is due at `deadline` (ISO):
 * `RSVDUE#<shard>`, a partition no customer-day key can take, and `<deadline>#<pk>`.
 */
export function dueIndexKeys(pk: string, deadline: string): { partition: string; sort: string } {
  return { partition: duePartition(dueShardOf(pk)), sort: `${deadline}#${pk}` };
}

const duePartition = (shard: number) => `RSVDUE#${shard}`;

/** The due-time index of the items (counter items) that hold requests in flight. */
export class ReservationBook {
  constructor(
    private readonly doc: DocumentClient,
    private readonly tableName: string,
  ) {}

  /**
   * Keys of the items of due-index partition `shard` whose earliest record is due at or before
   * `now`, oldest first, a page at a time (the index is eventually consistent: read each item
   * itself, consistently).
   */
  async *due(shard: number, now: Date, pageSize = 100): AsyncGenerator<string> {
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: INDEX.name,
          KeyConditionExpression: '#gpk = :pk AND #gsk <= :due',
          ExpressionAttributeNames: {
            '#gpk': INDEX.partitionKey,
            '#gsk': INDEX.sortKey,
            '#pk': PK,
          },
          // `~` sorts after every character of a key: every item due at `now` itself is included.
          ExpressionAttributeValues: {
            ':pk': duePartition(shard),
            ':due': `${now.toISOString()}#~`,
          },
          ProjectionExpression: '#pk',
          Limit: pageSize,
          ExclusiveStartKey: start,
        }),
      );
      for (const item of page.Items ?? []) if (typeof item[PK] === 'string') yield item[PK];
      start = page.LastEvaluatedKey;
    } while (start);
  }

  /**
   * Moves item `key` in the due index to `deadline` (the earliest of its records left), or takes it
   * out (none left), only if no admission wrote it since it was read at version `seen` (attribute
   * {@link RECORD_VERSION}): an admission in between may have added a record the reader did not
   * see. Returns whether it applied.
   */
  async reindex(
    key: { pk: string; sk: string },
    deadline: string | undefined,
    seen: number | undefined,
  ): Promise<boolean> {
    const entry = deadline === undefined ? undefined : dueIndexKeys(key.pk, deadline);
    return applied(
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { [PK]: key.pk, [SK]: key.sk },
          ...update(
            entry
              ? { set: { [INDEX.partitionKey]: entry.partition, [INDEX.sortKey]: entry.sort } }
              : { remove: [INDEX.partitionKey, INDEX.sortKey] },
            seen === undefined
              ? and(exists(PK), notExists(RECORD_VERSION))
              : compare(RECORD_VERSION, '=', seen),
          ),
        }),
      ),
    );
  }
}
