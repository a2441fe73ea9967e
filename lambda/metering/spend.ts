import { randomUUID } from 'node:crypto';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { applied, isConditionFailure } from '../storage/conditional-writes';
import type { DocumentClient } from '../storage/document-client';
import {
  and,
  compare,
  exists,
  ifNotExists,
  minus,
  notExists,
  or,
  update,
  value,
} from '../storage/expressions';
import { holdAttribute, METERING_TABLE } from './metering-table';

const { partitionKey: PK, sortKey: SK } = METERING_TABLE;

/**
 * Monthly spend (UTC month) of a paying customer, for the spend limit and its alerts:
 * `SPEND#<customerId>#<month>` / `SPEND`, amounts in integer µ$:
 * - `committedMicroUsd`: cost of settled requests (every request of a paying tier, limit or not, so
 *   the spend is known to the enforcement whenever a limit is set);
 * - `reservedMicroUsd`: maximum cost of admitted requests not settled yet;
 * - `usedMicroUsd` = committed + reserved;
 * - `limitMicroUsd`: the limit that applies this month ({@link NO_LIMIT} for none). Setting a limit
 *   (API or CLI) writes it here at once, so it binds the next request, whatever the authorizer
 *   cache still holds; the first request of a month seeds it from the authorizer context (the
 *   customer's key item);
 * - `headroomMicroUsd` = limit - used, kept as its own attribute because a condition expression
 *   cannot subtract: admission compares it alone against the request's maximum cost;
 * - `alerted<percent>`: set once when that alert threshold was published this month.
 *
 * This is an enforcement counter, not the bill (the ledger is): `settle` adds, so a settle retried
 * after a lost response counts twice. Over-counting only blocks earlier; it never lets spend
 * overshoot the limit.
 */

/** `limitMicroUsd` of a month without a limit. */
export const NO_LIMIT = -1;

/** An admitted request's hold on the month it was admitted in: pass it to `settle`. */
export interface SpendReservation {
  customerId: string;
  /** `YYYY-MM`: the month of admission, also the month the request is settled in. */
  month: string;
  /** The request's maximum cost, held until it is settled. */
  reservedMicroUsd: number;
  /** The month's limit at admission, if any. */
  limitMicroUsd?: number;
  /** The hold mark on the month item (see `reserve`'s `holdId`), when the reservation set one. */
  holdId?: string;
  /**
   * A batch line's share of its batch's reservation: the settle also adds what it releases and
   * commits to the batch's sums on the month item, and applies only until the batch's remainder was
   * settled ({@link SpendTracker.settleBatchRemainder}), so each line's share is settled once in
   * all.
   */
  batchId?: string;
  /**
   * The batch's reservation is marked on the month item (`bhold_`, batches since the mark moved
   * off the item): its line settlements apply while the mark is there. Absent: an older batch,
   * whose lines apply until its `bdone_` mark is set.
   */
  batchHeld?: boolean;
}

/**
 * A batch's attributes on the month item while it runs, all removed by its end's settlement, so
 * the item carries nothing per finished batch (a `bdone_` mark per batch reached DynamoDB's 400 KB
 * item limit at about 10,000 batches a month, after which every settle and reservation on the
 * item failed): `hold` (its reservation, set by `reserve`: the mark that its line settlements
 * still apply), `reserved`/`cost` (the sums its line settlements released and committed). `done`
 * is only read and written for batches reserved before `hold` existed.
 */
const batchAttributes = (batchId: string) => ({
  hold: `bhold_${batchId}`,
  reserved: `bres_${batchId}`,
  cost: `bcost_${batchId}`,
  done: `bdone_${batchId}`,
});

/** A settlement's four counters: `reserved` held before, `actual` the cost now known. */
const settled = (reserved: number, actual: number) => ({
  usedMicroUsd: actual - reserved,
  reservedMicroUsd: -reserved,
  committedMicroUsd: actual,
  headroomMicroUsd: reserved - actual,
});

const LIMIT = 'limitMicroUsd';
const HEADROOM = 'headroomMicroUsd';

export type ReserveResult =
  | { admitted: true; reservation: SpendReservation }
  | { admitted: false; spentMicroUsd: number; reservedMicroUsd: number; limitMicroUsd: number };

export interface SpendAlert {
  customerId: string;
  month: string;
  thresholdPercent: number;
  spentMicroUsd: number;
  limitMicroUsd: number;
}

