import { gunzipSync, gzipSync, type ZlibOptions } from 'node:zlib';
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { type ProjectScope, projectCondition, projectOf } from '../customers/project-ownership';
import { FilesRepository } from '../files/files-repository';
import { FILES_TABLE } from '../files/files-table';
import type { ChatMessage } from '../inference/chat-request';
import { MAX_REQUEST_MS, RECONCILE_MARGIN_MS } from '../metering/reservations';
import { BadRequestError } from '../openai/errors';
import type { ResponseItem, ResponseObject } from '../openai/shapes/responses';
import { applied, isConditionFailure } from '../storage/conditional-writes';
import type { DocumentClient } from '../storage/document-client';
import {
  and,
  type Condition,
  conditionOnly,
  contains,
  exists,
  not,
  notExists,
  or,
  update,
} from '../storage/expressions';
import { queryAll } from '../storage/query-pages';

const { partitionKey: PK, sortKey: SK, timeToLiveAttribute: TTL } = FILES_TABLE;
/** Marks where a response deleted before it was stored would go ({@link ResponsesRepository.delete}). */
const TOMBSTONE = 'deletedBeforeStored';
/** The projects whose DELETE left the tombstone: only the owning project's keeps it unstored. */
const DELETED_BY = 'deletedBy';

/** OpenAI keeps a stored response 30 days. */
export const RESPONSE_RETENTION_DAYS = 30;

/**
 * One part of a stored body. DynamoDB takes items of at most 400 KB (names and values together); a
 * Lambda request body may be 6 MB. Bodies are gzipped (prompts compress several times) and the
 * rare one still above this is split into part items, so nothing is refused for its size.
 */
export const PART_BYTES = 350_000;

/**
 * zlib's defaults give each call a 256 KB state (a 32 KB window at memLevel 8), allocated and
 * zeroed afresh: for the few KB of an ordinary response that was most of the store's CPU in the
 * gateway's profile at concurrency 64. A window no larger than the body compresses it the same.
 */
function gzipFor(bytes: number): ZlibOptions {
  const windowBits = Math.min(15, Math.max(9, Math.ceil(Math.log2(bytes + 1))));
  return { windowBits, memLevel: Math.max(1, windowBits - 7) };
}

/** A stored response: the object, this request's input items, and the conversation a later one continues. */
export interface StoredResponse {
  response: ResponseObject;
  inputItems: ResponseItem[];
  /** What the model saw but the instructions, and its answer (`previous_response_id` continues it). */
  conversation: ChatMessage[];
}

/** Whose a stored response is: the organization's partition holds it, its project may read it. */
export type ResponseOwner = ProjectScope;

/** What a response's stored bytes are counted under in the storage quota ({@link FilesRepository.countStored}). */
const countedId = (responseId: string) => `RESP#${responseId}`;

/** 400 for a response whose unseen input the customer's storage quota cannot hold, with the numbers. */
export function storedInputQuotaExceeded(
  quotaBytes: number,
  storedBytes: number,
  bytes: number,
): BadRequestError {
  return new BadRequestError(
    `Storing this response would pass your storage quota of ${quotaBytes} bytes (${storedBytes} ` +
      `bytes stored): ${bytes} bytes of its input are never seen by the model (turns truncation ` +
      `dropped, reasoning items) yet kept with it for ${RESPONSE_RETENTION_DAYS} days, and count ` +
      "against the quota. Send 'store': false, shorten the input or leave its reasoning items out, " +
      'or delete stored responses (DELETE /v1/responses/{response_id}) or files you no ' +
      'longer need; see GET /v1/plans for the quota of each tier.',
    { param: 'input', code: 'storage_quota_exceeded' },
  );
}

const partition = (customerId: string) => `CUS#${customerId}`;
const headKey = (customerId: string, responseId: string) => ({
  [PK]: partition(customerId),
  [SK]: `RESP#${responseId}`,
});
const partPrefix = (responseId: string) => `RESP#${responseId}#PART#`;
const partKey = (customerId: string, responseId: string, part: number) => ({
  [PK]: partition(customerId),
  [SK]: `${partPrefix(responseId)}${String(part).padStart(4, '0')}`,
});

/** What the routes use of {@link ResponsesRepository}. */
export type StoredResponses = Pick<
  ResponsesRepository,
  'put' | 'get' | 'delete' | 'countStoredInput' | 'releaseStoredInput'
>;

/**
 * Stored responses in the files table, in the partition of the customer who made them (another
 * customer's id finds nothing) and marked with the project whose key made them (another project's
 * key finds nothing either, as OpenAI scopes responses to a project), with a TTL of 30 days
 * (`deleteAfter`: DynamoDB removes expired items within days, so a read checks the time too). Part
 * items are written first and the head item last: a crash in between leaves parts no head names,
 * which expire with it.
 */
