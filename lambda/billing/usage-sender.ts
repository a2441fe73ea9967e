import { PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { usagePartition, utcDay } from '../metering/ledger';
import { METERING_TABLE } from '../metering/metering-table';
import { MAX_REQUEST_MS, RECONCILE_MARGIN_MS } from '../metering/reservations';
import { applied } from '../storage/conditional-writes';
import type { DocumentClient } from '../storage/document-client';
import { and, compare, conditionOnly, notExists, update } from '../storage/expressions';
import { queryAll } from '../storage/query-pages';
import type { BillingAccountRecord, BillingAccounts } from './billing-accounts';
import type { BillingProvider } from './billing-provider';
import { invoiceDecision } from './thresholds';
import {
  aggregateLines,
  type BilledRecord,
  HOUR_MS,
  hourOf,
  type UsageLine,
  usageIdentifier,
} from './usage-lines';

const { byCustomerDayIndex: BY_DAY } = METERING_TABLE;

/**
 * Usage to the billing provider, exactly once, from the ledger (the billing truth).
 *
 * An hour is CLOSED once every request that started in it has its ledger record, or would have
 * it but for a dead letter: a live request writes its record by its end (at most MAX_REQUEST_MS);
 * a dead one gets a `reconciled` record from the reservation reconciler by start + MAX_REQUEST_MS
 * + RECONCILE_MARGIN_MS, on a one-minute schedule (crash-safety.ts rule 7). {@link CLOSE_MARGIN_MS}
 * adds slack to that.
 *
 * Per closed hour and organization, the ledger's records are summed into lines (project, model,
 * kind: usage-lines.ts) and each line's SENT STATE (`BILLSENT#<customerId>#<hour>` /
 * `<project>#<kind>#<model>` in the metering table) says what the provider already has. What the
 * ledger holds beyond it is sent as one delta, in three single-item steps (no transactions: the
 * same discipline as crash-safety.ts):
 * 1. write-ahead: the delta, its sequence number and identifier are written as `pending*`,
 *    conditional on the sequence read (two senders at once: one wins);
 * 2. the provider call, with the identifier `usageIdentifier(..., seq)`: deterministic, so a
 *    resend is deduplicated by the provider (Stripe: within a rolling 24 h, see stripe-provider.ts;
 *    the embedded provider: forever);
 * 3. commit: `sentMicroUsd += delta`, `seq += 1`, pending removed, conditional on that pending.
 * A death after 1 or 2 leaves the pending: the next run resends it as it was (same identifier,
 * same amount) before anything else, then commits. A pending older than the provider's identifier
 * window cannot be resent safely (the provider may have forgotten the identifier and would count
 * it twice): it is reported as stale for an operator, never resent blindly.
 *
 * Ledger records only ever get added (the first record of a request wins, ledger.ts), so a line's
 * ledger total only grows and a delta is never negative. Late records (a dead letter replayed, a
 * training billed at its end but dated at its creation) land in hours already sent: the
 * reconciliation rereads the last {@link UsageSenderOptions.reconcileHours} settled hours, resends
 * the difference, and reports it (an alarm: something reached the ledger after its hour closed).
 */
export const CLOSE_MARGIN_MS = MAX_REQUEST_MS + RECONCILE_MARGIN_MS + 4 * 60_000;

/** Stripe's timestamps reach back 35 days: an hour is settled within them or not at all. */
export const MAX_BACKFILL_HOURS = 34 * 24;

export interface UsageSenderOptions {
  /** Settled hours reread for late records on each run. @default 24 */
  reconcileHours?: number;
  /**
   * The UTC hour whose run rereads every settled hour Stripe still takes ({@link MAX_BACKFILL_HOURS}):
   * a training's record is dated at the job's creation but written at its end, possibly days later.
   * @default 3
   */
  deepReconcileUtcHour?: number;
  /** New hours settled per organization per run (a run stays within a Lambda's time). @default 48 */
  maxHoursPerRun?: number;
  now?: () => Date;
}

export interface UsageDifference {
  customerId: string;
  hour: string;
  line: string;
  /** What the ledger held beyond what had been sent, found after the hour was settled. */
  missingMicroUsd: number;
}

export interface StalePending {
  customerId: string;
  hour: string;
  line: string;
  identifier: string;
  pendingMicroUsd: number;
  pendingSince: string;
}

export interface SendReport {
  /** µ$ sent to the provider in this run (deltas and resent pendings). */
  sentMicroUsd: number;
  events: number;
  hoursSettled: number;
  differences: UsageDifference[];
  stale: StalePending[];
  invoices: { customerId: string; key: string }[];
}

interface SentState {
  sk: string;
  sentMicroUsd: number;
  seq: number;
  pendingSeq?: number;
  pendingMicroUsd?: number;
  pendingIdentifier?: string;
  pendingSince?: string;
  projectId: string;
  model: string;
  kind: UsageLine['kind'];
}

const sentPartition = (customerId: string, hour: string) => `BILLSENT#${customerId}#${hour}`;

export class UsageSender {
  private readonly reconcileHours: number;
  private readonly deepReconcileUtcHour: number;
  private readonly maxHoursPerRun: number;
  private readonly now: () => Date;

  constructor(
    private readonly doc: DocumentClient,
    private readonly tableName: string,
    private readonly accounts: BillingAccounts,
    private readonly provider: BillingProvider,
    options: UsageSenderOptions = {},
  ) {
    this.reconcileHours = options.reconcileHours ?? 24;
    this.deepReconcileUtcHour = options.deepReconcileUtcHour ?? 3;
    this.maxHoursPerRun = options.maxHoursPerRun ?? 48;
    this.now = options.now ?? (() => new Date());
  }

  /** The start of the latest closed hour. */
  lastClosedHour(): string {
    return hourOf(new Date(this.now().getTime() - CLOSE_MARGIN_MS - HOUR_MS).toISOString());
  }

  /** One run over every billed organization: reconcile, settle new hours, cut due invoices. */
  async run(): Promise<SendReport> {
    const report: SendReport = {
      sentMicroUsd: 0,
      events: 0,
      hoursSettled: 0,
      differences: [],
      stale: [],
      invoices: [],
    };
    for await (const account of this.accounts.list()) {
      // Pending: no payment method yet. Closed: its last hours and final invoice are done.
      if (account.status === 'pending' || account.status === 'closed') continue;
      await this.runAccount(account, report);
    }
    return report;
  }

  async runAccount(account: BillingAccountRecord, report: SendReport): Promise<void> {
    const closed = Date.parse(this.lastClosedHour());
    const oldest = closed - MAX_BACKFILL_HOURS * HOUR_MS;
    const billedFrom = Math.max(Date.parse(hourOf(account.billedFrom)), oldest);
    const settled = account.settledThrough
      ? Date.parse(account.settledThrough)
      : billedFrom - HOUR_MS;
    // Reconciliation first: settled hours, reread for records that arrived after they closed.
    const window =
      this.now().getUTCHours() === this.deepReconcileUtcHour
        ? Math.max(this.reconcileHours, MAX_BACKFILL_HOURS)
        : this.reconcileHours;
    const reconcileFrom = Math.max(billedFrom, settled - (window - 1) * HOUR_MS);
    for (let hour = reconcileFrom; hour <= settled; hour += HOUR_MS) {
      await this.settleHour(account, new Date(hour).toISOString(), true, report);
    }
    let count = 0;
    for (
      let hour = settled + HOUR_MS;
      hour <= closed && count < this.maxHoursPerRun;
      hour += HOUR_MS
    ) {
      const iso = new Date(hour).toISOString();
      await this.settleHour(account, iso, false, report);
      await this.accounts.markSettled(account.customerId, iso);
      report.hoursSettled += 1;
      count += 1;
    }
    await this.invoiceIfDue(account, report);
  }

  /** The organization's ledger records that started in `hour` and are billed by the provider. */
  async ledgerLines(customerId: string, hour: string): Promise<Map<string, UsageLine>> {
    const next = new Date(Date.parse(hour) + HOUR_MS).toISOString();
    const records = queryAll(
      this.doc,
      {
        TableName: this.tableName,
        IndexName: BY_DAY.name,
        KeyConditionExpression: '#pk = :pk AND #sk BETWEEN :from AND :to',
        ExpressionAttributeNames: { '#pk': BY_DAY.partitionKey, '#sk': BY_DAY.sortKey },
        ExpressionAttributeValues: {
          ':pk': usagePartition(customerId, utcDay(hour)),
          // The index's sort key is `<startedAt>#<requestId>`: every record that started in the
          // hour sorts between its start and the next hour's start (which no record equals).
          ':from': hour,
          ':to': next,
        },
      },
      (item) => item as unknown as BilledRecord,
    );
    const billed: BilledRecord[] = [];
    // Developer usage only: Free costs nothing, Enterprise is billed by contract (the operator).
    for await (const record of records) if (record.tier === 'developer') billed.push(record);
    return aggregateLines(billed);
  }

  private async sentStates(customerId: string, hour: string): Promise<Map<string, SentState>> {
    const states = new Map<string, SentState>();
    const { Items = [] } = await this.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': sentPartition(customerId, hour) },
        ConsistentRead: true,
      }),
    );
    for (const item of Items) states.set(String(item.sk), item as unknown as SentState);
    return states;
  }

  private async settleHour(
    account: BillingAccountRecord,
    hour: string,
    reconciling: boolean,
    report: SendReport,
  ): Promise<void> {
    const [ledger, sent] = await Promise.all([
      this.ledgerLines(account.customerId, hour),
      this.sentStates(account.customerId, hour),
    ]);
    for (const [key, line] of ledger) {
      let state = sent.get(key);
      if (state?.pendingSeq !== undefined) {
        if (!(await this.finishPending(account, hour, state, report))) continue;
        state = {
          ...state,
          sentMicroUsd: state.sentMicroUsd + (state.pendingMicroUsd ?? 0),
          seq: state.seq + 1,
        };
      }
      const delta = line.costMicroUsd - (state?.sentMicroUsd ?? 0);
      if (delta <= 0) continue;
      if (reconciling) {
        report.differences.push({
          customerId: account.customerId,
          hour,
          line: key,
          missingMicroUsd: delta,
        });
      }
      const seq = state?.seq ?? 0;
      const pending: SentState = {
        sk: key,
        sentMicroUsd: state?.sentMicroUsd ?? 0,
        seq,
        pendingSeq: seq,
        pendingMicroUsd: delta,
        pendingIdentifier: usageIdentifier(account.customerId, hour, line, seq),
        pendingSince: this.now().toISOString(),
        projectId: line.projectId,
        model: line.model,
        kind: line.kind,
      };
      if (!(await this.writeAhead(account.customerId, hour, state, pending))) continue;
      await this.finishPending(account, hour, pending, report);
    }
  }

  /** Step 1: the pending delta, conditional on the state read (a concurrent sender loses here). */
  private async writeAhead(
    customerId: string,
    hour: string,
    previous: SentState | undefined,
    pending: SentState,
  ): Promise<boolean> {
    const Key = { pk: sentPartition(customerId, hour), sk: pending.sk };
    if (!previous) {
      return applied(
        this.doc.send(
          new PutCommand({
            TableName: this.tableName,
            Item: { ...Key, ...pending },
            ...conditionOnly(notExists('pk')),
          }),
        ),
      );
    }
    return applied(
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key,
          ...update(
            {
              set: {
                pendingSeq: pending.pendingSeq,
                pendingMicroUsd: pending.pendingMicroUsd,
                pendingIdentifier: pending.pendingIdentifier,
                pendingSince: pending.pendingSince,
              },
            },
            and(compare('seq', '=', previous.seq), notExists('pendingSeq')),
          ),
        }),
      ),
    );
  }

  /** Steps 2 and 3 for a pending delta; false when it is stale and left for an operator. */
  private async finishPending(
    account: BillingAccountRecord,
    hour: string,
    state: SentState,
    report: SendReport,
  ): Promise<boolean> {
    const amount = state.pendingMicroUsd ?? 0;
    const identifier = state.pendingIdentifier ?? '';
    const since = Date.parse(state.pendingSince ?? '');
    const window = this.provider.identifierWindowMs;
    if (window !== undefined && this.now().getTime() - since >= window - HOUR_MS) {
      report.stale.push({
        customerId: account.customerId,
        hour,
        line: state.sk,
        identifier,
        pendingMicroUsd: amount,
        pendingSince: state.pendingSince ?? '',
      });
      return false;
    }
    await this.provider.reportUsage(account, {
      identifier,
      projectId: state.projectId,
      model: state.model,
      kind: state.kind,
      hour,
      costMicroUsd: amount,
    });
    const committed = await applied(
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: sentPartition(account.customerId, hour), sk: state.sk },
          ...update(
            {
              add: { sentMicroUsd: amount, seq: 1 },
              remove: ['pendingSeq', 'pendingMicroUsd', 'pendingIdentifier', 'pendingSince'],
            },
            compare('pendingSeq', '=', state.pendingSeq ?? -1),
          ),
        }),
      ),
    );
    if (committed) {
      report.sentMicroUsd += amount;
      report.events += 1;
    }
    return committed;
  }

  /** Progressive thresholds (thresholds.ts), once the hour's usage is with the provider. */
  private async invoiceIfDue(account: BillingAccountRecord, report: SendReport): Promise<void> {
    if (!account.subscriptionId) return;
    const [invoices, uninvoiced] = await Promise.all([
      this.provider.listInvoices(account),
      this.provider.uninvoicedMicroUsd(account),
    ]);
    const invoiced = invoices.reduce((sum, invoice) => sum + invoice.totalMicroUsd, 0);
    const decision = invoiceDecision({
      invoicedMicroUsd: invoiced,
      uninvoicedMicroUsd: uninvoiced,
      now: this.now(),
    });
    if (!decision) return;
    // Stripe's subscription invoices each month by itself; a threshold cuts an invoice earlier.
    if (decision.kind === 'monthly' && this.provider.invoicesMonthly) return;
    const key = `${account.customerId}-${decision.key}`;
    await this.provider.invoiceNow(account, key, decision.reason);
    report.invoices.push({ customerId: account.customerId, key });
  }
}
