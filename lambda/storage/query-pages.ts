import { QueryCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import type { DocumentClient } from './document-client';

/**
 * Reading a DynamoDB query through its pages. A query stops at 1 MB of items (or at `Limit`) and
 * says where to go on with `LastEvaluatedKey`; a list that reads one page only silently loses what
 * follows.
 */

type Item = Record<string, unknown>;

/**
 * Up to `limit` items from where `input.ExclusiveStartKey` points, and whether more follow: it
 * reads one item more than the limit (across as many pages as that takes) to know.
 *
 * With a FilterExpression, DynamoDB's `Limit` counts the items read before the filter: a page whose
 * items the filter mostly drops (another project's, between this project's) would take one round
 * trip per `limit` items read. Each further read of a filtered query asks for twice as many as the
 * one before, so reading past n dropped items takes about log2(n / limit) queries, not n / limit.
 */
export async function queryPage<T>(
  doc: DocumentClient,
  input: QueryCommandInput,
  limit: number,
  toRecord: (item: Item) => T,
): Promise<{ items: T[]; hasMore: boolean }> {
  const items: T[] = [];
  let startKey = input.ExclusiveStartKey;
  let filteredRead = limit + 1;
  do {
    const needed = limit + 1 - items.length;
    const page = await doc.send(
      new QueryCommand({
        ...input,
        ExclusiveStartKey: startKey,
        Limit: input.FilterExpression ? Math.max(needed, filteredRead) : needed,
      }),
    );
    filteredRead *= 2;
    for (const item of page.Items ?? []) items.push(toRecord(item));
    startKey = page.LastEvaluatedKey;
  } while (startKey && items.length <= limit);
  return { items: items.slice(0, limit), hasMore: items.length > limit };
}

/** Every item the query matches, page after page. */
export async function* queryAll<T>(
  doc: DocumentClient,
  input: QueryCommandInput,
  toRecord: (item: Item) => T,
): AsyncIterable<T> {
  let startKey = input.ExclusiveStartKey;
  do {
    const page = await doc.send(new QueryCommand({ ...input, ExclusiveStartKey: startKey }));
    for (const item of page.Items ?? []) yield toRecord(item);
    startKey = page.LastEvaluatedKey;
  } while (startKey);
}
