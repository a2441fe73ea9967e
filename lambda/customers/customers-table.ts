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

/**
 * A project's item (`CUSTOMER#<id>` / `PROJECT#<projectId>`, lambda/accounts/projects.ts). Here
 * because a project key's create and revocation write on it (the hashes of its keys, so an archive
 * finds every key however it races them) and this folder cannot import accounts'.
 */
export const projectItemKey = (customerId: string, projectId: string) => ({
  [CUSTOMERS_TABLE.partitionKey]: `CUSTOMER#${customerId}`,
  [CUSTOMERS_TABLE.sortKey]: `PROJECT#${projectId}`,
});

/** The attribute of a project's item that holds the hashes of its keys (a string set). */
export const PROJECT_KEY_HASHES = 'keyHashes';