export class ResponsesRepository {
  private readonly now: () => Date;
  /** The storage counter of the customer's files, which stored responses' unseen input shares. */
  private readonly storage: FilesRepository;

  constructor(
    private readonly doc: DocumentClient,
    private readonly tableName: string,
    options: { now?: () => Date } = {},
  ) {
    this.now = options.now ?? (() => new Date());
    this.storage = new FilesRepository(doc, tableName, { now: this.now });
  }

  private nowSeconds(): number {
    return Math.floor(this.now().getTime() / 1000);
  }

  /**
   * Stores a finished response for 30 days; false when it was deleted while it was being made (a
   * DELETE that found nothing left a tombstone where it would go, {@link delete}): the write is
   * conditional on nothing being there, and each response id is made once. `counted`: this request
   * counted the response's unseen input ({@link countStoredInput}): it stays counted as long as the
   * response is kept, and is given back when the response is not stored.
   */
  async put(
    owner: ResponseOwner,
    stored: StoredResponse,
    options: { counted?: boolean } = {},
  ): Promise<boolean> {
    const { customerId } = owner;
    const json = JSON.stringify(stored);
    const body = gzipSync(json, gzipFor(json.length));
    const parts: Buffer[] = [];
    for (let at = 0; at < body.length; at += PART_BYTES)
      parts.push(body.subarray(at, at + PART_BYTES));
    const deleteAfter = this.nowSeconds() + RESPONSE_RETENTION_DAYS * 86_400;
    const responseId = stored.response.id;
    // Counted bytes stay counted as long as the response is kept, from before its first item is
    // written: a crash before the head leaves parts that are kept as long, and counted.
    if (options.counted)
      await this.storage.keepCounted(customerId, countedId(responseId), deleteAfter);
    let written: boolean;
    try {
      written = await this.writeItems(owner, responseId, parts, stored, deleteAfter);
    } catch (error) {
      // A store that failed (the caller loses the stored copy, not the answer) leaves nothing the
      // customer could delete: what was counted for it is given back, as when it is not stored
      // (else it stayed counted 30 days). Only once read not stored: a write that timed out may
      // have been applied, and a stored response must stay counted (when unsure, it does).
      if (options.counted && (await this.get(owner, responseId).catch(() => true)) === undefined)
        await this.releaseStoredInput(owner, responseId).catch(() => undefined);
      throw error;
    }
    // Part items written above stay unnamed by any head and expire with their TTL, as after a
    // crash between them and the head (the streaming function may not delete items); what was
    // counted for them is given back, as the customer cannot delete what is not stored.
    if (!written && options.counted) await this.releaseStoredInput(owner, responseId);
    return written;
  }

