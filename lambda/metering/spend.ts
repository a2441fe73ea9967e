import { randomUUID } from 'node:crypto';
import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { isConditionFailure } from '../customers/customers-repository';
import { METERING_TABLE } from './metering-table';

const { partitionKey: PK, sortKey: SK } = METERING_TABLE;

/**
 * Monthly spend (UTC month) of a customer, for the spend limit and its alerts: `SPEND#<customerId>#<month>` /
 * `SPEND`, amounts in integer µ$:
 * - `committedMicroUsd`: cost of settled requests;
 * - `reservedMicroUsd`: maximum cost of admitted requests not settled yet;
 * - `usedMicroUsd` = committed + reserved, kept as its own attribute because a condition expression cannot add
 *   two attributes: admission compares it alone against `limit - max`;
 * - `alerted<percent>`: set once when that alert threshold was published this month.
 *
 * This is an enforcement counter, not the bill (the ledger is): `settle` adds, so a settle retried after a lost
 * response counts twice. Over-counting only blocks earlier; it never lets spend overshoot the limit. A request
 * that is never settled (a crashed function) leaves its reservation in `reservedMicroUsd` until the month ends.
 */

/** An admitted request's hold on the month it was admitted in: pass it to `settle`. */
export interface SpendReservation {
  customerId: string;
  /** `YYYY-MM`: the month of admission, also the month the request is settled in. */
  month: string;
  /** 0 when the customer has no limit (nothing was reserved). */
  reservedMicroUsd: number;
  limitMicroUsd?: number;
}

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
  committedMicroUsd: number;
  /** Thresholds published by this settle. */
  published: number[];
  /** Thresholds that could not be marked or published; marks were released so a later settle publishes them. */
  failed: { thresholdPercent: number; error: unknown }[];
}

export interface MonthSpend {
  month: string;
  spentMicroUsd: number;
  reservedMicroUsd: number;
}

/** `YYYY-MM` of a date, UTC. */
export function utcMonth(date: Date): string {
  return date.toISOString().slice(0, 7);
}

const spendKey = (customerId: string, month: string) => ({ [PK]: `SPEND#${customerId}#${month}`, [SK]: 'SPEND' });

const alertAttribute = (percent: number) => `alerted${percent}`;

