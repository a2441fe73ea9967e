import { gunzipSync, gzipSync } from 'node:zlib';
import { DeleteCommand, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { defaultProjectId, projectOrDefault } from '../customers/key-permissions';
import { FILES_TABLE } from '../files/files-table';
import type { ChatMessage } from '../inference/chat-request';
import type { ResponseItem, ResponseObject } from '../openai/shapes/responses';
import { isConditionFailure } from '../storage/conditional-writes';
import type { DocumentClient } from '../storage/document-client';
import { queryAll } from '../storage/query-pages';

const { partitionKey: PK, sortKey: SK, timeToLiveAttribute: TTL } = FILES_TABLE;

/** OpenAI keeps a stored response 30 days. */
export const RESPONSE_RETENTION_DAYS = 30;

/**
 * One part of a stored body. DynamoDB takes items of at most 400 KB (names and values together); a
 * Lambda request body may be 6 MB. Bodies are gzipped (prompts compress several times) and the
 * rare one still above this is split into part items, so nothing is refused for its size.
 */
export const PART_BYTES = 350_000;

/** A stored response: the object, this request's input items, and the conversation a later one continues. */
export interface StoredResponse {
  response: ResponseObject;
  inputItems: ResponseItem[];
  /** What the model saw but the instructions, and its answer (`previous_response_id` continues it). */
  conversation: ChatMessage[];
}

/** Whose a stored response is: the organization's partition holds it, its project may read it. */
export interface ResponseOwner {
  customerId: string;
  projectId: string;
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

/**
 * Stored responses in the files table, in the partition of the customer who made them (another
 * customer's id finds nothing) and marked with the project whose key made them (another project's
 * key finds nothing either, as OpenAI scopes responses to a project), with a TTL of 30 days (`deleteAfter`: DynamoDB removes expired
 * items within days, so a read checks the time too). Part items are written first and the head item
 * last: a crash in between leaves parts no head names, which expire with it.
 */
export class ResponsesRepository {
  private readonly now: () => Date;

  constructor(
    private readonly doc: DocumentClient,
    private readonly tableName: string,
    options: { now?: () => Date } = {},
  ) {
    this.now = options.now ?? (() => new Date());
  }

  private nowSeconds(): number {
    return Math.floor(this.now().getTime() / 1000);
  }

  async put({ customerId, projectId }: ResponseOwner, stored: StoredResponse): Promise<void> {
    const body = gzipSync(JSON.stringify(stored));
    const parts: Buffer[] = [];
    for (let at = 0; at < body.length; at += PART_BYTES)
      parts.push(body.subarray(at, at + PART_BYTES));
    const deleteAfter = this.nowSeconds() + RESPONSE_RETENTION_DAYS * 86_400;
    const responseId = stored.response.id;
    // Parts after the first, then the head with the first: the head's presence means complete.
    for (let part = 1; part < parts.length; part += 1) {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...partKey(customerId, responseId, part), body: parts[part], [TTL]: deleteAfter },
        }),
      );
    }
    await this.doc.send(
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
      }),
    );
  }

  /** The owner's stored response, or undefined (never stored, deleted, expired, or another's). */
  async get(owner: ResponseOwner, responseId: string): Promise<StoredResponse | undefined> {
    const { customerId } = owner;
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: headKey(customerId, responseId) }),
    );
    if (!Item || Number(Item[TTL]) <= this.nowSeconds()) return undefined;
    if (
      projectOrDefault(
        customerId,
        typeof Item.projectId === 'string' ? Item.projectId : undefined,
      ) !== owner.projectId
    )
      return undefined;
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

  /** Deletes the owner's stored response; false when there was none (or it had expired). */
  async delete(owner: ResponseOwner, responseId: string): Promise<boolean> {
    const { customerId, projectId } = owner;
    // Only the owning project's: an item stored before projects were recorded is the default's.
    const ownedHere =
      projectId === defaultProjectId(customerId)
        ? '(attribute_not_exists(#project) OR #project = :project)'
        : '#project = :project';
    let old: Record<string, unknown> | undefined;
    try {
      ({ Attributes: old } = await this.doc.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: headKey(customerId, responseId),
          ConditionExpression: `attribute_exists(#pk) AND ${ownedHere}`,
          ExpressionAttributeNames: { '#pk': PK, '#project': 'projectId' },
          ExpressionAttributeValues: { ':project': projectId },
          ReturnValues: 'ALL_OLD',
        }),
      ));
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
    for (let part = 1; part < Number(old?.parts ?? 1); part += 1) {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: partKey(customerId, responseId, part),
        }),
      );
    }
    return Number(old?.[TTL]) > this.nowSeconds();
  }
}
