import { randomBytes } from 'node:crypto';
import { defaultProjectId } from '../../../lambda/customers/key-permissions';
import { FilesRepository } from '../../../lambda/files/files-repository';
import { BadRequestError } from '../../../lambda/openai/errors';
import { storedInputItems, unseenItemsBytes } from '../../../lambda/responses/response-objects';
import { ResponsesRepository } from '../../../lambda/responses/responses-repository';
import { parseResponsesRequest } from '../../../lambda/responses/responses-request';
import { createDocumentClient, type DocumentClient } from '../../../lambda/storage/document-client';
import { createLeanDocumentClient } from '../../../lambda/storage/lean-document-client';
import { ensureFilesTable } from '../../../local/local-tables';
import { type LocalDynamo, startDynalite } from '../../support/dynalite';
import { storedResponse } from '../../support/stored-responses';

/**
 * The input a stored response keeps that its model never saw (the turns `truncation: auto`
 * dropped) counts against the organization's storage quota, beside its files, on dynalite: refused
 * before the model runs, given back on DELETE, when the response is not stored, and once expired.
 */

const TABLE = 'files-stored-input';
const QUOTA = 1_000;
let dynamo: LocalDynamo;
let clock = new Date('2026-12-07T12:00:00Z');
let customers = 0;
const nextOwner = () => {
  customers += 1;
  const customerId = `cus_stored${customers}`;
  return { customerId, projectId: defaultProjectId(customerId) };
};
const newId = () => `resp_${randomBytes(8).toString('hex')}`;

const stored = (id: string, text: string) => storedResponse(id, text, clock);

async function refusal(promise: Promise<unknown>): Promise<BadRequestError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(BadRequestError);
  return error as BadRequestError;
}

beforeAll(async () => {
  dynamo = await startDynalite();
  await ensureFilesTable(dynamo.client, TABLE);
});
afterAll(() => dynamo.stop());
afterEach(() => {
  clock = new Date('2026-12-07T12:00:00Z');
});

