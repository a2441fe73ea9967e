import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { ModelLimits } from '../../lib/config/schema';
import { applied, isConditionFailure } from '../storage/conditional-writes';
import type { DocumentClient } from '../storage/document-client';
import {
  and,
  compare,
  type ExpressionFields,
  exists,
  ifNotExists,
  notExists,
  or,
  update,
  value,
} from '../storage/expressions';
import { holdAttribute, METERING_TABLE, RECORD_VERSION, recordAttribute } from './metering-table';
import {
  type LimitCounters,
  type LimitRefusal,
  NO_USAGE,
  refusalFor,
  shardCount,
  shardLimits,
  shortWindowOf,
  sumCounters,
  tightestLimit,
  usedOf,
  utcWindows,
} from './rate-limits';
import {
  dueIndexKeys,
  type ReservationRecord,
  recordFrom,
  type StoredRecord,
  storedRecord,
} from './reservations';

const { partitionKey: PK, sortKey: SK, byCustomerDayIndex: INDEX } = METERING_TABLE;

/**
 * Update-then-explain rounds per shard before a refusal is given up on. A round is retried only
 * when the read shows room the update did not find (a settlement or release freed some in between),
 * so a third round is already rare.
 */
const MAX_ROUNDS = 3;

/** `fixed`: the client set max_completion_tokens. `upTo`: it did not; reserve what is left, up to this. */
export type OutputTokens = { fixed: number } | { upTo: number };

export interface AdmitInput {
  customerId: string;
  model: string;
  limits: ModelLimits;
  /** Estimated prompt tokens. */
  inputTokens: number;
  outputTokens: OutputTokens;
  /**
   * Marks the reservation on the counter item (attribute {@link holdAttribute}, holding the
   * reserved tokens), in the same conditional update that reserves (crash-safety.ts rule 1).
   */
  holdId?: string;
  /**
   * The request's reservation record (its `holdId` names the hold; {@link AdmitInput.holdId} is
   * then not needed), written beside the hold mark with the item's due-index entry (crash-safety.ts
   * rule 3).
   */
  record?: ReservationRecord;
  /** Epoch ms that decides the reservation's day (the request's start, as its reservation record says). */
  atMs?: number;
}

/** A request held on a counter item, as the reconciler finds it: its record and its hold. */
export interface HeldRequest {
  record: ReservationRecord;
  hold: Reservation;
}

/** A counter item's records, read consistently, with the version they were read at. */
export interface HeldItem {
  key: { pk: string; sk: string };
  /** {@link RECORD_VERSION} as read: undefined on an item no admission with a record wrote. */
  version: number | undefined;
  requests: HeldRequest[];
}

/** What an admission holds: the counter item it wrote to and what it reserved there. */
export interface Reservation {
  customerId: string;
  model: string;
  day: string;
  minute: string;
  shard: number;
  /** inputTokens + outputAllowance, counted against the minute and the day. */
  reservedTokens: number;
  /** Cap the model's max_tokens at this: then usage never exceeds what was reserved for output. */
  outputAllowance: number;
  /** The hold mark on the counter item, when the admission set one (see {@link AdmitInput.holdId}). */
  holdId?: string;
}

export type Admission =
  | { admitted: true; reservation: Reservation; counters: LimitCounters }
  | ({ admitted: false; counters: LimitCounters } & LimitRefusal)
  /** Larger than the limit itself: no wait helps (Groq answers 413). No DynamoDB call is made. */
  | {
      admitted: false;
      reason: 'request_too_large';
      limitName: 'tpm' | 'tpd';
      limit: number;
      requested: number;
    };

export interface LimiterOptions {
  /** Epoch milliseconds; tests move it. */
  now?: () => number;
  /** Counter shards per (customer, model, day). Default {@link shardCount}; tests force sharding with it. */
  shards?: (limits: ModelLimits) => number;
}

interface CounterKey {
  customerId: string;
  model: string;
  day: string;
  shard: number;
}

type ShardResult =
  | { admitted: true; reservation: Reservation; counters: LimitCounters }
  | { admitted: false; refusal: LimitRefusal; counters: LimitCounters };

/**
 * Requests and tokens per minute and per day, per customer and model, on counter items of the
 * metering table: `LIM#<customerId>#<model>#<day>#<shard>` holds the day (`rd`, `td`) and the
 * current minute of that day (`mid`, `mr`, `mt`). Every admission is a conditional update that
 * checks and reserves in one step, so concurrent requests never admit more than a limit (no
 * transactions, no TTL: dynalite has neither). The same item carries each request's hold mark and
 * reservation record while it holds (see {@link AdmitInput.record}).
 */
export class Limiter {
  private readonly now: () => number;
  private readonly shards: (limits: ModelLimits) => number;

