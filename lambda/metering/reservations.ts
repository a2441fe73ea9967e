import { randomBytes } from 'node:crypto';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
} from '@aws-sdk/lib-dynamodb';
import type { TierName } from '../../lib/config/schema';
import { METERING_TABLE } from './metering-table';
import type { TokenPrices } from './pricing';

const { partitionKey: PK, sortKey: SK, byCustomerDayIndex: INDEX } = METERING_TABLE;

/**
 * The longest a request can run: the chat function's timeout (Lambda stops it there), which is also API
 * Gateway's 15-minute limit on a streamed response. The CDK app sets the function's timeout from it.
 */
export const MAX_REQUEST_MS = 15 * 60_000;

/**
 * Past its maximum duration a request is given this long more before the reconciler takes it over: clock skew
 * between instances and the writes of its own billing. A request that is still billing itself this late takes
 * the careful path (ledger first, see request-metering.ts), so even a later one is never billed twice.
 */
export const RECONCILE_MARGIN_MS = 60_000;

/**
 * Partitions of the due-time index: writes of reservation records spread over them (each index partition takes
 * about 1,000 writes/s; a record costs two, its put and its delete), and the reconciler reads all of them.
 */
export const DUE_SHARDS = 16;

/**
 * What a request in flight holds, written BEFORE its holds (rate-limit counters, monthly spend) are taken, and
 * deleted once it is billed: a request whose process died leaves it behind, past its deadline, for the
 * reconciler. It names where the holds are; the holds themselves are marks on the counter and spend items, set
 * by the updates that reserve (metering-table.ts `holdAttribute`), so the record can come first without knowing
 * the amounts, and a record whose holds were never taken (a refused request, a crash before admission) releases
 * nothing.
 */
export interface ReservationRecord {
  requestId: string;
  /** Names the hold marks on the counter and spend items. */
  holdId: string;
  customerId: string;
  tier: TierName;
  model: string;
  /** Counter shards of the customer's limits (the hold is on one of them). */
  shards: number;
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
}

/** A hold id: 12 base64url characters (72 bits), short because it names an attribute on shared items. */
export function newHoldId(): string {
  return randomBytes(9).toString('base64url');
}

/** The due-time index partition of a request: spread by its id. */
export function dueShardOf(requestId: string): number {
  let hash = 0;
  for (let i = 0; i < requestId.length; i++) hash = (hash * 31 + requestId.charCodeAt(i)) >>> 0;
  return hash % DUE_SHARDS;
}

const recordKey = (requestId: string) => ({ [PK]: `RSV#${requestId}`, [SK]: 'RSV' });
const duePartition = (shard: number) => `RSVDUE#${shard}`;

/** The reservation records of the metering table. */
export class ReservationBook {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  /** One PutItem (a request id is used once: a retry of the same request writes the same record). */
  async put(record: ReservationRecord): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          ...recordKey(record.requestId),
          [INDEX.partitionKey]: duePartition(dueShardOf(record.requestId)),
          [INDEX.sortKey]: `${record.deadline}#${record.requestId}`,
          ...record,
        },
      }),
    );
  }

  /** One DeleteItem; deleting a record that is gone is a no-op. */
  async delete(requestId: string): Promise<void> {
    await this.doc.send(new DeleteCommand({ TableName: this.tableName, Key: recordKey(requestId) }));
  }

  /** The record as the table has it now (consistent): the index may still list a deleted one. */
  async get(requestId: string): Promise<ReservationRecord | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: recordKey(requestId), ConsistentRead: true }),
    );
    if (!Item) return undefined;
    const { [PK]: _pk, [SK]: _sk, [INDEX.partitionKey]: _gpk, [INDEX.sortKey]: _gsk, ...record } = Item;
    return record as ReservationRecord;
  }

  /**
   * Request ids of the records of due-index partition `shard` whose deadline is at or before `now`, oldest
   * first, a page at a time (the index is eventually consistent: confirm each with `get`).
   */
  async *due(shard: number, now: Date, pageSize = 100): AsyncGenerator<string> {
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: INDEX.name,
          KeyConditionExpression: '#pk = :pk AND #sk <= :due',
          ExpressionAttributeNames: { '#pk': INDEX.partitionKey, '#sk': INDEX.sortKey },
          // `~` sorts after every character of a request id: every record due at `now` itself is included.
          ExpressionAttributeValues: { ':pk': duePartition(shard), ':due': `${now.toISOString()}#~` },
          ProjectionExpression: 'requestId',
          Limit: pageSize,
          ExclusiveStartKey: start,
        }),
      );
      for (const item of page.Items ?? []) if (typeof item.requestId === 'string') yield item.requestId;
      start = page.LastEvaluatedKey;
    } while (start);
  }
}
