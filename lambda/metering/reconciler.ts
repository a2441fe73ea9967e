import type { Logger } from '@aws-lambda-powertools/logger';
import { projectScope } from '../customers/project-limits';
import type { DocumentClient } from '../storage/document-client';
import { type LedgerRecord, LedgerWriter, ledgerRecord } from './ledger';
import { type HeldRequest, Limiter } from './limiter';
import { DUE_SHARDS, ReservationBook, type ReservationRecord } from './reservations';
import { SpendTracker } from './spend';

/** What one reconciler run did. */
export interface ReconcileReport {
  /** Overdue reservation records looked at (requests still held past their deadline). */
  found: number;
  /** Requests billed by the reconciler (`reconciled` ledger records written by this run). */
  billed: number;
  /** Holds this run released or settled (counter holds + spend holds). */
  holdsReleased: number;
  /** Records whose request had billed itself (its ledger record existed): only their leftovers were cleaned. */
  alreadyBilled: number;
  /**
   * What failed (left in place for the next run) with its error: a request by its id, or a counter
   * item by its key when the item itself could not be read or moved in the due index.
   */
  failed: { requestId: string; error: unknown }[];
}

export type ReconcileOutcome = 'billed' | 'released' | 'already_billed';

export interface ReconcilerDependencies {
  book: Pick<ReservationBook, 'due' | 'reindex'>;
  ledger: Pick<LedgerWriter, 'get' | 'put'>;
  limiter: Pick<Limiter, 'heldAt' | 'settle' | 'release'>;
  spend: Pick<SpendTracker, 'findHold' | 'settle'>;
  now?: () => Date;
  /** Counter items reconciled at once. @default 8 */
  concurrency?: number;
}

/**
 * Rounds of read, reconcile, move in the due index per counter item and run: a round is redone only
 * when an admission wrote the item between its read and its move (the move's version condition
 * failed); past these the item keeps its index entry and the next run takes it again.
 */
const INDEX_ROUNDS = 3;

/**
 * Finds the requests that passed their deadline without billing themselves (the process died),
 * bills them once and releases what they held: crash-safety.ts rule 7, in its RECONCILE_ORDER. The
 * due-time index lists the counter items holding records, each at its earliest deadline; per item
 * due now, one consistent read gives its records, and every write is conditional, so any number of
 * reconcilers, and the request itself settling late, can run at once.
 */
export class ReservationReconciler {
  private readonly now: () => Date;

  constructor(private readonly deps: ReconcilerDependencies) {
    this.now = deps.now ?? (() => new Date());
  }

  /** One sweep over every due-index partition: what is overdue now. */
  async run(): Promise<ReconcileReport> {
    const now = this.now();
    const report: ReconcileReport = {
      found: 0,
      billed: 0,
      holdsReleased: 0,
      alreadyBilled: 0,
      failed: [],
    };
    const keys = new Set<string>();
    await Promise.all(
      Array.from({ length: DUE_SHARDS }, async (_, shard) => {
        for await (const pk of this.deps.book.due(shard, now)) keys.add(pk);
      }),
    );
    const queue = [...keys];
    const workers = Array.from(
      { length: Math.min(this.deps.concurrency ?? 8, queue.length) },
      async () => {
        for (let pk = queue.shift(); pk !== undefined; pk = queue.shift()) {
          try {
            const { results, failed } = await this.reconcileItem(pk, now);
            report.failed.push(...failed);
            for (const result of results) {
              report.found += 1;
              report.holdsReleased += result.holdsReleased;
              if (result.outcome === 'billed') report.billed += 1;
              if (result.outcome === 'already_billed') report.alreadyBilled += 1;
            }
          } catch (error) {
            report.failed.push({ requestId: pk, error });
          }
        }
      },
    );
    await Promise.all(workers);
    return report;
  }