  constructor(
    private readonly doc: DocumentClient,
    private readonly tableName: string,
    options: LimiterOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.shards = options.shards ?? shardCount;
  }

  /** How many counter shards `limits` are split over (where a request's hold may be). */
  shardCountOf(limits: ModelLimits): number {
    return this.shards(limits);
  }

  async admit(input: AdmitInput): Promise<Admission> {
    const { customerId, model, limits, inputTokens, outputTokens } = input;
    assertCount('inputTokens', inputTokens, 0);
    if ('fixed' in outputTokens) assertCount('outputTokens.fixed', outputTokens.fixed, 0);
    else assertCount('outputTokens.upTo', outputTokens.upTo, 1);
    const nowMs = input.atMs ?? this.now();
    const { day } = utcWindows(nowMs);
    const shards = this.shards(limits);
    // A single request must fit one shard; shard 0 has the largest part.
    const largest = shardLimits(limits, shards, 0);
    const smallest = inputTokens + ('fixed' in outputTokens ? outputTokens.fixed : 1);
    for (const limitName of ['tpm', 'tpd'] as const) {
      if (smallest > largest[limitName]) {
        return {
          admitted: false,
          reason: 'request_too_large',
          limitName,
          limit: largest[limitName],
          requested: smallest,
        };
      }
    }
    // Start at a random shard so that concurrent requests spread; try all so that none is refused
    // while a shard has room: the parts sum to the limit, so the shards together admit exactly the
    // limit.
    const start = Math.floor(Math.random() * shards);
    const refused: { refusal: LimitRefusal; counters: LimitCounters }[] = [];
    for (let i = 0; i < shards; i++) {
      const shard = (start + i) % shards;
      const key = { customerId, model, day, shard };
      const result = await this.admitOnShard(key, shardLimits(limits, shards, shard), input, nowMs);
      if (result.admitted) {
        // One shard's counters stand for all of them: reading every shard would cost a read per
        // shard.
        return shards === 1
          ? result
          : { ...result, counters: scaleCounters(result.counters, shards) };
      }
      refused.push(result);
    }
    // Report the shard that frees up first, against the whole limit and the usage of all shards
    // read.
    const counters = sumCounters(refused.map((r) => r.counters));
    const soonest = refused
      .map((r) => r.refusal)
      .reduce((a, b) => (b.retryAfterMs < a.retryAfterMs ? b : a));
    const used = usedOf(soonest.reason, counters);
    return { admitted: false, ...soonest, limit: limits[soonest.reason], used, counters };
  }

  /**
   * Corrects a reservation to the tokens actually used (input + output, as the model counted them).
   * More than reserved is counted too (a low prompt estimate): the counters tell the truth and
   * later requests see less. A marked reservation is corrected only while its mark is there (once,
   * by whoever comes first); returns whether this call applied it.
   */
  async settle(reservation: Reservation, actualTokens: number): Promise<boolean> {
    assertCount('actualTokens', actualTokens, 0);
    const delta = actualTokens - reservation.reservedTokens;
    if (delta === 0 && reservation.holdId === undefined) return true;
    return this.adjust(reservation, 0, delta);
  }

  /** Gives back the request and its tokens, for a request that never reached the model. Same rule as `settle`. */
  async release(reservation: Reservation): Promise<boolean> {
    return this.adjust(reservation, -1, -reservation.reservedTokens);
  }

