import { BatchWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createDocumentClient } from '../../../lambda/customers/customers-repository';
import { queryAll, queryPage } from '../../../lambda/storage/query-pages';
import { createKeyedTable, type LocalDynamo, startDynalite } from '../../support/dynalite';

/** 300 KB per item: a query page (1 MB) holds three, so ten items take four pages. */
const PADDING = 'x'.repeat(300 * 1024);
const ITEMS = 10;

describe('reading a query through its 1 MB pages (dynalite)', () => {
  let dynamo: LocalDynamo;
  let doc: DynamoDBDocumentClient;
  const TableName = 'pages';
  const query = {
    TableName,
    KeyConditionExpression: 'pk = :p',
    ExpressionAttributeValues: { ':p': 'P' },
  };
  const toSk = (item: Record<string, unknown>) => item.sk as string;

  beforeAll(async () => {
    dynamo = await startDynalite();
    doc = createDocumentClient(dynamo.client);
    await createKeyedTable(dynamo.client, TableName);
    for (let i = 0; i < ITEMS; i += 2) {
      await doc.send(
        new BatchWriteCommand({
          RequestItems: {
            [TableName]: [i, i + 1].map((n) => ({
              PutRequest: {
                Item: { pk: 'P', sk: `S${String(n).padStart(2, '0')}`, padding: PADDING },
              },
            })),
          },
        }),
      );
    }
  }, 60_000);
  afterAll(() => dynamo.stop());

  it('a page of 8 spans three 1 MB pages and knows more follow', async () => {
    const calls = dynamo.calls();
    const page = await queryPage(doc, query, 8, toSk);
    expect(page.items).toEqual(['S00', 'S01', 'S02', 'S03', 'S04', 'S05', 'S06', 'S07']);
    expect(page.hasMore).toBe(true);
    // Nine items read to know: three full pages.
    expect(dynamo.calls() - calls).toBe(3);
  });

  it('the last page says nothing follows, and starts where the cursor points', async () => {
    const page = await queryPage(
      doc,
      { ...query, ExclusiveStartKey: { pk: 'P', sk: 'S06' } },
      5,
      toSk,
    );
    expect(page).toEqual({ items: ['S07', 'S08', 'S09'], hasMore: false });
  });

  it('queryAll yields every item across the pages', async () => {
    const all: string[] = [];
    for await (const sk of queryAll(doc, query, toSk)) all.push(sk);
    expect(all).toHaveLength(ITEMS);
    expect(all.at(-1)).toBe('S09');
  });
});
