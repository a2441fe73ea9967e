import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { TierName } from '../../lib/config/tier-names';
import type { CustomerRecord, CustomersRepository } from '../customers/customers-repository';
import type { DocumentClient } from '../storage/document-client';
import { usagePartition } from './ledger';
import { METERING_TABLE } from './metering-table';
import { MICRO_USD_PER_USD } from './pricing';
import type { SpendTracker } from './spend';
import type { UsageAggregates } from './usage-aggregates';

const { byCustomerDayIndex: BY_DAY } = METERING_TABLE;

/**
 * The operator's view of billing (`npx tierline usage show` / `usage report`), answered from the
 * usage aggregates (one Query per customer and month), and reconcilable with the ledger
 * (`reconcile` sums the ledger's records of the same month, one Query page per 1 MB of them).
 */

export interface UsageLine {
  requests: number;
  inputTokens: number;
  outputTokens: number;
  costMicroUsd: number;
}

export interface CustomerMonthUsage {
  customerId: string;
  name: string;
  tier: TierName;
  month: string;
  models: Record<string, UsageLine>;
  days: Record<string, UsageLine>;
  total: UsageLine;
  /** The spend item of the month (what spend-limit enforcement knows), for paying tiers. */
  spend: { committedMicroUsd: number; reservedMicroUsd: number; limitMicroUsd?: number };
}

export interface MonthReport {
  month: string;
  /** Per tier, then model; the tier a customer is on now. */
  tiers: Partial<Record<TierName, Record<string, UsageLine>>>;
  total: UsageLine;
  customers: number;
}

export interface Reconciliation {
  month: string;
  aggregates: UsageLine;
  ledger: UsageLine;
  /** Days whose aggregates differ from their ledger records (`usage recompute` repairs them). */
  differingDays: string[];
}

const zero = (): UsageLine => ({ requests: 0, inputTokens: 0, outputTokens: 0, costMicroUsd: 0 });
const add = (into: UsageLine, more: UsageLine) => {
  into.requests += more.requests;
  into.inputTokens += more.inputTokens;
  into.outputTokens += more.outputTokens;
  into.costMicroUsd += more.costMicroUsd;
};
const same = (a: UsageLine, b: UsageLine) =>
  a.requests === b.requests &&
  a.inputTokens === b.inputTokens &&
  a.outputTokens === b.outputTokens &&
  a.costMicroUsd === b.costMicroUsd;

/** `YYYY-MM` to its first and last day. */
export function monthDays(month: string): { first: string; last: string; days: string[] } {
  if (!/^\d{4}-(0[1-9]|1[0-2])$/.test(month))
    throw new RangeError(`month must be YYYY-MM: ${month}`);
  const [year, m] = month.split('-').map(Number) as [number, number];
  const count = new Date(Date.UTC(year, m, 0)).getUTCDate();
  const days = Array.from(
    { length: count },
    (_, i) => `${month}-${String(i + 1).padStart(2, '0')}`,
  );
  return { first: days[0] as string, last: days[count - 1] as string, days };
}

const microUsd = (usd: string) => Math.round(Number(usd) * MICRO_USD_PER_USD);

export class UsageReports {
  constructor(
    private readonly deps: {
      customers: Pick<CustomersRepository, 'getCustomer' | 'listCustomers'>;
      aggregates: Pick<UsageAggregates, 'queryUsage'>;
      spend: Pick<SpendTracker, 'getMonthOf'>;
      doc: DocumentClient;
      tableName: string;
    },
  ) {}

  async show(customerId: string, month: string): Promise<CustomerMonthUsage | undefined> {
    const customer = await this.deps.customers.getCustomer(customerId);
    if (!customer) return undefined;
    return this.usageOf(customer, month, true);
  }

  async report(month: string): Promise<MonthReport> {
    const report: MonthReport = { month, tiers: {}, total: zero(), customers: 0 };
    let cursor: string | undefined;
    do {
      const page = await this.deps.customers.listCustomers({ limit: 100, cursor });
      for (const customer of page.customers) {
        const usage = await this.usageOf(customer, month, false);
        if (usage.total.requests === 0) continue;
        report.customers += 1;
        const models = report.tiers[customer.tier] ?? {};
        report.tiers[customer.tier] = models;
        for (const [model, line] of Object.entries(usage.models)) {
          const sum = models[model] ?? zero();
          models[model] = sum;
          add(sum, line);
        }
        add(report.total, usage.total);
      }
      cursor = page.cursor;
    } while (cursor);
    return report;
  }

  /** The month's aggregates beside the sum of its ledger records, day by day. */
  async reconcile(customerId: string, month: string): Promise<Reconciliation> {
    const customer = await this.deps.customers.getCustomer(customerId);
    const usage = customer ? await this.usageOf(customer, month, false) : undefined;
    const result: Reconciliation = {
      month,
      aggregates: usage?.total ?? zero(),
      ledger: zero(),
      differingDays: [],
    };
    for (const day of monthDays(month).days) {
      const ledger = await this.ledgerDay(customerId, day);
      add(result.ledger, ledger);
      if (!same(ledger, usage?.days[day] ?? zero())) result.differingDays.push(day);
    }
    return result;
  }

  private async usageOf(
    customer: CustomerRecord,
    month: string,
    withSpend: boolean,
  ): Promise<CustomerMonthUsage> {
    const { first, last } = monthDays(month);
    const list = await this.deps.aggregates.queryUsage(customer.customerId, first, last, 'day');
    const usage: CustomerMonthUsage = {
      customerId: customer.customerId,
      name: customer.name,
      tier: customer.tier,
      month,
      models: {},
      days: {},
      total: zero(),
      spend: { committedMicroUsd: 0, reservedMicroUsd: 0 },
    };
    for (const bucket of list.data) {
      const day = zero();
      for (const m of bucket.models) {
        const line = {
          requests: m.requests,
          inputTokens: m.input_tokens,
          outputTokens: m.output_tokens,
          costMicroUsd: microUsd(m.cost_usd),
        };
        const sum = usage.models[m.model] ?? zero();
        usage.models[m.model] = sum;
        add(sum, line);
        add(day, line);
      }
      usage.days[bucket.date] = day;
      add(usage.total, day);
    }
    if (withSpend) {
      const spend = await this.deps.spend.getMonthOf(customer.customerId, month);
      usage.spend = {
        committedMicroUsd: spend.spentMicroUsd,
        reservedMicroUsd: spend.reservedMicroUsd,
        limitMicroUsd: spend.limitMicroUsd,
      };
    }
    return usage;
  }

  private async ledgerDay(customerId: string, day: string): Promise<UsageLine> {
    const sum = zero();
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.deps.doc.send(
        new QueryCommand({
          TableName: this.deps.tableName,
          IndexName: BY_DAY.name,
          KeyConditionExpression: '#gpk = :gpk',
          ProjectionExpression: 'inputTokens, outputTokens, costMicroUsd',
          ExpressionAttributeNames: { '#gpk': BY_DAY.partitionKey },
          ExpressionAttributeValues: { ':gpk': usagePartition(customerId, day) },
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) {
        add(sum, {
          requests: 1,
          inputTokens: item.inputTokens as number,
          outputTokens: item.outputTokens as number,
          costMicroUsd: item.costMicroUsd as number,
        });
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return sum;
  }
}