function amount(value: number, what: string): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${what} must be a non-negative integer (µ$)`);
  return value;
}

export class SpendTracker {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly alerts: SpendAlertPublisher,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /**
   * Admits a request whose cost is at most `maxCostMicroUsd` if it fits under the monthly limit even when every
   * admitted request costs its maximum: one conditional UpdateItem (a GetItem more when refused, for the
   * amounts to report). Concurrent requests cannot overshoot the limit. No limit: no DynamoDB call.
   */
  async reserve(
    customerId: string,
    limitMicroUsd: number | undefined,
    maxCostMicroUsd: number,
  ): Promise<ReserveResult> {
    const month = utcMonth(this.now());
    if (limitMicroUsd === undefined) return { admitted: true, reservation: { customerId, month, reservedMicroUsd: 0 } };
    const max = amount(maxCostMicroUsd, 'maxCostMicroUsd');
    const headroom = amount(limitMicroUsd, 'limitMicroUsd') - max;
    if (headroom >= 0) {
      try {
        await this.doc.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: spendKey(customerId, month),
            UpdateExpression: 'ADD usedMicroUsd :max, reservedMicroUsd :max',
            ConditionExpression: 'attribute_not_exists(usedMicroUsd) OR usedMicroUsd <= :headroom',
            ExpressionAttributeValues: { ':max': max, ':headroom': headroom },
          }),
        );
        return { admitted: true, reservation: { customerId, month, reservedMicroUsd: max, limitMicroUsd } };
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
      }
    }
    const spend = await this.read(customerId, month);
    return {
      admitted: false,
      spentMicroUsd: spend.spentMicroUsd,
      reservedMicroUsd: spend.reservedMicroUsd,
      limitMicroUsd,
    };
  }

  /**
   * Replaces the reservation with the actual cost: one UpdateItem returning the item (ALL_NEW, so the alert
   * marks come back too). Then, for each threshold reached and not marked yet, one conditional UpdateItem marks
   * it and only the settle whose mark succeeded publishes: each threshold fires once per month, under
   * concurrency and retries. A threshold reached but not published (a crash between the two) is published by
   * the next settle. Without a limit there are no alerts: one call, or none for a free request.
   * Throws only when the first update fails; alert failures are returned, because a caller that retried a
   * settle that had committed would count the request twice.
   */
  async settle(
    reservation: SpendReservation,
    actualCostMicroUsd: number,
    alertThresholdsPercent: readonly number[] = [],
  ): Promise<SettleResult> {
    const { customerId, month, reservedMicroUsd, limitMicroUsd } = reservation;
    const actual = amount(actualCostMicroUsd, 'actualCostMicroUsd');
    const result: SettleResult = { month, committedMicroUsd: 0, published: [], failed: [] };
    if (actual === 0 && reservedMicroUsd === 0) return result;

    const { Attributes: item = {} } = await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: spendKey(customerId, month),
        UpdateExpression: 'ADD usedMicroUsd :delta, reservedMicroUsd :release, committedMicroUsd :actual',
        ExpressionAttributeValues: {
          ':delta': actual - reservedMicroUsd,
          ':release': -reservedMicroUsd,
          ':actual': actual,
        },
        ReturnValues: 'ALL_NEW',
      }),
    );
    const committed = (item.committedMicroUsd as number | undefined) ?? 0;
    result.committedMicroUsd = committed;
    if (limitMicroUsd === undefined) return result;

    // Integer comparison: committed / limit >= percent / 100 without rounding either side.
    const reached = alertThresholdsPercent.filter(
      (percent) => committed * 100 >= limitMicroUsd * percent && item[alertAttribute(percent)] === undefined,
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
        await this.alerts.publish({ customerId, month, thresholdPercent, spentMicroUsd: committed, limitMicroUsd });
        result.published.push(thresholdPercent);
      } catch (error) {
        // Release our mark (only ours) so the alert is not lost: the next settle past the threshold publishes it.
        await this.unmark(customerId, month, thresholdPercent, token).catch(() => undefined);
        result.failed.push({ thresholdPercent, error });
      }
    }
    return result;
  }

  /**
   * Brings the month's committed spend up to what the ledger says (the usage aggregates), when a limit is set
   * after spend that was not tracked here (spend is only committed here for customers with a limit). Never
   * lowers it; a concurrent settle makes the conditional update fail, and the next call catches up again.
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
          UpdateExpression: 'ADD usedMicroUsd :missing, committedMicroUsd :missing',
          ConditionExpression: 'attribute_not_exists(committedMicroUsd) OR committedMicroUsd = :seen',
          ExpressionAttributeValues: { ':missing': missing, ':seen': current.spentMicroUsd },
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }

  /** Spend of the current month, for `GET /v1/spend_limit`: one consistent GetItem. */
  getMonth(customerId: string): Promise<MonthSpend> {
    return this.read(customerId, utcMonth(this.now()));
  }

  private async read(customerId: string, month: string): Promise<MonthSpend> {
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: spendKey(customerId, month), ConsistentRead: true }),
    );
    return {
      month,
      spentMicroUsd: (Item?.committedMicroUsd as number | undefined) ?? 0,
      reservedMicroUsd: (Item?.reservedMicroUsd as number | undefined) ?? 0,
    };
  }

  private async mark(customerId: string, month: string, percent: number, token: string): Promise<boolean> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: spendKey(customerId, month),
          UpdateExpression: 'SET #alerted = :token',
          ConditionExpression: 'attribute_not_exists(#alerted)',
          ExpressionAttributeNames: { '#alerted': alertAttribute(percent) },
          ExpressionAttributeValues: { ':token': token },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  private async unmark(customerId: string, month: string, percent: number, token: string): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: spendKey(customerId, month),
        UpdateExpression: 'REMOVE #alerted',
        ConditionExpression: '#alerted = :token',
        ExpressionAttributeNames: { '#alerted': alertAttribute(percent) },
        ExpressionAttributeValues: { ':token': token },
      }),
    );
  }
}