  /**
   * The requests held on counter item `pk` (a key the due-time index gave): one consistent GetItem.
   * Undefined for a key that is not a counter item's.
   */
  async heldAt(pk: string): Promise<HeldItem | undefined> {
    const key = counterKeyOf(pk);
    if (!key) return undefined;
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: counterKey(key), ConsistentRead: true }),
    );
    if (!Item) return undefined;
    const requests: HeldRequest[] = [];
    for (const [name, value] of Object.entries(Item)) {
      const holdId = name.slice(1);
      if (name !== recordAttribute(holdId) || typeof value !== 'object' || value === null) continue;
      const reserved = Item[holdAttribute(holdId)];
      // Written and removed together with the record: never apart.
      if (typeof reserved !== 'number') continue;
      const record = recordFrom(value as StoredRecord, { ...key, holdId });
      // The minute is not known (nor needed: a held request found this late is past its minute's
      // window).
      requests.push({
        record,
        hold: { ...key, minute: '', reservedTokens: reserved, outputAllowance: 0, holdId },
      });
    }
    const version = Item[RECORD_VERSION];
    return {
      key: { pk, sk: 'LIM' },
      version: typeof version === 'number' ? version : undefined,
      requests,
    };
  }

  /** The counters of the current windows, summed over shards: for the headers of a request not admitted. */
  async peek(input: {
    customerId: string;
    model: string;
    limits: ModelLimits;
  }): Promise<LimitCounters> {
    const { day, minute } = utcWindows(this.now(), shortWindowOf(input.limits));
    const shards = Array.from({ length: this.shards(input.limits) }, (_, shard) => shard);
    // Headers are advisory: an eventually consistent read (half the cost) is good enough.
    const reads = shards.map((shard) => this.read({ ...input, day, shard }, minute, false));
    return sumCounters((await Promise.all(reads)).map((r) => r.counters));
  }

  private async admitOnShard(
    key: CounterKey,
    limits: ModelLimits,
    { inputTokens, outputTokens, holdId: markOnly, record }: AdmitInput,
    nowMs: number,
  ): Promise<ShardResult> {
    const holdId = record?.holdId ?? markOnly;
    const smallest = inputTokens + ('fixed' in outputTokens ? outputTokens.fixed : 1);
    // A shard whose part of a limit is smaller than one request (limits below the shard count)
    // never admits.
    const never = refusalFor(limits, NO_USAGE, smallest, nowMs);
    if (never) return { admitted: false, refusal: never, counters: NO_USAGE };
    let allowance =
      'fixed' in outputTokens
        ? outputTokens.fixed
        : Math.min(outputTokens.upTo, limits.tpm - inputTokens, limits.tpd - inputTokens);
    let minute = utcWindows(nowMs, shortWindowOf(limits)).minute;
    let counters = NO_USAGE;
    let itemInMinute = false;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const reservedTokens = inputTokens + allowance;
      const updated = await this.reserve(
        key,
        limits,
        minute,
        reservedTokens,
        !itemInMinute,
        holdId,
        record,
      );
      if (updated) {
        const reservation: Reservation = {
          ...key,
          minute,
          reservedTokens,
          outputAllowance: allowance,
          holdId,
        };
        return { admitted: true, reservation, counters: updated };
      }
      ({ minute, counters, itemInMinute } = await this.read(key, minute, true));
      const refusal = refusalFor(limits, counters, smallest, nowMs);
      if (refusal) return { admitted: false, refusal, counters };
      // Room for the smallest request: a default (`upTo`) request takes what is left of the minute
      // and day.
      if ('upTo' in outputTokens) {
        const left = Math.min(
          limits.tpm - counters.tokensThisMinute,
          limits.tpd - counters.tokensToday,
        );
        allowance = Math.min(allowance, left - inputTokens);
      }
    }
    return { admitted: false, refusal: tightestLimit(limits, counters, smallest, nowMs), counters };
  }

  /**
   * Checks and reserves in one conditional update: first assuming the item is in `minute` (the
   * steady state: one call), then, unless a read showed the item in `minute` already, assuming
   * `minute` is new to it (first request of a minute or a day). Returns the counters after the
   * update, or undefined when a limit (or the attempts' assumptions) refused it.
   */
  private async reserve(
    key: CounterKey,
    limits: ModelLimits,
    minute: string,
    reservedTokens: number,
    mayBeNewMinute: boolean,
    holdId: string | undefined,
    record: ReservationRecord | undefined,
  ): Promise<LimitCounters | undefined> {
    // The hold mark and the record are set by the very update that reserves (crash-safety.ts rules
    // 1, 3). In the due index, if_not_exists keeps an earlier deadline (the reconciler then only
    // looks earlier), and `rv` tells a reconciler that read the item before of this record.
    const hold = holdId === undefined ? {} : { [holdAttribute(holdId)]: reservedTokens };
    const withRecord =
      holdId !== undefined && record ? recordWrite(key, record) : { set: {}, add: {} };
    const dayFits = [
      compare('rd', '<', limits.rpd),
      compare('td', '<=', limits.tpd - reservedTokens),
    ];
    const sameMinute = await this.conditionalUpdate(
      key,
      update(
        {
          add: { mr: 1, mt: reservedTokens, rd: 1, td: reservedTokens, ...withRecord.add },
          set: { ...hold, ...withRecord.set },
        },
        and(
          compare('mid', '=', minute),
          compare('mr', '<', limits.rpm),
          compare('mt', '<=', limits.tpm - reservedTokens),
          ...dayFits,
        ),
      ),
    );
    if (sameMinute || !mayBeNewMinute) return sameMinute;
    // The new minute starts at this request, which fits the minute limits by itself (checked
    // before).
    return this.conditionalUpdate(
      key,
      update(
        {
          set: { mid: minute, mr: 1, mt: reservedTokens, ...hold, ...withRecord.set },
          add: { rd: 1, td: reservedTokens, ...withRecord.add },
        },
        and(
          or(notExists('mid'), compare('mid', '<', minute)),
          or(notExists('rd'), and(...dayFits)),
        ),
      ),
    );
  }

  private async conditionalUpdate(
    key: CounterKey,
    expressions: ExpressionFields,
  ): Promise<LimitCounters | undefined> {
    try {
      const { Attributes = {} } = await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: counterKey(key),
          ReturnValues: 'UPDATED_NEW',
          ...expressions,
        }),
      );
      return {
        requestsToday: numberOf(Attributes.rd),
        tokensToday: numberOf(Attributes.td),
        requestsThisMinute: numberOf(Attributes.mr),
        tokensThisMinute: numberOf(Attributes.mt),
      };
    } catch (error) {
      if (isConditionFailure(error)) return undefined;
      throw error;
    }
  }

  /**
   * The item's counters as of `minute`. An item already in a later minute was written by an
   * instance whose clock runs slightly ahead: adopt its minute rather than refuse until this clock
   * catches up.
   */
  private async read(
    key: CounterKey,
    minute: string,
    consistent: boolean,
  ): Promise<{ minute: string; itemInMinute: boolean; counters: LimitCounters }> {
    const { Item = {} } = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: counterKey(key),
        ConsistentRead: consistent,
      }),
    );
    const itemMinute = typeof Item.mid === 'string' ? Item.mid : undefined;
    const current = itemMinute !== undefined && itemMinute > minute ? itemMinute : minute;
    const itemInMinute = itemMinute === current;
    return {
      minute: current,
      itemInMinute,
      counters: {
        requestsToday: numberOf(Item.rd),
        tokensToday: numberOf(Item.td),
        requestsThisMinute: itemInMinute ? numberOf(Item.mr) : 0,
        tokensThisMinute: itemInMinute ? numberOf(Item.mt) : 0,
      },
    };
  }

  /**
   * Adds to the day counters of the reservation's item, and to its minute counters while the item
   * is still in the reservation's minute; once that minute has ended its counters no longer limit
   * anything. With a hold mark, only while the mark is there, removing it and the request's
   * reservation record (if it has one) in the same update. Returns whether the update applied.
   */
  private async adjust(
    reservation: Reservation,
    requests: number,
    tokens: number,
  ): Promise<boolean> {
    const day: Record<string, number> =
      requests === 0 ? { td: tokens } : { rd: requests, td: tokens };
    const minute: Record<string, number> =
      requests === 0 ? { mt: tokens } : { mr: requests, mt: tokens };
    const Key = counterKey(reservation);
    const { holdId } = reservation;
    const remove = holdId === undefined ? [] : [holdAttribute(holdId), recordAttribute(holdId)];
    const held = holdId === undefined ? [] : [exists(holdAttribute(holdId))];
    const write = (expressions: ExpressionFields) => {
      const command = new UpdateCommand({ TableName: this.tableName, Key, ...expressions });
      return applied(this.doc.send(command));
    };
    if (
      await write(
        update(
          { add: { ...day, ...minute }, remove },
          and(compare('mid', '=', reservation.minute), ...held),
        ),
      )
    ) {
      return true;
    }
    // Never create an item of negative counters (the item exists: admission wrote it, nothing
    // expires).
    return write(update({ add: day, remove }, held[0] ?? exists(PK)));
  }
}

