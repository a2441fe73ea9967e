/**
 * The metering core's crash-safety rules, written once. Code comments and tests cite them as "rule
 * N" (test/lambda/metering/crash-safety.test.ts checks the orders below against the code that
 * follows them).
 *
 * A request's metering is a handful of single-item DynamoDB writes (no transactions: dynalite, the
 * local engine, has none), each conditional, so that a process may die between any two of them
 * (SIGKILL, a Lambda timeout, a crashed host) and a retry, a late settlement and any number of
 * reconcilers may run at once.
 *
 * 1. **Holds are marks.** The update that reserves a counter hold or a spend hold also sets the
 *    attribute `h<holdId>` on its item (metering-table.ts `holdAttribute`); the update that settles
 *    or releases it applies only while that mark is there and removes it. Each hold is settled
 *    exactly once, by the request or by the reconciler, whichever comes first.
 * 2. **Admission: counters, then spend** ({@link ADMISSION_ORDER}). ONE conditional update admits
 *    the request against its limits, reserves its tokens, marks its counter hold and writes its
 *    reservation record (`r<holdId>`, reservations.ts) with the item's due-index entry; only then
 *    does a paying request take its spend hold. A crash before the first write leaves nothing;
 *    between the two, a record without a spend hold, which the reconciler releases unbilled (the
 *    request never ran).
 * 3. **The record rides on the counter hold.** It is written and removed by the same updates as the
 *    counter hold mark, so it exists exactly while that hold does: it is the reconciler's only way
 *    to the request, and so to its spend hold.
 * 4. **Finish: ledger, then spend, then counters** ({@link FINISH_ORDER}). The ledger record is
 *    written first: a spend hold settled before it, and a death in between, would leave the month's
 *    spend counting a cost no ledger record bills (the reconciler, finding neither spend hold nor
 *    record, takes the request for one that never ran). The counter hold goes last because it
 *    carries the record (rule 3). A crash after any step leaves the record, and the reconciler
 *    finishes the remaining steps from the ledger record.
 * 5. **The request id is the ledger's idempotency key.** The ledger record is one conditional
 *    PutItem on `REQ#<requestId>` (`attribute_not_exists`): the first record wins. A request that
 *    finds one there (a reconciler billed it first) settles its holds to that record, not to its
 *    own count. A put the table keeps refusing goes to the dead letters (SQS in AWS, a file
 *    locally), to be replayed; spend `catchUp` brings the month's committed spend up to the ledger.
 * 6. **Release: spend, then counters** ({@link RELEASE_ORDER}). A request that never reached the
 *    model, or was refused after its counter admission (spend limit, too small a default
 *    allowance), gives back its spend hold first, then its counter hold (rule 3). When giving back
 *    the spend hold fails, the counter hold (and the record) stays on purpose. A release that fails
 *    leaves its holds to the reconciler.
 * 7. **The reconciler takes over at the deadline**: the request's start + MAX_REQUEST_MS (15 min,
 *    the chat function's timeout) + RECONCILE_MARGIN_MS (60 s), found through the due-time index;
 *    it runs every minute (EventBridge in AWS, a timer locally), so a dead request's holds are
 *    freed within about 17 minutes of its start. Per record due, in {@link RECONCILE_ORDER}: the
 *    ledger record, or, if the request was admitted (its LAST admission hold is still there, rule
 *    2), a `reconciled` record billing its input tokens as counted at admission; the spend hold
 *    settled to that bill; the counter hold settled (or released, if unbilled), which removes the
 *    record; last, the item's due-index entry moved to its earliest record left, conditional on the
 *    version `rv` it read (an admission in between makes it read again). A failed step leaves the
 *    record and the entry: the next run redoes what is left.
 * 8. **Aggregates follow the ledger, exactly once per record** (aggregate-updates.ts: claim,
 *    increment with a marker, flag the record, remove the marker; `recomputeDay` repairs a day from
 *    the ledger). They are derived data: the ledger is the billing truth.
 */

/** The writes of an admitted request (rule 2). */
export const ADMISSION_ORDER = ['counter hold + record', 'spend hold'] as const;

/** The writes of a finished request (rule 4). */
export const FINISH_ORDER = ['ledger record', 'spend settlement', 'counter settlement'] as const;

/** The writes of a request released without running (rule 6). */
export const RELEASE_ORDER = ['spend release', 'counter release'] as const;

/** The writes of the reconciler for one overdue record (rule 7), then for its counter item. */
export const RECONCILE_ORDER = [
  'ledger record',
  'spend settlement',
  'counter settlement',
  'due-index move',
] as const;

export type MeteringStep =
  | (typeof ADMISSION_ORDER)[number]
  | (typeof FINISH_ORDER)[number]
  | (typeof RELEASE_ORDER)[number]
  | (typeof RECONCILE_ORDER)[number];