  /**
   * Reconciles the records of counter item `pk` that are due at `now`, then moves the item in the
   * due index (crash-safety.ts rule 7, last step).
   */
  async reconcileItem(
    pk: string,
    now: Date = this.now(),
  ): Promise<{
    results: { outcome: ReconcileOutcome; holdsReleased: number; bill?: LedgerRecord }[];
    failed: { requestId: string; error: unknown }[];
  }> {
    const results: { outcome: ReconcileOutcome; holdsReleased: number; bill?: LedgerRecord }[] = [];
    const failed: { requestId: string; error: unknown }[] = [];
    const failedIds = new Set<string>();
    const due = (request: HeldRequest) =>
      request.record.deadline <= now.toISOString() && !failedIds.has(request.record.requestId);
    for (let round = 0; round < INDEX_ROUNDS; round++) {
      const item = await this.deps.limiter.heldAt(pk);
      // Not a counter item (nothing this reconciler wrote), or gone: nothing to do.
      if (!item) break;
      for (const request of item.requests.filter(due)) {
        try {
          results.push(await this.reconcile(request, now));
        } catch (error) {
          failedIds.add(request.record.requestId);
          failed.push({ requestId: request.record.requestId, error });
        }
      }
      // What stays: records not due yet, and those that failed (still due: the next run takes them
      // again). ISO timestamps sort as they come: the first is the earliest.
      const [next] = item.requests
        .filter((request) => !due(request))
        .map((request) => request.record.deadline)
        .sort();
      if (await this.deps.book.reindex(item.key, next, item.version)) break;
    }
    return { results, failed };
  }

  /** Reconciles one request held on a counter item (its record and hold as read there). */
  async reconcile(
    request: HeldRequest,
    now: Date = this.now(),
  ): Promise<{ outcome: ReconcileOutcome; holdsReleased: number; bill?: LedgerRecord }> {
    const { ledger, limiter, spend } = this.deps;
    const { record, hold: counterHold } = request;
    const spendHeld = record.spendHold
      ? await spend.findHold(record.customerId, record.month, record.holdId)
      : undefined;

    let bill = await ledger.get(record.requestId);
    const alreadyBilled = bill !== undefined;
    // Admitted: its last admission hold is there (crash-safety.ts rule 2); else it never ran.
    const admitted = record.spendHold ? spendHeld !== undefined : true;
    let wrote = false;
    if (!bill && admitted) {
      const reconciled = reconciledRecord(record, now);
      wrote = (await ledger.put(reconciled)) === 'written';
      bill = wrote ? reconciled : await ledger.get(record.requestId);
    }

    let holdsReleased = 0;
    // Spend first: the counter hold carries the record (crash-safety.ts rule 3).
    if (spendHeld !== undefined) {
      const settled = await spend.settle(
        {
          customerId: record.customerId,
          month: record.month,
          reservedMicroUsd: spendHeld,
          holdId: record.holdId,
        },
        bill?.costMicroUsd ?? 0,
      );
      if (settled.applied) holdsReleased += 1;
    }
    if (record.projectSpendHold && record.projectId !== undefined) {
      // The project's month, held before the organization's: settled to the same bill, or freed.
      const scope = projectScope(record.customerId, record.projectId);
      const held = await spend.findHold(scope, record.month, record.holdId);
      if (held !== undefined) {
        const hold = { customerId: scope, month: record.month, reservedMicroUsd: held };
        const settled = await spend.settle(
          { ...hold, holdId: record.holdId },
          // A bill exists only for a request that ran (or was admitted): else it is freed.
          bill?.costMicroUsd ?? 0,
        );
        if (settled.applied) holdsReleased += 1;
      }
    }
    const applied = bill
      ? await limiter.settle(counterHold, bill.inputTokens + bill.outputTokens)
      : await limiter.release(counterHold);
    if (applied) holdsReleased += 1;
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
    model: record.calledModel ?? record.model,
    tier: record.tier,
    inputTokens: record.inputTokens,
    outputTokens: 0,
    prices: record.prices,
    status: 'reconciled',
    startedAt: record.startedAt,
    finishedAt: now.toISOString(),
    ...(record.projectId === undefined ? {} : { projectId: record.projectId }),
    ...(record.apiKeyId === undefined ? {} : { apiKeyId: record.apiKeyId }),
  });
}

/**
 * The scheduled function (AWS, every minute): one sweep, logged. It writes ledger records only with
 * `put` (a failed write throws and the record waits for the next run, so no dead-letter sink is
 * needed) and settles spend without alert thresholds (the next settle of the customer publishes an
 * alert a reconciled cost crossed). A run with failures throws, so the function's Errors metric
 * (alarmed) shows it; the next run retries them.
 */
export function createReconcilerHandler(
  doc: DocumentClient,
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
      for (const { requestId, error } of failed)
        logger.error('reconciling failed', { requestId, error });
      throw new Error(
        `${failed.length} reservations could not be reconciled; the next run retries them`,
      );
    }
    return report;
  };
}
