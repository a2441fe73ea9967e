import { usagePartition } from '../metering/ledger';
import { METERING_TABLE } from '../metering/metering-table';
import { formatUsd, MICRO_USD_PER_USD } from '../metering/pricing';
import type { Billing } from '../openai/shapes/billing';
import type { DocumentClient } from '../storage/document-client';
import { queryAll } from '../storage/query-pages';
import type { BillingAccountRecord, BillingAccounts } from './billing-accounts';
import type { BillingProvider } from './billing-provider';
import type { BillingService } from './billing-service';
import { THRESHOLDS_USD } from './thresholds';
import { aggregateLines, type BilledRecord } from './usage-lines';

/** Billing's services, where the deployment bills (both AWS with Stripe and local mode do). */
export interface BillingApi {
  service: Pick<BillingService, 'startUpgrade' | 'requestDowngrade'>;
  summaries: Pick<BillingSummaries, 'summary'>;
}

const { byCustomerDayIndex: BY_DAY } = METERING_TABLE;
const DAY_MS = 86_400_000;

/**
 * `GET /v1/billing`: one organization's billing, read when the console's Billing page opens. The
 * running total is the ledger's (the billing truth), not the provider's: it includes the hour not
 * yet sent, so it rises with each request once the request is in the ledger.
 */
export class BillingSummaries {
  constructor(
    private readonly deps: {
      doc: DocumentClient;
      tableName: string;
      accounts: Pick<BillingAccounts, 'get'>;
      provider: BillingProvider;
      service: Pick<BillingService, 'graceEndsAt' | 'usageTierOf'>;
      now?: () => Date;
    },
  ) {}

  async summary(customerId: string): Promise<Billing> {
    const now = this.deps.now?.() ?? new Date();
    const month = now.toISOString().slice(0, 7);
    const account = await this.deps.accounts.get(customerId);
    const [paymentMethod, invoices, lines] = account
      ? await Promise.all([
          account.status === 'pending' ? undefined : this.deps.provider.paymentMethod(account),
          this.deps.provider.listInvoices(account),
          this.monthLines(account, now),
        ])
      : [undefined, [], []];
    const invoicedMicroUsd = invoices.reduce((sum, invoice) => sum + invoice.totalMicroUsd, 0);
    const next = THRESHOLDS_USD.find((usd) => usd * MICRO_USD_PER_USD > invoicedMicroUsd);
    return {
      object: 'billing',
      provider: this.deps.provider.name,
      status: account?.status ?? 'none',
      payment_method: paymentMethod ?? null,
      month,
      running_total_usd: formatUsd(lines.reduce((sum, line) => sum + line.costMicroUsd, 0)),
      breakdown: lines.map((line) => ({
        model: line.model,
        kind: line.kind,
        requests: line.requests,
        cost_usd: formatUsd(line.costMicroUsd),
      })),
      invoiced_usd: formatUsd(invoicedMicroUsd),
      next_threshold_usd: next ?? null,
      invoices: invoices.map((invoice) => ({
        object: 'billing.invoice',
        id: invoice.id,
        total_usd: formatUsd(invoice.totalMicroUsd),
        status: invoice.status,
        created_at: invoice.createdAt,
        hosted_url: invoice.hostedUrl ?? null,
        reason: invoice.reason ?? null,
      })),
      grace: account?.paymentFailedAt
        ? {
            since: account.paymentFailedAt,
            limits_at: this.deps.service.graceEndsAt(account.paymentFailedAt),
            limited: account.limitedAt !== undefined,
            invoice_id: account.graceInvoiceId ?? null,
          }
        : null,
      // Usage tiers inside Developer (off: null): what was paid, what unlocks the next step.
      usage_tier: this.deps.service.usageTierOf(account ?? {}),
    };
  }

  /**
   * This month's billed usage per model and kind: the Developer records that started since the
   * upgrade (`billedFrom`), one Query of the ledger's customer-day index per day so far.
   */
  private async monthLines(account: BillingAccountRecord, now: Date) {
    const monthStart = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1);
    const from = Math.max(monthStart, Date.parse(account.billedFrom));
    const records: BilledRecord[] = [];
    for (let day = from - (from % DAY_MS); day <= now.getTime(); day += DAY_MS) {
      const date = new Date(day).toISOString().slice(0, 10);
      const items = queryAll(
        this.deps.doc,
        {
          TableName: this.deps.tableName,
          IndexName: BY_DAY.name,
          KeyConditionExpression: '#pk = :pk',
          ExpressionAttributeNames: { '#pk': BY_DAY.partitionKey },
          ExpressionAttributeValues: { ':pk': usagePartition(account.customerId, date) },
        },
        (item) => item as unknown as BilledRecord,
      );
      for await (const record of items) {
        if (record.tier === 'developer' && record.startedAt >= account.billedFrom) {
          records.push(record);
        }
      }
    }
    const byModelAndKind = aggregateLines(records.map((r) => ({ ...r, projectId: undefined })));
    return [...byModelAndKind.values()].sort((a, b) => b.costMicroUsd - a.costMicroUsd);
  }
}