/** Where threshold alerts go (EventBridge in AWS). Called at most once per threshold, customer and month. */
export interface SpendAlertPublisher {
  publish(alert: SpendAlert): Promise<void>;
}

export interface SettleResult {
  month: string;
  /** False when the reservation's hold mark was gone: someone else (the reconciler, a retry) settled it. */
  applied: boolean;
  committedMicroUsd: number;
  /** Thresholds published by this settle. */
  published: number[];
  /** Thresholds that could not be marked or published; marks were released so a later settle publishes them. */
  failed: { thresholdPercent: number; error: unknown }[];
  /** The customer's spend alerts (spend-alert-rules.ts) this settle e-mailed. */
  mailed: string[];
  /** Why the customer's spend alerts could not be checked or sent (the next settle tries again). */
  mailFailure?: unknown;
}

/** The customer's own spend alerts, checked against the month item every settle returns. */
export interface SpendAlertFiring {
  fire(scope: string, month: string, item: Record<string, unknown>): Promise<string[]>;
}

export interface MonthSpend {
  month: string;
  spentMicroUsd: number;
  reservedMicroUsd: number;
  /** The limit the enforcement applies this month, when one is set. */
  limitMicroUsd?: number;
}

/** `YYYY-MM` of a date, UTC. */
export function utcMonth(date: Date): string {
  return date.toISOString().slice(0, 7);
}

export const spendKey = (customerId: string, month: string) => ({
  [PK]: `SPEND#${customerId}#${month}`,
  [SK]: 'SPEND',
});

const alertAttribute = (percent: number) => `alerted${percent}`;

function amount(value: number, what: string): number {
  if (!Number.isSafeInteger(value) || value < 0)
    throw new RangeError(`${what} must be a non-negative integer (µ$)`);
  return value;
}

function monthSpendOf(month: string, item: Record<string, unknown>): MonthSpend {
  return {
    month,
    spentMicroUsd: (item.committedMicroUsd as number | undefined) ?? 0,
    reservedMicroUsd: (item.reservedMicroUsd as number | undefined) ?? 0,
    limitMicroUsd:
      typeof item.limitMicroUsd === 'number' && item.limitMicroUsd !== NO_LIMIT
        ? item.limitMicroUsd
        : undefined,
  };
}

export class SpendTracker {
  constructor(
    private readonly doc: DocumentClient,
    private readonly tableName: string,
    private readonly alerts: SpendAlertPublisher,
    private readonly now: () => Date = () => new Date(),
    private readonly alertRules?: SpendAlertFiring,
  ) {}