function counterKey({ customerId, model, day, shard }: CounterKey): Record<string, string> {
  return { [PK]: `LIM#${customerId}#${model}#${day}#${shard}`, [SK]: 'LIM' };
}

/** What an admission adds to its update to write the request's record and index the counter item by due time. */
function recordWrite(key: CounterKey, record: ReservationRecord) {
  const entry = dueIndexKeys(counterKey(key)[PK] as string, record.deadline);
  return {
    set: {
      [recordAttribute(record.holdId)]: storedRecord(record),
      [INDEX.partitionKey]: ifNotExists(INDEX.partitionKey, value(entry.partition)),
      [INDEX.sortKey]: ifNotExists(INDEX.sortKey, value(entry.sort)),
    },
    add: { [RECORD_VERSION]: 1 },
  };
}

/** The counter key of `pk`, read from both ends (customer ids have no `#`; the model is what is between). */
function counterKeyOf(pk: string): CounterKey | undefined {
  const parts = pk.split('#');
  if (parts[0] !== 'LIM' || parts.length < 5) return undefined;
  const shard = Number(parts[parts.length - 1]);
  if (!Number.isInteger(shard)) return undefined;
  return {
    customerId: parts[1] as string,
    model: parts.slice(2, -2).join('#'),
    day: parts[parts.length - 2] as string,
    shard,
  };
}

function numberOf(value: unknown): number {
  return typeof value === 'number' ? value : 0;
}

function scaleCounters(counters: LimitCounters, factor: number): LimitCounters {
  return {
    requestsToday: counters.requestsToday * factor,
    tokensToday: counters.tokensToday * factor,
    requestsThisMinute: counters.requestsThisMinute * factor,
    tokensThisMinute: counters.tokensThisMinute * factor,
  };
}

function assertCount(name: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min)
    throw new RangeError(`${name} must be an integer >= ${min}: ${value}`);
}