  /** The parts after the first, then the head with the first: the head's presence means complete. */
  private async writeItems(
    owner: ResponseOwner,
    responseId: string,
    parts: Buffer[],
    stored: StoredResponse,
    deleteAfter: number,
  ): Promise<boolean> {
    const { customerId, projectId } = owner;
    for (let part = 1; part < parts.length; part += 1) {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...partKey(customerId, responseId, part), body: parts[part], [TTL]: deleteAfter },
        }),
      );
    }
    return applied(
      this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...headKey(customerId, responseId),
            body: parts[0],
            parts: parts.length,
            projectId,
            createdAt: stored.response.created_at,
            [TTL]: deleteAfter,
          },
          ...conditionOnly(nothingStoredOrDeletedBy(projectId)),
        }),
      ),
    );
  }

  /**
   * Counts `bytes` of a response's input (the turns `truncation: auto` dropped and the reasoning
   * items: stored for 30 days, never seen by the model nor paid for) against the customer's storage quota, before the model
   * runs; a 400 when they would pass it. A refusal first recounts, so bytes of responses expired,
   * deleted or never stored (a crash) never keep a customer out. Until {@link put} keeps them, they
   * count only for as long as a request may run. Answers whether this call counted them: false when
   * they were counted already (a duplicate of the request), which then neither keeps nor gives back
   * what the first counted ({@link put}'s `counted`).
   */
  async countStoredInput(
    owner: ResponseOwner,
    responseId: string,
    bytes: number,
    quotaBytes: number,
  ): Promise<boolean> {
    const { customerId } = owner;
    const until = this.nowSeconds() + Math.ceil((MAX_REQUEST_MS + RECONCILE_MARGIN_MS) / 1000);
    const count = () =>
      this.storage.countStored(customerId, countedId(responseId), bytes, until, quotaBytes);
    const first = await count();
    if (first !== 'refused') return first === 'counted';
    const stored = await this.storage.recountStorage(customerId, { sweepStaleHolds: false });
    const again = await count();
    if (again !== 'refused') return again === 'counted';
    throw storedInputQuotaExceeded(quotaBytes, stored, bytes);
  }

  /** Gives back what {@link countStoredInput} counted for a response not stored, or deleted. */
  async releaseStoredInput(owner: ResponseOwner, responseId: string): Promise<void> {
    await this.storage.releaseCounted(owner.customerId, countedId(responseId));
  }

  /** The owner's stored response, or undefined (never stored, deleted, expired, or another's). */
  async get(owner: ResponseOwner, responseId: string): Promise<StoredResponse | undefined> {
    const { customerId } = owner;
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: headKey(customerId, responseId) }),
    );
    if (!Item || Number(Item[TTL]) <= this.nowSeconds() || Item[TOMBSTONE]) return undefined;
    if (projectOf(Item, customerId) !== owner.projectId) return undefined;
    const chunks = [Item.body as Uint8Array];
    const count = Number(Item.parts);
    if (count > 1) {
      for await (const part of queryAll(
        this.doc,
        {
          TableName: this.tableName,
          KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :prefix)',
          ExpressionAttributeNames: { '#pk': PK, '#sk': SK },
          ExpressionAttributeValues: {
            ':pk': partition(customerId),
            ':prefix': partPrefix(responseId),
          },
        },
        (item) => item.body as Uint8Array,
      ))
        chunks.push(part);
      // A delete running beside this read took some parts: the response is gone.
      if (chunks.length !== count) return undefined;
    }
    return JSON.parse(gunzipSync(Buffer.concat(chunks)).toString('utf8')) as StoredResponse;
  }

  /**
   * Deletes the owner's stored response; false when there was none (or it had expired). A response
   * is stored when it is finished, so a DELETE of one still streaming finds nothing: it answers 404
   * as for any unknown id, and leaves a tombstone, for as long as a request may run, that keeps the
   * response from being stored when it ends ({@link put}). Nothing is written on the way to the
   * first token for this (bench:gateway: a placeholder written there cost Responses 10-20% of
   * gateway CPU over chat's at concurrency 64).
   */
  async delete(owner: ResponseOwner, responseId: string): Promise<boolean> {
    // A tombstone refused where nothing was a moment ago: the stream ended in between and its
    // response is stored now, so it is deleted (once more; else a DELETE answered 404 and the
    // response it named stayed stored).
    const old =
      (await this.deleteHead(owner, responseId)) ??
      ((await this.leaveTombstone(owner, responseId))
        ? undefined
        : await this.deleteHead(owner, responseId));
    if (!old) return false;
    // Its counted input first: a crash after it leaves parts no head names, which expire.
    await this.releaseStoredInput(owner, responseId);
    for (let part = 1; part < Number(old.parts ?? 1); part += 1) {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: partKey(owner.customerId, responseId, part),
        }),
      );
    }
    return Number(old[TTL]) > this.nowSeconds();
  }

  /** The owner's stored head, deleted (its attributes); undefined when it has none to delete. */
  private async deleteHead(
    owner: ResponseOwner,
    responseId: string,
  ): Promise<Record<string, unknown> | undefined> {
    try {
      const { Attributes } = await this.doc.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: headKey(owner.customerId, responseId),
          // Only the owning project's: an item stored before projects were recorded is the default's.
          ...conditionOnly(and(exists(PK), notExists(TOMBSTONE), projectCondition(owner))),
          ReturnValues: 'ALL_OLD',
        }),
      );
      return Attributes ?? {};
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      return undefined;
    }
  }

  /**
   * Where nothing is, or beside an earlier tombstone: each DELETE adds its project to the
   * tombstone, and only the owning project's keeps the response unstored ({@link put}), so another
   * project's key cannot make a response it does not own unstorable. A stored response stays as is.
   */
  private async leaveTombstone(owner: ResponseOwner, responseId: string): Promise<boolean> {
    const until = this.nowSeconds() + Math.ceil((MAX_REQUEST_MS + RECONCILE_MARGIN_MS) / 1000);
    return applied(
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: headKey(owner.customerId, responseId),
          ...update(
            {
              set: { [TOMBSTONE]: true, [TTL]: until },
              add: { [DELETED_BY]: new Set([owner.projectId]) },
            },
            or(notExists(PK), exists(TOMBSTONE)),
          ),
        }),
      ),
    );
  }
}

/** Where a finished response may be written: nothing there, or a tombstone its project did not leave. */
function nothingStoredOrDeletedBy(projectId: string): Condition {
  return or(notExists(PK), and(exists(TOMBSTONE), not(contains(DELETED_BY, projectId))));
}
