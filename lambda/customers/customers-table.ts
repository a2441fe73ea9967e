/**
 * Key and index names of the customers table. The CDK construct builds the table from these and the
 * repository reads and writes with them, so the two cannot drift apart. No AWS imports: bundled
 * into handlers.
 *
 * Items (single-table design):
 * - `CUSTOMER#<id>` / `PROFILE`: the customer (operator view), listed through the `byCreated`
 *   index;
 * - `KEY#<sha256>` / `KEY`: one API key, denormalised with what the authorizer needs (one GetItem
 *   per miss);
 * - `EMAIL#<email>` / `EMAIL`: makes e-mail addresses unique, so `customers create` is safe to
 *   re-run.
 */
export const CUSTOMERS_TABLE = {
  partitionKey: 'pk',
  sortKey: 'sk',
  byCreatedIndex: { name: 'byCreated', partitionKey: 'gsi1pk', sortKey: 'gsi1sk' },
} as const;

/** Environment variable that carries the table name into a function. */
export const CUSTOMERS_TABLE_ENV = 'CUSTOMERS_TABLE_NAME';
