import { randomBytes } from 'node:crypto';
import { GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { defaultProjectId } from '../../../lambda/customers/key-permissions';
import { PART_BYTES, ResponsesRepository } from '../../../lambda/responses/responses-repository';
import { createDocumentClient, type DocumentClient } from '../../../lambda/storage/document-client';
import { createLeanDocumentClient } from '../../../lambda/storage/lean-document-client';
import { ensureFilesTable } from '../../../local/local-tables';
import { type LocalDynamo, startDynalite } from '../../support/dynalite';
import { storedResponse } from '../../support/stored-responses';

/** Stored responses on dynalite, through both document clients (the lean one runs in Lambda). */

const TABLE = 'files-responses';
/** Organizations' default projects, and one more project of A's. */
const A = { customerId: 'cus_a', projectId: defaultProjectId('cus_a') };
const B = { customerId: 'cus_b', projectId: defaultProjectId('cus_b') };
const A_OTHER = { customerId: 'cus_a', projectId: 'proj_other' };
let dynamo: LocalDynamo;
let clock = new Date('2026-12-07T12:00:00Z');

const stored = (id: string, text: string) =>
  storedResponse(id, text, clock, [
    { type: 'message', id: 'in_1', role: 'user', status: 'completed', content: [] },
  ]);

beforeAll(async () => {
  dynamo = await startDynalite();
  await ensureFilesTable(dynamo.client, TABLE);
});
afterAll(() => dynamo.stop());

describe.each([
  ['the SDK document client', () => createDocumentClient(dynamo.client)],
  ['the lean document client', () => createLeanDocumentClient(dynamo.client)],
])('stored responses with %s', (_label, makeClient) => {
  const repository = () => new ResponsesRepository(makeClient(), TABLE, { now: () => clock });

  it("keeps a response for its owner only; another customer's id reads nothing", async () => {
    const id = `resp_${randomBytes(8).toString('hex')}`;
    await repository().put(A, stored(id, 'Hello'));

    expect(await repository().get(A, id)).toEqual(stored(id, 'Hello'));
    expect(await repository().get(B, id)).toBeUndefined();
    expect(await repository().delete(B, id)).toBe(false);
    expect(await repository().get(A, id)).toBeDefined();
  });

  it("keeps a response for its project only: another project's key reads and deletes nothing", async () => {
    const id = `resp_${randomBytes(8).toString('hex')}`;
    await repository().put(A_OTHER, stored(id, 'Team'));
    expect(await repository().get(A, id)).toBeUndefined();
    expect(await repository().delete(A, id)).toBe(false);
    expect(await repository().get(A_OTHER, id)).toEqual(stored(id, 'Team'));
    expect(await repository().delete(A_OTHER, id)).toBe(true);
  });

  it("reads a response stored before projects were recorded as the default project's", async () => {
    const id = `resp_${randomBytes(8).toString('hex')}`;
    await repository().put(A, stored(id, 'Legacy'));
    // The head item as the earlier code wrote it: no projectId.
    const { Items } = await makeClient().send(
      new QueryCommand({
        TableName: TABLE,
        KeyConditionExpression: 'pk = :pk AND sk = :sk',
        ExpressionAttributeValues: { ':pk': 'CUS#cus_a', ':sk': `RESP#${id}` },
      }),
    );
    const { projectId: _dropped, ...legacy } = Items?.[0] ?? {};
    await makeClient().send(new PutCommand({ TableName: TABLE, Item: legacy }));
    expect(await repository().get(A_OTHER, id)).toBeUndefined();
    expect(await repository().delete(A_OTHER, id)).toBe(false);
    expect(await repository().get(A, id)).toEqual(stored(id, 'Legacy'));
    expect(await repository().delete(A, id)).toBe(true);
  });

  it('splits a body larger than a DynamoDB item into parts, reads it whole, deletes every part', async () => {
    const id = `resp_${randomBytes(8).toString('hex')}`;
    // Random bytes as base64 gzip to about their own size: 3 parts.
    const big = randomBytes(Math.ceil(PART_BYTES * 2.5)).toString('base64');
    await repository().put(A, stored(id, big));

    const parts = await makeClient().send(
      new QueryCommand({
        TableName: TABLE,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': 'CUS#cus_a', ':prefix': `RESP#${id}` },
      }),
    );
    expect(parts.Items?.length).toBeGreaterThan(2);
    for (const item of parts.Items ?? [])
      expect((item.body as Uint8Array).byteLength).toBeLessThanOrEqual(PART_BYTES);
    expect((await repository().get(A, id))?.conversation[0]?.content).toBe(big);

    expect(await repository().delete(A, id)).toBe(true);
    const left = await makeClient().send(
      new QueryCommand({
        TableName: TABLE,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': 'CUS#cus_a', ':prefix': `RESP#${id}` },
      }),
    );
    expect(left.Items).toEqual([]);
    expect(await repository().get(A, id)).toBeUndefined();
    expect(await repository().delete(A, id)).toBe(false);
  });

  it('forgets a response 30 days after it was stored, before DynamoDB removes it', async () => {
    const id = `resp_${randomBytes(8).toString('hex')}`;
    await repository().put(A, stored(id, 'Old'));
    const stored29Days = clock;
    clock = new Date(stored29Days.getTime() + 29 * 86_400_000);
    expect(await repository().get(A, id)).toBeDefined();
    clock = new Date(stored29Days.getTime() + 30 * 86_400_000 + 1_000);
    expect(await repository().get(A, id)).toBeUndefined();
    expect(await repository().delete(A, id)).toBe(false);
    clock = stored29Days;
  });

  describe('a response deleted while it is made (it is stored when it ends)', () => {
    it('answers false and leaves a tombstone: the finished write does not store it', async () => {
      const id = `resp_${randomBytes(8).toString('hex')}`;
      expect(await repository().delete(A, id)).toBe(false);
      expect(await repository().put(A, stored(id, 'Streaming'))).toBe(false);
      expect(await repository().get(A, id)).toBeUndefined();
      // The tombstone is nothing to delete.
      expect(await repository().delete(A, id)).toBe(false);
    });

    it('leaves a body in parts unstored too, and touches no other project’s response', async () => {
      const id = `resp_${randomBytes(8).toString('hex')}`;
      expect(await repository().delete(A, id)).toBe(false);
      const large = stored(id, randomBytes(PART_BYTES * 2).toString('base64'));
      expect(await repository().put(A, large)).toBe(false);
      expect(await repository().get(A, id)).toBeUndefined();

      const theirs = `resp_${randomBytes(8).toString('hex')}`;
      expect(await repository().put(A_OTHER, stored(theirs, 'Theirs'))).toBe(true);
      expect(await repository().delete(A, theirs)).toBe(false);
      expect(await repository().get(A_OTHER, theirs)).toEqual(stored(theirs, 'Theirs'));
    });

    it('is stored for its project when another project deleted its id first, and not when its own did', async () => {
      // Another project's key guessing (or being told) an id still streaming in this project.
      const id = `resp_${randomBytes(8).toString('hex')}`;
      expect(await repository().delete(A_OTHER, id)).toBe(false);
      expect(await repository().put(A, stored(id, 'Mine'))).toBe(true);
      expect(await repository().get(A, id)).toEqual(stored(id, 'Mine'));
      expect(await repository().get(A_OTHER, id)).toBeUndefined();

      // Both deleted it, in either order: the owner's DELETE still wins over the finished write.
      const both = `resp_${randomBytes(8).toString('hex')}`;
      expect(await repository().delete(A_OTHER, both)).toBe(false);
      expect(await repository().delete(A, both)).toBe(false);
      expect(await repository().put(A, stored(both, 'Deleted'))).toBe(false);
      const reversed = `resp_${randomBytes(8).toString('hex')}`;
      expect(await repository().delete(A, reversed)).toBe(false);
      expect(await repository().delete(A_OTHER, reversed)).toBe(false);
      expect(await repository().put(A, stored(reversed, 'Deleted'))).toBe(false);
      expect(await repository().get(A, reversed)).toBeUndefined();
    });

    it('deletes a response whose stream ended between the DELETE finding nothing and its tombstone', async () => {
      const id = `resp_${randomBytes(8).toString('hex')}`;
      const doc = makeClient();
      let endedBetween = false;
      // The stream's final write lands just before the DELETE's tombstone is written.
      const racing = {
        send: async (command: Parameters<DocumentClient['send']>[0]) => {
          if (command instanceof UpdateCommand && !endedBetween) {
            endedBetween = true;
            expect(await repository().put(A, stored(id, 'Ended'))).toBe(true);
          }
          return doc.send(command as never);
        },
      } as DocumentClient;
      const deleting = new ResponsesRepository(racing, TABLE, { now: () => clock });
      expect(await deleting.delete(A, id)).toBe(true);
      expect(endedBetween).toBe(true);
      expect(await repository().get(A, id)).toBeUndefined();
    });

    it('stores each response id once', async () => {
      const id = `resp_${randomBytes(8).toString('hex')}`;
      expect(await repository().put(A, stored(id, 'First'))).toBe(true);
      expect(await repository().put(A, stored(id, 'Again'))).toBe(false);
      expect(await repository().get(A, id)).toEqual(stored(id, 'First'));
    });

    it('keeps the tombstone only as long as a request may run (15 min and the margin)', async () => {
      const id = `resp_${randomBytes(8).toString('hex')}`;
      expect(await repository().delete(A, id)).toBe(false);
      const { Item } = await makeClient().send(
        new GetCommand({ TableName: TABLE, Key: { pk: 'CUS#cus_a', sk: `RESP#${id}` } }),
      );
      expect(Number(Item?.deleteAfter)).toBe(Math.floor(clock.getTime() / 1000) + 16 * 60);
    });
  });
});