  /**
   * Admits a request whose cost is at most `maxCostMicroUsd` if it fits under the month's limit
   * even when every admitted request costs its maximum: one conditional UpdateItem (a GetItem more
   * when refused, for the amounts to report). Concurrent requests cannot overshoot the limit. The
   * limit is the month item's, which `setLimit` keeps current; `seedLimitMicroUsd` (from the
   * authorizer context) only applies to a month that has no item yet. Without a limit the request
   * is admitted and its reservation still counted, so a limit set while it runs already knows about
   * it. With `holdId`, the same update marks the hold on the month item (attribute `h<holdId>` =
   * the amount held: crash-safety.ts rule 1). `at` decides the month (the request's start); default
   * now.
   */
  async reserve(
    customerId: string,
    seedLimitMicroUsd: number | undefined,
    maxCostMicroUsd: number,
    options: { holdId?: string; at?: Date; batchId?: string } = {},
  ): Promise<ReserveResult> {
    const month = utcMonth(options.at ?? this.now());
    const max = amount(maxCostMicroUsd, 'maxCostMicroUsd');
    const seed =
      seedLimitMicroUsd === undefined ? NO_LIMIT : amount(seedLimitMicroUsd, 'seedLimitMicroUsd');
    const newMonthFits = seed === NO_LIMIT || seed >= max;
    try {
      const { Attributes: item = {} } = await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: spendKey(customerId, month),
          ...update(
            {
              set: {
                [LIMIT]: ifNotExists(LIMIT, value(seed)),
                [HEADROOM]: minus(ifNotExists(HEADROOM, value(seed)), value(max)),
                ...(options.holdId === undefined ? {} : { [holdAttribute(options.holdId)]: max }),
                ...(options.batchId === undefined
                  ? {}
                  : { [batchAttributes(options.batchId).hold]: max }),
              },
              add: { usedMicroUsd: max, reservedMicroUsd: max },
            },
            and(
              // A batch is reserved once: a second delivery of its start finds the mark.
              ...(options.batchId === undefined
                ? []
                : [notExists(batchAttributes(options.batchId).hold)]),
              or(
                ...(newMonthFits ? [notExists(LIMIT)] : []),
                compare(LIMIT, '=', NO_LIMIT),
                compare(HEADROOM, '>=', max),
              ),
            ),
          ),
          ReturnValues: 'UPDATED_NEW',
        }),
      );
      const limit = item.limitMicroUsd as number | undefined;
      const limitMicroUsd = limit === undefined || limit === NO_LIMIT ? undefined : limit;
      const reservation: SpendReservation = {
        customerId,
        month,
        reservedMicroUsd: max,
        limitMicroUsd,
      };
      if (options.holdId !== undefined) reservation.holdId = options.holdId;
      if (options.batchId !== undefined) {
        reservation.batchId = options.batchId;
        reservation.batchHeld = true;
      }
      return { admitted: true, reservation };
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
    const item = await this.readItem(customerId, month);
    const heldBefore = options.batchId && item[batchAttributes(options.batchId).hold];
    if (options.batchId && typeof heldBefore === 'number') {
      // Reserved by an earlier delivery of the batch's start (which crashed, or runs beside this
      // one): the same reservation, held once.
      return {
        admitted: true,
        reservation: {
          customerId,
          month,
          reservedMicroUsd: heldBefore,
          limitMicroUsd: monthSpendOf(month, item).limitMicroUsd,
          batchId: options.batchId,
          batchHeld: true,
        },
      };
    }
    const spend = monthSpendOf(month, item);
    return {
      admitted: false,
      spentMicroUsd: spend.spentMicroUsd,
      reservedMicroUsd: spend.reservedMicroUsd,
      limitMicroUsd: spend.limitMicroUsd ?? seed,
    };
  }

  /**
   * Makes `limitMicroUsd` (undefined: no limit) the limit of this month and the next one, at once:
   * the next request is checked against it, whatever the authorizer cache still says. The headroom
   * is recomputed from what the month has used so far (committed and reserved), in the same
   * single-item update, so no request settling meanwhile is missed. The next month is written too,
   * so a limit set just before a month ends does not depend on the cache at the first request of
   * the new month.
   */
  async setLimit(customerId: string, limitMicroUsd: number | undefined): Promise<void> {
    const limit = limitMicroUsd === undefined ? NO_LIMIT : amount(limitMicroUsd, 'limitMicroUsd');
    const thisMonth = this.now();
    const nextMonth = new Date(
      Date.UTC(thisMonth.getUTCFullYear(), thisMonth.getUTCMonth() + 1, 1),
    );
    for (const month of [utcMonth(thisMonth), utcMonth(nextMonth)]) {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: spendKey(customerId, month),
          ...update({
            set: {
              [LIMIT]: limit,
              [HEADROOM]: minus(value(limit), ifNotExists('usedMicroUsd', value(0))),
            },
          }),
        }),
      );
    }
  }

  /**
   * Replaces the reservation with the actual cost: one UpdateItem returning the item (ALL_NEW, so
   * the alert marks come back too). Then, for each threshold reached and not marked yet, one
   * conditional UpdateItem marks it and only the settle whose mark succeeded publishes: each
   * threshold fires once per month, under concurrency and retries. A threshold reached but not
   * published (a crash between the two) is published by the next settle. Without a limit there are
   * no alerts: one call, or none for a free request. Throws only when the first update fails; alert
   * failures are returned, because a caller that retried a settle that had committed would count
   * the request twice. A reservation with a hold mark applies only while the mark is there
   * (removing it in the same update): `applied: false` when it was settled already.
   */
  async settle(
    reservation: SpendReservation,
    actualCostMicroUsd: number,
    alertThresholdsPercent: readonly number[] = [],
  ): Promise<SettleResult> {
    const { customerId, month, reservedMicroUsd } = reservation;
    const actual = amount(actualCostMicroUsd, 'actualCostMicroUsd');
    const result: SettleResult = {
      month,
      applied: true,
      committedMicroUsd: 0,
      published: [],
      failed: [],
      mailed: [],
    };
    const { holdId, batchId } = reservation;
    if (actual === 0 && reservedMicroUsd === 0 && holdId === undefined) return result;

    const batch = batchId === undefined ? undefined : batchAttributes(batchId);
    const conditions = [
      ...(holdId === undefined ? [] : [exists(holdAttribute(holdId))]),
      ...(batch ? [reservation.batchHeld ? exists(batch.hold) : notExists(batch.done)] : []),
    ];
    let item: Record<string, unknown>;
    try {
      ({ Attributes: item = {} } = await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: spendKey(customerId, month),
          ...update(
            {
              add: {
                ...settled(reservedMicroUsd, actual),
                ...(batch ? { [batch.reserved]: reservedMicroUsd, [batch.cost]: actual } : {}),
              },
              remove: holdId === undefined ? [] : [holdAttribute(holdId)],
            },
            conditions.length > 0 ? and(...conditions) : undefined,
          ),
          ReturnValues: 'ALL_NEW',
        }),
      ));
    } catch (error) {
      if ((holdId === undefined && batchId === undefined) || !isConditionFailure(error))
        throw error;
      return { ...result, applied: false };
    }
    const committed = (item.committedMicroUsd as number | undefined) ?? 0;
    result.committedMicroUsd = committed;
    if (this.alertRules) {
      try {
        result.mailed = await this.alertRules.fire(customerId, month, item);
      } catch (error) {
        result.mailFailure = error;
      }
    }
    // The month's limit as it is now (it may have changed since admission); none: no alerts.
    const itemLimit = item.limitMicroUsd as number | undefined;
    const limitMicroUsd =
      itemLimit === undefined
        ? reservation.limitMicroUsd
        : itemLimit === NO_LIMIT
          ? undefined
          : itemLimit;
    if (limitMicroUsd === undefined) return result;

    // Integer comparison: committed / limit >= percent / 100 without rounding either side.
    const reached = alertThresholdsPercent.filter(
      (percent) =>
        committed * 100 >= limitMicroUsd * percent && item[alertAttribute(percent)] === undefined,
    );
    for (const thresholdPercent of [...reached].sort((a, b) => a - b)) {
      const token = randomUUID();
      try {
        if (!(await this.mark(customerId, month, thresholdPercent, token))) continue;
      } catch (error) {
        result.failed.push({ thresholdPercent, error });
        continue;
      }
      try {
        await this.alerts.publish({
          customerId,
          month,
          thresholdPercent,
          spentMicroUsd: committed,
          limitMicroUsd,
        });
        result.published.push(thresholdPercent);
      } catch (error) {
        // Release our mark (only ours) so the alert is not lost: the next settle past the threshold
        // publishes it.
        await this.unmark(customerId, month, thresholdPercent, token).catch(() => undefined);
        result.failed.push({ thresholdPercent, error });
      }
    }
    return result;
  }

  /**
   * Settles what a batch's line settlements left of its reservation, once: `totalReservedMicroUsd`
   * and `totalCostMicroUsd` are the sums over all its lines. A line whose settlement never applied
   * (its process died between the line's settle mark and this item: issue 20 row 6 kept 2 µ$
   * reserved for the month after a cancel) is settled here; the same conditional update ends the
   * batch's line settlements, so one still in flight no longer applies, and its sums are dropped.
   * `held` (a batch whose `reserve` marked it): the update removes the mark with the sums, leaving
   * nothing of the batch on the item, and the amount held is the mark's; else it sets `bdone_`.
   * Also what gives back the reservation of a batch that never started (no lines, no cost). Answers
   * whether anything was left.
   */
  async settleBatchRemainder(
    customerId: string,
    month: string,
    batchId: string,
    totalReservedMicroUsd: number,
    totalCostMicroUsd: number,
    options: { held?: boolean } = {},
  ): Promise<boolean> {
    const batch = batchAttributes(batchId);
    const { held = false } = options;
    for (;;) {
      const { Item = {} } = await this.doc.send(
        new GetCommand({
          TableName: this.tableName,
          Key: spendKey(customerId, month),
          ConsistentRead: true,
        }),
      );
      // Held: no mark means settled already (or never held in this month).
      if (held ? typeof Item[batch.hold] !== 'number' : Item[batch.done] !== undefined)
        return false;
      // What `reserve` marked is what the batch holds, whichever delivery reserved it.
      const total = held ? (Item[batch.hold] as number) : totalReservedMicroUsd;
      const seenReserved = (Item[batch.reserved] as number | undefined) ?? 0;
      const seenCost = (Item[batch.cost] as number | undefined) ?? 0;
      const reserved = Math.max(0, total - seenReserved);
      const actual = Math.max(0, totalCostMicroUsd - seenCost);
      const done = await applied(
        this.doc.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: spendKey(customerId, month),
            ...update(
              held
                ? {
                    add: settled(reserved, actual),
                    remove: [batch.hold, batch.reserved, batch.cost],
                  }
                : {
                    add: settled(reserved, actual),
                    set: { [batch.done]: true },
                    remove: [batch.reserved, batch.cost],
                  },
              // No line settlement landed since the read (else read again): each share is settled
              // once.
              and(
                held ? exists(batch.hold) : notExists(batch.done),
                seenReserved === 0 && seenCost === 0
                  ? or(
                      notExists(batch.reserved),
                      and(compare(batch.reserved, '=', 0), compare(batch.cost, '=', 0)),
                    )
                  : and(
                      compare(batch.reserved, '=', seenReserved),
                      compare(batch.cost, '=', seenCost),
                    ),
              ),
            ),
          }),
        ),
      );
      if (done) return reserved > 0 || actual > 0;
    }
  }

  /**
   * Brings the month's committed spend up to what the ledger says (the usage aggregates), for spend
   * that reached the ledger without being settled here (a record replayed from the dead letters,
   * spend from before every paying request was settled here). Never lowers it; a concurrent settle
   * makes the conditional update fail, and the next call catches up again.
   */
  async catchUp(customerId: string, ledgerSpentMicroUsd: number): Promise<void> {
    const month = utcMonth(this.now());
    const current = await this.read(customerId, month);
    const missing = amount(ledgerSpentMicroUsd, 'ledgerSpentMicroUsd') - current.spentMicroUsd;
    if (missing <= 0) return;
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: spendKey(customerId, month),
          ...update(
            {
              add: {
                usedMicroUsd: missing,
                committedMicroUsd: missing,
                headroomMicroUsd: -missing,
              },
            },
            or(
              notExists('committedMicroUsd'),
              compare('committedMicroUsd', '=', current.spentMicroUsd),
            ),
          ),
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }

  /** The amount the hold `holdId` still holds on `month`'s item, if it is still there (one consistent GetItem). */
  async findHold(customerId: string, month: string, holdId: string): Promise<number | undefined> {
    const attribute = holdAttribute(holdId);
    const { Item } = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: spendKey(customerId, month),
        ConsistentRead: true,
        ProjectionExpression: '#hold',
        ExpressionAttributeNames: { '#hold': attribute },
      }),
    );
    const held = Item?.[attribute];
    return typeof held === 'number' ? held : undefined;
  }

  /** Spend of the current month, for `GET /v1/spend_limit`: one consistent GetItem. */
  getMonth(customerId: string): Promise<MonthSpend> {
    return this.read(customerId, utcMonth(this.now()));
  }

  /** Spend of `month` (`YYYY-MM`), for the operator's usage view. */
  getMonthOf(customerId: string, month: string): Promise<MonthSpend> {
    return this.read(customerId, month);
  }

  private async read(customerId: string, month: string): Promise<MonthSpend> {
    return monthSpendOf(month, await this.readItem(customerId, month));
  }

  private async readItem(customerId: string, month: string): Promise<Record<string, unknown>> {
    const { Item } = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: spendKey(customerId, month),
        ConsistentRead: true,
      }),
    );
    return Item ?? {};
  }

  private async mark(
    customerId: string,
    month: string,
    percent: number,
    token: string,
  ): Promise<boolean> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: spendKey(customerId, month),
          ...update(
            { set: { [alertAttribute(percent)]: token } },
            notExists(alertAttribute(percent)),
          ),
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  private async unmark(
    customerId: string,
    month: string,
    percent: number,
    token: string,
  ): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: spendKey(customerId, month),
        ...update(
          { remove: [alertAttribute(percent)] },
          compare(alertAttribute(percent), '=', token),
        ),
      }),
    );
  }
}
