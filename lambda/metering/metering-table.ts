/**
 * Key and index names of the metering table (limit counters, spend, the usage ledger, usage aggregates).
 * The CDK construct builds the table from these and the adapters read and write with them. No AWS imports.
 *
 * Items (single-table design; every key names its window, so no correctness depends on TTL):
 * - `LIM#<customerId>#<model>#<day>#<shard>` / `LIM`: request and token counters of one UTC day, with the
 *   counters of the current minute of that day (see lambda/metering/limiter.ts);
 * - `SPEND#<customerId>#<month>` / `SPEND`: spend of one UTC month, reserved and committed, and which alert
 *   thresholds were published;
 * - `REQ#<requestId>` / `REQ`: the ledger, one item per request, the billing truth; indexed by customer and
 *   day (`byCustomerDay`) so aggregates can be recomputed;
 * - `AGG#<customerId>` / `<day>#<model>`: usage aggregates derived from the ledger (recomputable);
 * - `RSV#<requestId>` / `RSV`: the reservation record of a request in flight (reservations.ts), written before its
 *   holds and deleted once it is billed; indexed by due time (`byCustomerDay` with `RSVDUE#<shard>` /
 *   `<deadline>#<requestId>`, a partition no customer-day key can take) so the reconciler finds the overdue ones.
 * Counter and spend items carry one attribute {@link holdAttribute} per request holding on them.
 */
export const METERING_TABLE = {
  partitionKey: 'pk',
  sortKey: 'sk',
  byCustomerDayIndex: { name: 'byCustomerDay', partitionKey: 'gsi1pk', sortKey: 'gsi1sk' },
} as const;

/** Environment variable that carries the table name into a function. */
export const METERING_TABLE_ENV = 'METERING_TABLE_NAME';

/** Environment variable with the URL of the ledger's dead-letter queue (SQS). */
export const LEDGER_DEAD_LETTERS_ENV = 'LEDGER_DEAD_LETTER_QUEUE_URL';

/**
 * The attribute of a counter or spend item that marks one request's hold on it (its value: what it holds). It is
 * set by the update that reserves and removed by the update that settles, so each hold is settled once.
 */
export const holdAttribute = (holdId: string) => `h${holdId}`;
