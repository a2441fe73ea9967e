import { DeleteCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import {
  everyProject,
  isInScope,
  type ObjectScope,
  projectCondition,
} from '../customers/project-ownership';
import { applied, isConditionFailure } from '../storage/conditional-writes';
import type { DocumentClient } from '../storage/document-client';
import { and, conditionOnly, exists, filtered } from '../storage/expressions';
import { queryAll, queryPage } from '../storage/query-pages';
import { FILES_TABLE } from './files-table';

const {
  partitionKey: PK,
  sortKey: SK,
  byPurposeIndex: BY_PURPOSE,
  timeToLiveAttribute: TTL,
} = FILES_TABLE;

/** What a file is for. `batch_output` files are written by the batch worker, never uploaded. */
/** `user_data`: OpenAI's purpose for any file; here an audio file to transcribe by reference. */
export type FilePurpose =
  | 'batch'
  | 'batch_output'
  | 'fine-tune'
  | 'fine-tune-results'
  | 'user_data';

export interface FileRecord {
  fileId: string;
  customerId: string;
  /** The project that uploaded it; absent on files uploaded before projects. */
  projectId?: string;
  filename: string;
  purpose: FilePurpose;
  bytes: number;
  /** JSONL lines in the file. */
  lines: number;
  /** Unix seconds. */
  createdAt: number;
  /** Where the content is in the files bucket. */
  objectKey: string;
}

export type UploadStatus = 'pending' | 'completed' | 'cancelled' | 'expired';

export interface UploadRecord {
  uploadId: string;
  customerId: string;
  /** The project that started it, and so its file's; absent on uploads started before projects. */
  projectId?: string;
  filename: string;
  purpose: FilePurpose;
  bytes: number;
  mimeType: string;
  status: UploadStatus;
  createdAt: number;
  expiresAt: number;
  /** The file the upload becomes: chosen at creation, so a retried `complete` writes the same file. */
  fileId: string;
  /** Parts added so far, and their bytes (bounded: `files.maxPartsPerUpload`, twice the upload's bytes). */
  partCount?: number;
  partBytes?: number;
}

export interface UploadPartRecord {
  uploadId: string;
  partId: string;
  customerId: string;
  bytes: number;
  createdAt: number;
  objectKey: string;
}

export interface FileListQuery {
  purpose?: FilePurpose;
  order: 'asc' | 'desc';
  after?: string;
  limit: number;
}

const customerPartition = (customerId: string) => `CUS#${customerId}`;
const fileKey = (customerId: string, fileId: string) => ({
  [PK]: customerPartition(customerId),
  [SK]: `FILE#${fileId}`,
});
const purposeKey = (customerId: string, purpose: string, fileId: string) => ({
  [BY_PURPOSE.partitionKey]: `${customerPartition(customerId)}#${purpose}`,
  [BY_PURPOSE.sortKey]: `FILE#${fileId}`,
});
const uploadKey = (customerId: string, uploadId: string) => ({
  [PK]: customerPartition(customerId),
  [SK]: `UPLOAD#${uploadId}`,
});
/** What a customer stores (bytes of its files), for the storage quota. */
const storageKey = (customerId: string) => ({
  [PK]: customerPartition(customerId),
  [SK]: 'STORAGE',
});
/** Bytes reserved for a file being stored, until its record is written. */
const holdKey = (customerId: string, fileId: string) => ({
  [PK]: customerPartition(customerId),
  [SK]: `HOLD#${fileId}`,
});
/**
 * Bytes counted against the storage quota for something stored that is not a file (today: the part
 * of a stored response's input its model did not see), until it expires (`deleteAfter`, the TTL of
 * what it counts) or is released (`bytes` 0).
 */
const countedKey = (customerId: string, countedId: string) => ({
  [PK]: customerPartition(customerId),
  [SK]: `COUNTED#${countedId}`,
});
/** `HOLD#<fileId>#<attempt>` -> the file id. */
const fileIdOfHold = (sortKey: string) => sortKey.slice('HOLD#'.length, sortKey.lastIndexOf('#'));
/** Longer than any store takes (an API request lasts at most 29 s; a 200 MB `complete` well under this). */
export const HOLD_SECONDS = 15 * 60;
const partKey = (customerId: string, uploadId: string, partId: string) => ({
  [PK]: customerPartition(customerId),
  [SK]: `UPLOAD#${uploadId}#PART#${partId}`,
});

function strip<T>(item: Record<string, unknown> | undefined): T | undefined {
  if (!item) return undefined;
  const {
    [PK]: _pk,
    [SK]: _sk,
    [BY_PURPOSE.partitionKey]: _g1,
    [BY_PURPOSE.sortKey]: _g2,
    ...rest
  } = item;
  return rest as T;
}

/** Files, uploads and their parts in DynamoDB; every read is scoped to the customer who owns the item. */
export class FilesRepository {
  private readonly now: () => Date;

  constructor(
    private readonly doc: DocumentClient,
    private readonly tableName: string,
    options: { now?: () => Date } = {},
  ) {
    // Through Date.now, as hold times were read before: storage-limits.test.ts moves that clock.
    this.now = options.now ?? (() => new Date(Date.now()));
  }

  private nowSeconds(): number {
    return Math.floor(this.now().getTime() / 1000);
  }

  /** Writes a file's metadata once; writing the same file again (a retry) changes nothing and answers false. */
  async putFile(file: FileRecord): Promise<boolean> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...fileKey(file.customerId, file.fileId),
            ...purposeKey(file.customerId, file.purpose, file.fileId),
            ...file,
          },
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': PK },
        }),
      );
      return true;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      return false;
    }
  }

  /**
   * Adds `bytes` to what the customer stores, if the total stays within `quotaBytes` (true);
   * without a quota, always (a batch's output, already paid for). One conditional update:
   * concurrent uploads cannot pass it. With `holdId` (the file's id), a hold item records the
   * reservation until {@link releaseHold}: a recount keeps what is in flight, and forgets what a
   * crash left once it is older than {@link HOLD_SECONDS}.
   */
  async reserveStorage(
    customerId: string,
    bytes: number,
    quotaBytes?: number,
    holdId?: string,
  ): Promise<boolean> {
    if (quotaBytes !== undefined && bytes > quotaBytes) return false;
    if (holdId) {
      const at = this.nowSeconds();
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...holdKey(customerId, holdId), bytes, at },
        }),
      );
    }
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: storageKey(customerId),
          UpdateExpression: 'ADD #bytes :bytes',
          ...(quotaBytes === undefined
            ? {}
            : { ConditionExpression: 'attribute_not_exists(#bytes) OR #bytes <= :room' }),
          ExpressionAttributeNames: { '#bytes': 'bytes' },
          ExpressionAttributeValues: {
            ':bytes': bytes,
            ...(quotaBytes === undefined ? {} : { ':room': quotaBytes - bytes }),
          },
        }),
      );
      return true;
    } catch (error) {
      if (holdId) await this.releaseHold(customerId, holdId);
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  /**
   * Holds `bytes` of a file being deleted until the counter has given them back ({@link
   * releaseHold} then): a recount counts a hold and its file once, and the hold alone once the
   * record is gone. Adds nothing to the counter.
   */
  async holdWhileReleased(customerId: string, holdId: string, bytes: number): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...holdKey(customerId, holdId), bytes, at: this.nowSeconds() },
      }),
    );
  }

  /** Ends a hold: its file's record now counts (or the store failed and its bytes were given back). */
  async releaseHold(customerId: string, holdId: string): Promise<void> {
    await this.doc.send(
      new DeleteCommand({ TableName: this.tableName, Key: holdKey(customerId, holdId) }),
    );
  }

  /** Gives back what a deleted file (or a failed store) held. */
  async releaseStorage(customerId: string, bytes: number): Promise<void> {
    if (bytes <= 0) return;
    await this.reserveStorage(customerId, -bytes);
  }

  /** Bytes the customer stores, as the counter has them. */
  async storedBytes(customerId: string): Promise<number> {
    const { Item } = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: storageKey(customerId),
        ConsistentRead: true,
      }),
    );
    return (Item?.bytes as number | undefined) ?? 0;
  }

  /**
   * Counts `bytes` of `countedId` against the storage quota until `until` (Unix seconds), if they
   * fit `quotaBytes`: the counted item is written first (a recount finds it, as it finds a hold),
   * then the counter is added to in one conditional update. Answers 'counted', 'refused' (nothing
   * stays counted), or 'already' when `countedId` is counted already (a duplicate: never twice).
   */
  async countStored(
    customerId: string,
    countedId: string,
    bytes: number,
    until: number,
    quotaBytes: number,
  ): Promise<'counted' | 'refused' | 'already'> {
    // Absent or released: a refused count (bytes 0) may be tried again after a recount.
    const written = await applied(
      this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...countedKey(customerId, countedId), bytes, [TTL]: until },
          ConditionExpression: 'attribute_not_exists(#pk) OR #bytes = :zero',
          ExpressionAttributeNames: { '#pk': PK, '#bytes': 'bytes' },
          ExpressionAttributeValues: { ':zero': 0 },
        }),
      ),
    );
    if (!written) return 'already';
    if (await this.reserveStorage(customerId, bytes, quotaBytes)) return 'counted';
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: countedKey(customerId, countedId),
        UpdateExpression: 'SET #bytes = :zero',
        ExpressionAttributeNames: { '#bytes': 'bytes' },
        ExpressionAttributeValues: { ':zero': 0 },
      }),
    );
    return 'refused';
  }

  /** Keeps counted bytes counted until `until` (what they count is stored now); false when released. */
  async keepCounted(customerId: string, countedId: string, until: number): Promise<boolean> {
    return applied(
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: countedKey(customerId, countedId),
          UpdateExpression: 'SET #ttl = :until',
          ConditionExpression: '#bytes > :zero',
          ExpressionAttributeNames: { '#ttl': TTL, '#bytes': 'bytes' },
          ExpressionAttributeValues: { ':until': until, ':zero': 0 },
        }),
      ),
    );
  }

  /**
   * Gives back counted bytes (what they counted is deleted, or was never stored): the counted item
   * goes to 0 first, in one conditional write, and only the call that moved it gives the bytes
   * back, so a retried or concurrent release gives back once. Expired bytes are not given back: a
   * recount no longer counts them. Answers the bytes given back.
   *
   * The write that moves the item to 0 keeps its bytes as `releasing` until the counter has given
   * them back: a recount between the two writes still counts them (else it set the counter without
   * them, and the release then took them off a second time: the counter fell below what is kept,
   * and under 0). A crash between them leaves `releasing`, which a recount stops counting after
   * {@link HOLD_SECONDS}, as a stale hold.
   */
  async releaseCounted(customerId: string, countedId: string): Promise<number> {
    const at = this.nowSeconds();
    let bytes: number;
    try {
      const { Attributes } = await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: countedKey(customerId, countedId),
          UpdateExpression: 'SET #releasing = #bytes, #releasingAt = :now, #bytes = :zero',
          ConditionExpression: '#bytes > :zero AND #ttl > :now',
          ExpressionAttributeNames: {
            '#bytes': 'bytes',
            '#ttl': TTL,
            '#releasing': 'releasing',
            '#releasingAt': 'releasingAt',
          },
          ExpressionAttributeValues: { ':zero': 0, ':now': at },
          ReturnValues: 'UPDATED_OLD',
        }),
      );
      bytes = Number(Attributes?.bytes ?? 0);
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      return 0;
    }
    await this.releaseStorage(customerId, bytes);
    // Only this release's mark: a count of the same id since then wrote the item afresh.
    await applied(
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: countedKey(customerId, countedId),
          UpdateExpression: 'REMOVE #releasing, #releasingAt',
          ConditionExpression: '#releasingAt = :at',
          ExpressionAttributeNames: { '#releasing': 'releasing', '#releasingAt': 'releasingAt' },
          ExpressionAttributeValues: { ':at': at },
        }),
      ),
    );
    return bytes;
  }

  /**
   * Sets the counter to the customer's file records plus the holds of stores in flight, and answers
   * it: repairs what a crash between reserving and writing a file left counted (its hold, once
   * older than {@link HOLD_SECONDS}, no longer counts and is removed).
   *
   * Safe beside concurrent stores: the counter is read first and written back only if it has not
   * moved (a store that reserved meanwhile would otherwise be overwritten, and the quota passed);
   * and the holds are read before the files, because a store writes its hold before it counts and
   * its file before it drops the hold: a store this recount misses as a hold either counts after
   * the read (the write is refused) or is already a file (read next). A file whose record and hold
   * are both read counts once. Counted items ({@link countStored}) count until they expire or are
   * released: each is written before its bytes are added, as a hold is.
   *
   * `sweepStaleHolds: false` leaves stale holds in place (not counted): for the streaming function,
   * which may not delete items.
   */
  async recountStorage(
    customerId: string,
    options: { sweepStaleHolds?: boolean } = {},
  ): Promise<number> {
    const before = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: storageKey(customerId),
        ConsistentRead: true,
      }),
    );
    const counted = before.Item?.bytes as number | undefined;
    const now = this.nowSeconds();
    const staleBefore = now - HOLD_SECONDS;
    let bytes = 0;
    // A store between the two reads shows as its hold and then as its file: its bytes count once.
    const held = new Set<string>();
    for (const prefix of ['HOLD#', 'FILE#', 'COUNTED#']) {
      const query = {
        TableName: this.tableName,
        KeyConditionExpression: '#p = :p AND begins_with(#s, :prefix)',
        ExpressionAttributeNames: { '#p': PK, '#s': SK },
        ExpressionAttributeValues: { ':p': customerPartition(customerId), ':prefix': prefix },
        ConsistentRead: true,
      };
      for await (const item of queryAll(this.doc, query, (raw) => raw)) {
        if (prefix === 'COUNTED#') {
          // DynamoDB removes an expired item within days: expired is read off its TTL.
          if (Number(item[TTL]) > now) bytes += Number(item.bytes ?? 0);
          // Being given back: still on the counter until the release's second write.
          if (item.releasing !== undefined && Number(item.releasingAt) >= staleBefore)
            bytes += Number(item.releasing);
          continue;
        }
        if (prefix === 'HOLD#' && (item.at as number) < staleBefore) {
          if (options.sweepStaleHolds === false) continue;
          await this.doc.send(
            new DeleteCommand({
              TableName: this.tableName,
              Key: { [PK]: item[PK], [SK]: item[SK] },
            }),
          );
          continue;
        }
        if (prefix === 'HOLD#') held.add(fileIdOfHold(item[SK] as string));
        else if (held.has(item.fileId as string)) continue;
        bytes += (item.bytes as number | undefined) ?? 0;
      }
    }
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...storageKey(customerId), bytes },
          ConditionExpression:
            counted === undefined ? 'attribute_not_exists(#bytes)' : '#bytes = :counted',
          ExpressionAttributeNames: { '#bytes': 'bytes' },
          ...(counted === undefined ? {} : { ExpressionAttributeValues: { ':counted': counted } }),
        }),
      );
      return bytes;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      // Another store or delete moved the counter meanwhile: it stays as they left it.
      return this.storedBytes(customerId);
    }
  }

  /** The file, when it is visible in `scope` (its project's, or any of the organization's). */
  async getFile(scope: ObjectScope, fileId: string): Promise<FileRecord | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: fileKey(scope.customerId, fileId),
        ConsistentRead: true,
      }),
    );
    return Item && isInScope(Item, scope) ? strip<FileRecord>(Item) : undefined;
  }

  /**
   * Deletes a file's metadata when it is visible in `scope`, in one conditional write (a delete
   * never takes another project's file); answers the deleted record, or undefined when there was
   * none.
   */
  async deleteFile(scope: ObjectScope, fileId: string): Promise<FileRecord | undefined> {
    const owned = projectCondition(scope);
    try {
      const { Attributes } = await this.doc.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: fileKey(scope.customerId, fileId),
          ...conditionOnly(owned ? and(exists(PK), owned) : exists(PK)),
          ReturnValues: 'ALL_OLD',
        }),
      );
      return strip<FileRecord>(Attributes);
    } catch (error) {
      if (isConditionFailure(error)) return undefined;
      throw error;
    }
  }

  /** One page of the files visible in `scope`, in creation order, and whether more follow. */
  async listFiles(
    scope: ObjectScope,
    query: FileListQuery,
  ): Promise<{ files: FileRecord[]; hasMore: boolean }> {
    const { customerId } = scope;
    const byPurpose = query.purpose !== undefined;
    const partitionName = byPurpose ? BY_PURPOSE.partitionKey : PK;
    const sortName = byPurpose ? BY_PURPOSE.sortKey : SK;
    const partition = byPurpose
      ? `${customerPartition(customerId)}#${query.purpose}`
      : customerPartition(customerId);
    let startKey: Record<string, unknown> | undefined;
    if (query.after) {
      startKey = fileKey(customerId, query.after);
      if (byPurpose)
        Object.assign(startKey, purposeKey(customerId, query.purpose as string, query.after));
    }
    const { items, hasMore } = await queryPage(
      this.doc,
      // Another project's files share the partition: the filter leaves them out, and queryPage
      // reads on past them until the page is full.
      filtered(
        {
          TableName: this.tableName,
          IndexName: byPurpose ? BY_PURPOSE.name : undefined,
          KeyConditionExpression: '#p = :p AND begins_with(#s, :file)',
          ExpressionAttributeNames: { '#p': partitionName, '#s': sortName },
          ExpressionAttributeValues: { ':p': partition, ':file': 'FILE#' },
          ScanIndexForward: query.order === 'asc',
          ExclusiveStartKey: startKey,
        },
        projectCondition(scope),
      ),
      query.limit,
      (item) => strip<FileRecord>(item) as FileRecord,
    );
    return { files: items, hasMore };
  }

  async putUpload(upload: UploadRecord): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...uploadKey(upload.customerId, upload.uploadId), ...upload },
        ConditionExpression: 'attribute_not_exists(#pk)',
        ExpressionAttributeNames: { '#pk': PK },
      }),
    );
  }

  /** The upload, when it is visible in `scope`. */
  async getUpload(scope: ObjectScope, uploadId: string): Promise<UploadRecord | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: uploadKey(scope.customerId, uploadId),
        ConsistentRead: true,
      }),
    );
    return Item && isInScope(Item, scope) ? strip<UploadRecord>(Item) : undefined;
  }

  /**
   * Moves an upload from `pending` to `status`. Answers false when it was no longer pending (a
   * concurrent complete or cancel won), so each upload ends exactly one way.
   */
  async finishUpload(
    customerId: string,
    uploadId: string,
    status: Exclude<UploadStatus, 'pending'>,
  ): Promise<boolean> {
    return applied(
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: uploadKey(customerId, uploadId),
          UpdateExpression: 'SET #status = :status',
          ConditionExpression: '#status = :pending',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':status': status, ':pending': 'pending' },
        }),
      ),
    );
  }

  /**
   * Counts a part on its pending upload before it is stored, within `maxParts` parts and `maxBytes`
   * bytes of parts. Answers 'ok', or which bound it would pass, or 'not_pending'.
   */
  async countPart(
    customerId: string,
    uploadId: string,
    bytes: number,
    bounds: { maxParts: number; maxBytes: number },
  ): Promise<'ok' | 'too_many_parts' | 'too_many_bytes' | 'not_pending'> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: uploadKey(customerId, uploadId),
          UpdateExpression: 'ADD #parts :one, #partBytes :bytes',
          ConditionExpression:
            '#status = :pending AND (attribute_not_exists(#parts) OR #parts < :maxParts) AND ' +
            '(attribute_not_exists(#partBytes) OR #partBytes <= :room)',
          ExpressionAttributeNames: {
            '#status': 'status',
            '#parts': 'partCount',
            '#partBytes': 'partBytes',
          },
          ExpressionAttributeValues: {
            ':one': 1,
            ':bytes': bytes,
            ':pending': 'pending',
            ':maxParts': bounds.maxParts,
            ':room': bounds.maxBytes - bytes,
          },
        }),
      );
      return 'ok';
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
    const upload = await this.getUpload(everyProject(customerId), uploadId);
    if (upload?.status !== 'pending') return 'not_pending';
    return (upload.partCount ?? 0) >= bounds.maxParts ? 'too_many_parts' : 'too_many_bytes';
  }

  /** Takes back a part counted by {@link countPart} whose content could not be stored. */
  async uncountPart(customerId: string, uploadId: string, bytes: number): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: uploadKey(customerId, uploadId),
        UpdateExpression: 'ADD #parts :minusOne, #partBytes :minusBytes',
        ExpressionAttributeNames: { '#parts': 'partCount', '#partBytes': 'partBytes' },
        ExpressionAttributeValues: { ':minusOne': -1, ':minusBytes': -bytes },
      }),
    );
  }

  async putPart(part: UploadPartRecord): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...partKey(part.customerId, part.uploadId, part.partId), ...part },
      }),
    );
  }

  /** Every part of an upload, in the order they were added. */
  async listParts(customerId: string, uploadId: string): Promise<UploadPartRecord[]> {
    const parts: UploadPartRecord[] = [];
    const query = {
      TableName: this.tableName,
      KeyConditionExpression: '#p = :p AND begins_with(#s, :prefix)',
      ExpressionAttributeNames: { '#p': PK, '#s': SK },
      ExpressionAttributeValues: {
        ':p': customerPartition(customerId),
        ':prefix': `UPLOAD#${uploadId}#PART#`,
      },
    };
    for await (const part of queryAll(
      this.doc,
      query,
      (item) => strip<UploadPartRecord>(item) as UploadPartRecord,
    )) {
      parts.push(part);
    }
    return parts;
  }
}
