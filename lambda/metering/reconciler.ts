import type { Logger } from '@aws-lambda-powertools/logger';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type LedgerRecord, LedgerWriter, ledgerRecord } from './ledger';
import { Limiter } from './limiter';
import { DUE_SHARDS, ReservationBook, type ReservationRecord } from './reservations';
import { SpendTracker } from './spend';

/** What one reconciler run did. */
export interface ReconcileReport {
  /** Overdue reservation records looked at. */
  found: number;
  /** Requests billed by the reconciler (`reconciled` ledger records written by this run). */
  billed: number;
  /** Holds this run released or settled (counter holds + spend holds). */
  holdsReleased: number;
  /** Records whose request had billed itself (its ledger record existed): only their leftovers were cleaned. */
  alreadyBilled: number;
  /** Records that failed (left in place for the next run) with their errors. */
  failed: { requestId: string; error: unknown }[];
}

export type ReconcileOutcome = 'billed' | 'released' | 'already_billed' | 'gone';

export interface ReconcilerDependencies {
  book: ReservationBook;
  ledger: Pick<LedgerWriter, 'get' | 'put'>;
  limiter: Pick<Limiter, 'findHold' | 'settle' | 'release'>;
  spend: Pick<SpendTracker, 'findHold' | 'settle'>;
  now?: () => Date;
  /** Records reconciled at once. @default 8 */
  concurrency?: number;
}

/**
 * Finds the reservations of requests that passed their deadline (maximum duration + margin) without billing
 * themselves (the process died: SIGKILL, a Lambda timeout, a crashed host), bills them once and releases what
 * they held. Every step is conditional, so any number of reconcilers, and the request itself settling late, can
 * run at once and each hold is released once and each request billed once:
 * 1. the ledger record, if the request wrote one, is the bill; else, if the request was admitted (its LAST
 *    admission hold is still there: the spend hold of a paying request, the counter hold otherwise), one
 *    conditional put writes a `reconciled` record (its input tokens as counted at admission, no output); a put
 *    that finds a record already there (a late settlement won) reads that one instead;
 * 2. the counter hold, if still marked, is corrected to the bill's tokens (or released: the request never ran),
 *    in one update conditional on its mark, which it removes; the minute counters have long expired;
 * 3. the spend hold likewise, to the bill's cost (or 0);
 * 4. the record is deleted. A crash between steps leaves the record: the next run redoes the remaining steps.
 */
export class ReservationReconciler {
  private readonly now: () => Date;

  constructor(private readonly deps: ReconcilerDependencies) {
    this.now = deps.now ?? (() => new Date());
  }

  /** One sweep over every due-index partition: what is overdue now. */
  async run(): Promise<ReconcileReport> {
    const now = this.now();
    const report: ReconcileReport = { found: 0, billed: 0, holdsReleased: 0, alreadyBilled: 0, failed: [] };
    const ids: string[] = [];
    await Promise.all(
      Array.from({ length: DUE_SHARDS }, async (_, shard) => {
        for await (const requestId of this.deps.book.due(shard, now)) ids.push(requestId);
      }),
    );
    const queue = [...ids];
    const workers = Array.from({ length: Math.min(this.deps.concurrency ?? 8, queue.length) }, async () => {
      for (let requestId = queue.shift(); requestId !== undefined; requestId = queue.shift()) {
        try {
          const result = await this.reconcile(requestId, now);
          if (result.outcome === 'gone') continue;
          report.found += 1;
          report.holdsReleased += result.holdsReleased;
          if (result.outcome === 'billed') report.billed += 1;
          if (result.outcome === 'already_billed') report.alreadyBilled += 1;
        } catch (error) {
          report.failed.push({ requestId, error });
        }
      }
    });
    await Promise.all(workers);
    return report;
  }

  /** Reconciles one request, if its record is still there and overdue at `now`. */
  async reconcile(
    requestId: string,
    now: Date = this.now(),
  ): Promise<{ outcome: ReconcileOutcome; holdsReleased: number; bill?: LedgerRecord }> {
    const { book, ledger, limiter, spend } = this.deps;
    const record = await book.get(requestId);
    // Gone (billed meanwhile, or another reconciler finished it), or not due yet (an index entry ahead of time).
    if (!record || record.deadline > now.toISOString()) return { outcome: 'gone', holdsReleased: 0 };
    const counterHold = await limiter.findHold(record);
    const spendHeld = record.spendHold
      ? await spend.findHold(record.customerId, record.month, record.holdId)
      : undefined;

    let bill = await ledger.get(requestId);
    const alreadyBilled = bill !== undefined;
    const admitted = record.spendHold ? spendHeld !== undefined : counterHold !== undefined;
    let wrote = false;
    if (!bill && admitted) {
      const reconciled = reconciledRecord(record, now);
      wrote = (await ledger.put(reconciled)) === 'written';
      bill = wrote ? reconciled : await ledger.get(requestId);
    }

    let holdsReleased = 0;
    if (counterHold) {
      const applied = bill
        ? await limiter.settle(counterHold, bill.inputTokens + bill.outputTokens)
        : await limiter.release(counterHold);
      if (applied) holdsReleased += 1;
    }
    if (spendHeld !== undefined) {
      const settled = await spend.settle(
        { customerId: record.customerId, month: record.month, reservedMicroUsd: spendHeld, holdId: record.holdId },
        bill?.costMicroUsd ?? 0,
      );
      if (settled.applied) holdsReleased += 1;
    }
    await book.delete(requestId);
    return {
      outcome: wrote ? 'billed' : alreadyBilled || bill ? 'already_billed' : 'released',
      holdsReleased,
      bill,
    };
  }
}

/** The ledger record of a request the reconciler bills: its input tokens as counted at admission, no output. */
export function reconciledRecord(record: ReservationRecord, now: Date): LedgerRecord {
  return ledgerRecord({
    requestId: record.requestId,
    customerId: record.customerId,
    model: record.model,
    tier: record.tier,
    inputTokens: record.inputTokens,
    outputTokens: 0,
    prices: record.prices,
    status: 'reconciled',
    startedAt: record.startedAt,
    finishedAt: now.toISOString(),
  });
}

/**
 * The scheduled function (AWS, every minute): one sweep, logged. It writes ledger records only with `put` (a
 * failed write throws and the record waits for the next run, so no dead-letter sink is needed) and settles spend
 * without alert thresholds (the next settle of the customer publishes an alert a reconciled cost crossed).
 * A run with failures throws, so the function's Errors metric (alarmed) shows it; the next run retries them.
 */
export function createReconcilerHandler(
  doc: DynamoDBDocumentClient,
  tableName: string,
  logger: Pick<Logger, 'info' | 'error'>,
) {
  const reconciler = new ReservationReconciler({
    book: new ReservationBook(doc, tableName),
    ledger: new LedgerWriter(doc, tableName, {
      send: async () => {
        throw new Error('the reconciler writes with put only');
      },
    }),
    limiter: new Limiter(doc, tableName),
    spend: new SpendTracker(doc, tableName, { publish: async () => undefined }),
  });
  return async (): Promise<ReconcileReport> => {
    const report = await reconciler.run();
    const { failed, ...counts } = report;
    logger.info('reservations reconciled', { ...counts, failed: failed.length });
    if (failed.length > 0) {
      for (const { requestId, error } of failed) logger.error('reconciling failed', { requestId, error });
      throw new Error(`${failed.length} reservations could not be reconciled; the next run retries them`);
    }
    return report;
  };
}