describe.each([
  ['the SDK document client', (): DocumentClient => createDocumentClient(dynamo.client)],
  ['the lean document client', (): DocumentClient => createLeanDocumentClient(dynamo.client)],
])('stored input counted against the storage quota, with %s', (_label, makeClient) => {
  const responses = () => new ResponsesRepository(makeClient(), TABLE, { now: () => clock });
  const files = () => new FilesRepository(makeClient(), TABLE, { now: () => clock });

  it('counts what fits and refuses, with a 400 naming input, what would pass the quota', async () => {
    const owner = nextOwner();
    const first = newId();
    await responses().countStoredInput(owner, first, 600, QUOTA);
    await responses().put(owner, stored(first, 'one'), { counted: true });
    expect(await files().storedBytes(owner.customerId)).toBe(600);

    const error = await refusal(responses().countStoredInput(owner, newId(), 600, QUOTA));
    expect(error.status).toBe(400);
    expect(error.toBody().error).toMatchObject({
      param: 'input',
      code: 'storage_quota_exceeded',
      type: 'invalid_request_error',
    });
    expect(error.message).toContain('600 bytes');
    // The refused count left nothing counted.
    expect(await files().storedBytes(owner.customerId)).toBe(600);
    expect(await files().recountStorage(owner.customerId)).toBe(600);
  });

  it('shares the quota with files: a recount finds both', async () => {
    const owner = nextOwner();
    await files().reserveStorage(owner.customerId, 300, QUOTA);
    await files().putFile({
      fileId: 'file-shared',
      customerId: owner.customerId,
      filename: 'a.jsonl',
      purpose: 'batch',
      bytes: 300,
      lines: 1,
      createdAt: 0,
      objectKey: 'x',
    });
    const id = newId();
    await responses().countStoredInput(owner, id, 700, QUOTA);
    await responses().put(owner, stored(id, 'hi'), { counted: true });
    expect(await files().recountStorage(owner.customerId)).toBe(1_000);
    await refusal(responses().countStoredInput(owner, newId(), 1, QUOTA));
    expect(await files().reserveStorage(owner.customerId, 1, QUOTA)).toBe(false);
  });

  it('gives the bytes back when the response is deleted, once however often it is deleted', async () => {
    const owner = nextOwner();
    const id = newId();
    await responses().countStoredInput(owner, id, 900, QUOTA);
    await responses().put(owner, stored(id, 'big'), { counted: true });
    expect(await files().storedBytes(owner.customerId)).toBe(900);

    const [one, two] = await Promise.all([
      responses().delete(owner, id),
      responses().delete(owner, id),
    ]);
    expect([one, two].sort()).toEqual([false, true]);
    expect(await responses().delete(owner, id)).toBe(false);
    expect(await files().storedBytes(owner.customerId)).toBe(0);
    await responses().countStoredInput(owner, newId(), 900, QUOTA);
  });

  it('counts a response counted twice (a duplicate) once, and its duplicate store gives nothing back', async () => {
    const owner = nextOwner();
    const id = newId();
    expect(await responses().countStoredInput(owner, id, 400, QUOTA)).toBe(true);
    expect(await responses().countStoredInput(owner, id, 400, QUOTA)).toBe(false);
    expect(await files().storedBytes(owner.customerId)).toBe(400);

    // The first stores it; the duplicate, which counted nothing, finds it stored.
    expect(await responses().put(owner, stored(id, 'one'), { counted: true })).toBe(true);
    expect(await responses().put(owner, stored(id, 'one'), { counted: false })).toBe(false);
    expect(await files().storedBytes(owner.customerId)).toBe(400);
    expect(await files().recountStorage(owner.customerId)).toBe(400);
  });

  it('gives the bytes back when the response is not stored (deleted while it was made)', async () => {
    const owner = nextOwner();
    const id = newId();
    await responses().countStoredInput(owner, id, 800, QUOTA);
    // DELETE while it streams: nothing to delete, a tombstone.
    expect(await responses().delete(owner, id)).toBe(false);
    expect(await responses().put(owner, stored(id, 'gone'), { counted: true })).toBe(false);
    expect(await files().storedBytes(owner.customerId)).toBe(0);
    expect(await files().recountStorage(owner.customerId)).toBe(0);
  });

  it('gives the bytes back when the store fails: the customer has nothing to delete', async () => {
    const owner = nextOwner();
    const id = newId();
    await responses().countStoredInput(owner, id, 800, QUOTA);
    const plain = makeClient();
    const failing = {
      send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
        const item = command.input.Item as Record<string, string> | undefined;
        if (command.constructor.name === 'PutCommand' && item?.sk === `RESP#${id}`)
          throw new Error('ProvisionedThroughputExceededException');
        return (plain.send as (c: unknown) => Promise<unknown>)(command);
      },
    } as unknown as DocumentClient;
    await expect(
      new ResponsesRepository(failing, TABLE, { now: () => clock }).put(owner, stored(id, 'lost'), {
        counted: true,
      }),
    ).rejects.toThrow('ProvisionedThroughputExceededException');
    expect(await responses().get(owner, id)).toBeUndefined();
    expect(await files().storedBytes(owner.customerId)).toBe(0);
    expect(await files().recountStorage(owner.customerId)).toBe(0);
  });

  it('keeps them counted when the store answered an error but was applied (a timeout): the response is kept', async () => {
    const owner = nextOwner();
    const id = newId();
    await responses().countStoredInput(owner, id, 800, QUOTA);
    const plain = makeClient();
    const timingOut = {
      send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
        const answer = await (plain.send as (c: unknown) => Promise<unknown>)(command);
        const item = command.input.Item as Record<string, string> | undefined;
        if (command.constructor.name === 'PutCommand' && item?.sk === `RESP#${id}`)
          throw new Error('TimeoutError');
        return answer;
      },
    } as unknown as DocumentClient;
    await expect(
      new ResponsesRepository(timingOut, TABLE, { now: () => clock }).put(
        owner,
        stored(id, 'kept'),
        { counted: true },
      ),
    ).rejects.toThrow('TimeoutError');
    expect(await responses().get(owner, id)).toBeDefined();
    expect(await files().recountStorage(owner.customerId)).toBe(800);
    expect(await responses().delete(owner, id)).toBe(true);
    expect(await files().storedBytes(owner.customerId)).toBe(0);
  });

  it('gives the bytes back when the model failed before anything was stored', async () => {
    const owner = nextOwner();
    const id = newId();
    await responses().countStoredInput(owner, id, 800, QUOTA);
    await responses().releaseStoredInput(owner, id);
    await responses().releaseStoredInput(owner, id);
    expect(await files().storedBytes(owner.customerId)).toBe(0);
  });

  it('stops counting a response once it expires: the next refusal recounts and lets the customer in', async () => {
    const owner = nextOwner();
    const id = newId();
    await responses().countStoredInput(owner, id, 900, QUOTA);
    await responses().put(owner, stored(id, 'old'), { counted: true });
    await refusal(responses().countStoredInput(owner, newId(), 900, QUOTA));

    clock = new Date(clock.getTime() + 30 * 86_400_000 + 1_000);
    expect(await responses().get(owner, id)).toBeUndefined();
    await responses().countStoredInput(owner, newId(), 900, QUOTA);
    expect(await files().storedBytes(owner.customerId)).toBe(900);
    // A DELETE of the expired response gives back nothing more: the recount already left it out.
    expect(await responses().delete(owner, id)).toBe(false);
    expect(await files().storedBytes(owner.customerId)).toBe(900);
  });

  it('never counts less than is kept when a recount runs between a release of the counted item and of the counter', async () => {
    const owner = nextOwner();
    const kept = newId();
    const deleted = newId();
    await responses().countStoredInput(owner, kept, 300, QUOTA);
    await responses().put(owner, stored(kept, 'kept'), { counted: true });
    await responses().countStoredInput(owner, deleted, 600, QUOTA);
    await responses().put(owner, stored(deleted, 'deleted'), { counted: true });
    expect(await files().storedBytes(owner.customerId)).toBe(900);

    // A refusal's recount (another request's) runs right after the DELETE moved the counted item
    // to 0, before it takes the bytes off the counter.
    const plain = makeClient();
    let recounted: Promise<number> | undefined;
    const pausing = {
      send: async (command: { input: Record<string, unknown> }) => {
        const answer = await (plain.send as (c: unknown) => Promise<unknown>)(command);
        const key = command.input.Key as Record<string, string> | undefined;
        if (
          !recounted &&
          command.input.ReturnValues === 'UPDATED_OLD' &&
          key?.sk?.startsWith('COUNTED#')
        )
          recounted = files().recountStorage(owner.customerId);
        if (recounted) await recounted;
        return answer;
      },
    } as unknown as DocumentClient;
    const racing = new ResponsesRepository(pausing, TABLE, { now: () => clock });
    expect(await racing.delete(owner, deleted)).toBe(true);
    expect(recounted).toBeDefined();

    // The kept response's 300 bytes are still counted: the customer may add 700, not 1,300.
    expect(await files().storedBytes(owner.customerId)).toBe(300);
    expect(await files().recountStorage(owner.customerId)).toBe(300);
  });

  it('counts a release that died before the counter gave its bytes back until it is stale, as a hold', async () => {
    const owner = nextOwner();
    const id = newId();
    await responses().countStoredInput(owner, id, 600, QUOTA);
    await responses().put(owner, stored(id, 'half-deleted'), { counted: true });
    const plain = makeClient();
    const dying = {
      send: async (command: { input: Record<string, unknown> }) => {
        const key = command.input.Key as Record<string, string> | undefined;
        if (key?.sk === 'STORAGE' && command.input.UpdateExpression === 'ADD #bytes :bytes')
          throw new Error('the process died');
        return (plain.send as (c: unknown) => Promise<unknown>)(command);
      },
    } as unknown as DocumentClient;
    await expect(
      new ResponsesRepository(dying, TABLE, { now: () => clock }).delete(owner, id),
    ).rejects.toThrow('the process died');
    // The counter still has them, and a recount agrees; once stale, a recount lets them go.
    expect(await files().recountStorage(owner.customerId)).toBe(600);
    clock = new Date(clock.getTime() + 16 * 60_000);
    expect(await files().recountStorage(owner.customerId)).toBe(0);
  });

  it('counts a response for as long as a request may run until it is stored: one never stored (a crash) stops counting', async () => {
    const owner = nextOwner();
    await responses().countStoredInput(owner, newId(), 900, QUOTA);
    await refusal(responses().countStoredInput(owner, newId(), 900, QUOTA));
    clock = new Date(clock.getTime() + 20 * 60_000);
    await responses().countStoredInput(owner, newId(), 900, QUOTA);
  });
});

