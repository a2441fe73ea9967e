/**
 * Key and index names of the files table. The CDK construct builds the table from these and the
 * repository reads and writes with them. No AWS imports: bundled into handlers.
 *
 * Items, all in the partition of the customer who owns them (`CUS#<customerId>`), so reading
 * another customer's id finds nothing:
 * - `FILE#<fileId>`: a file's metadata; also in the `byPurpose` index (`CUS#<id>#<purpose>` /
 *   `FILE#<fileId>`);
 * - `UPLOAD#<uploadId>`: an upload in progress (or finished) through the Uploads API;
 * - `UPLOAD#<uploadId>#PART#<partId>`: one part of it;
 * - `RESP#<responseId>` (and `RESP#<responseId>#PART#<n>` for a large one): a stored Responses API
 *   response, removed by DynamoDB's TTL (`deleteAfter`, Unix seconds) 30 days after it was made;
 * - `STORAGE`: the bytes counted against the storage quota; `HOLD#<fileId>#<attempt>`: a file being
 *   stored; `COUNTED#RESP#<responseId>`: the input of a stored response its model never saw, counted
 *   until the response's `deleteAfter` (`files-repository.ts`).
 * Ids sort by creation time (`ids.ts`), so the sort key is also the listing order.
 */
export const FILES_TABLE = {
  partitionKey: 'pk',
  sortKey: 'sk',
  byPurposeIndex: { name: 'byPurpose', partitionKey: 'gsi1pk', sortKey: 'gsi1sk' },
  /** Only items that set it expire: stored responses and their counted input. */
  timeToLiveAttribute: 'deleteAfter',
} as const;

/** Environment variable that carries the table name into a function. */
export const FILES_TABLE_ENV = 'FILES_TABLE_NAME';

/** Environment variable that carries the files bucket's name into a function. */
export const FILES_BUCKET_ENV = 'FILES_BUCKET_NAME';
