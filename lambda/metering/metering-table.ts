/**
 * Key and index names of the metering table (limit counters, spend, the usage ledger, usage
 * aggregates). The CDK construct builds the table from these and the adapters read and write with
 * them. No AWS imports.
 *
 * Items (single-table design; every key names its window, so no correctness depends on TTL):
 * - `LIM#<customerId>#<model>#<day>#<shard>` / `LIM`: request and token counters of one UTC day,
 *   with the counters of the current minute of that day (see lambda/metering/limiter.ts);
 * - `SPEND#<customerId>#<month>` / `SPEND`: spend of one UTC month, reserved and committed, and
 *   which alert thresholds were published;
 * - `REQ#<requestId>` / `REQ`: the ledger, one item per request, the billing truth; indexed by
 *   customer and day (`byCustomerDay`) so aggregates can be recomputed;
 * - `AGG#<customerId>` / `<day>#<model>`: usage aggregates derived from the ledger (recomputable);
 *   Counter and spend items carry one attribute {@link holdAttribute} per request holding on them.
 *   A counter item also carries each such request's reservation record ({@link recordAttribute},
 *   reservations.ts), written and removed by the same updates as its hold, with a version {@link
 *   RECORD_VERSION} that every admission bumps. From its first record on it is indexed by due time
 *   (`byCustomerDay` with `RSVDUE#<shard>` / `<earliest deadline>#<pk>`, a partition no
 *   customer-day key can take) until the reconciler, past that deadline, finds no record left, so
 *   it finds the requests whose process died. The index projects all attributes: while indexed, a
 *   counter item is written twice (table and index) at every admission and settlement, each write
 *   charged by the item's size.
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
 * The attribute of a counter or spend item that marks one request's hold on it (its value: what it
 * holds): crash-safety.ts rule 1.
 */
export const holdAttribute = (holdId: string) => `h${holdId}`;

/**
 * The attribute of a counter item that carries the reservation record of the request holding
 * `h<holdId>` (reservations.ts): crash-safety.ts rule 3.
 */
export const recordAttribute = (holdId: string) => `r${holdId}`;

/**
 * A counter item's version, added to by every admission that writes a record: the reconciler moves
 * the item in the due index only if no admission came between its read and its move.
 */
export const RECORD_VERSION = 'rv';