describe('the stored bytes of the input items the model never sees', () => {
  const request = parseResponsesRequest({
    model: 'qwen3-8b',
    input: [
      // An id is stored, never sent to the model: it counts with its item.
      { role: 'user', content: 'Oldest', id: `msg_${'x'.repeat(252)}` },
      { type: 'reasoning', summary: [], id: 'rs_1' },
      { type: 'function_call', call_id: 'call_1', name: 'look', arguments: '{}' },
      { type: 'function_call_output', call_id: 'call_1', output: 'seen' },
      { role: 'user', content: 'Newest' },
    ],
  });
  const items = storedInputItems(request, 'resp_0123');
  const bytesOf = (...indexes: number[]) =>
    indexes.reduce((sum, at) => sum + Buffer.byteLength(JSON.stringify(items[at])), 0);

  it('counts the items of the dropped messages and their ids, and every reasoning item once', () => {
    // Messages: 0 the oldest user turn, 1 the assistant's call, 2 the tool's answer, 3 the newest.
    expect(unseenItemsBytes(request, 'resp_0123', { from: 0, to: 1 })).toBe(bytesOf(0, 1));
    expect(unseenItemsBytes(request, 'resp_0123', { from: 0, to: 2 })).toBe(bytesOf(0, 1, 2));
    expect(unseenItemsBytes(request, 'resp_0123', { from: 0, to: 3 })).toBe(bytesOf(0, 1, 2, 3));
    expect(bytesOf(0)).toBeGreaterThan(256);
  });

  it('counts the reasoning items when nothing was dropped: stored, never sent to the model', () => {
    expect(unseenItemsBytes(request, 'resp_0123', { from: 0, to: 0 })).toBe(bytesOf(1));
  });

  it('counts nothing when nothing was dropped and no item is a reasoning item', () => {
    const plain = parseResponsesRequest({
      model: 'qwen3-8b',
      input: [{ role: 'user', content: 'Hi', id: 'msg_1' }],
    });
    expect(unseenItemsBytes(plain, 'resp_0123', { from: 0, to: 0 })).toBe(0);
    expect(unseenItemsBytes({ input: 'Hi' }, 'resp_0123', { from: 0, to: 0 })).toBe(0);
  });
});
