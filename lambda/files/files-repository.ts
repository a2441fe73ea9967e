import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { queryAll, queryPage } from '../storage/query-pages';
import { FILES_TABLE } from './files-table';

const { partitionKey: PK, sortKey: SK, byPurposeIndex: BY_PURPOSE } = FILES_TABLE;

/** What a file is for. `batch_output` files are written by the batch worker, never uploaded. */
export type FilePurpose = 'batch' | 'batch_output' | 'fine-tune' | 'fine-tune-results';

export interface FileRecord {
  fileId: string;
  customerId: string;
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
  filename: string;
  purpose: FilePurpose;
  bytes: number;
  mimeType: string;
  status: UploadStatus;
  createdAt: number;
  expiresAt: number;
  /** The file the upload becomes: chosen at creation, so a retried `complete` writes the same file. */
  fileId: string;
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
const partKey = (customerId: string, uploadId: string, partId: string) => ({
  [PK]: customerPartition(customerId),
  [SK]: `UPLOAD#${uploadId}#PART#${partId}`,
});

function strip<T>(item: Record<string, unknown> | undefined): T | undefined {
  if (!item) return undefined;
  const { [PK]: _pk, [SK]: _sk, [BY_PURPOSE.partitionKey]: _g1, [BY_PURPOSE.sortKey]: _g2, ...rest } = item;
  return rest as T;
}

const isConditionFailure = (error: unknown) => error instanceof ConditionalCheckFailedException;

/** Files, uploads and their parts in DynamoDB; every read is scoped to the customer who owns the item. */
export class FilesRepository {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  /** Writes a file's metadata once; writing the same file again (a retry) changes nothing. */
  async putFile(file: FileRecord): Promise<void> {
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
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }

  async getFile(customerId: string, fileId: string): Promise<FileRecord | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: fileKey(customerId, fileId), ConsistentRead: true }),
    );
    return strip<FileRecord>(Item);
  }

  /** Deletes a file's metadata; answers the deleted record, or undefined when there was none. */
  async deleteFile(customerId: string, fileId: string): Promise<FileRecord | undefined> {
    const { Attributes } = await this.doc.send(
      new DeleteCommand({ TableName: this.tableName, Key: fileKey(customerId, fileId), ReturnValues: 'ALL_OLD' }),
    );
    return strip<FileRecord>(Attributes);
  }

  /** One page of a customer's files in creation order, and whether more follow. */
  async listFiles(customerId: string, query: FileListQuery): Promise<{ files: FileRecord[]; hasMore: boolean }> {
    const byPurpose = query.purpose !== undefined;
    const partitionName = byPurpose ? BY_PURPOSE.partitionKey : PK;
    const sortName = byPurpose ? BY_PURPOSE.sortKey : SK;
    const partition = byPurpose ? `${customerPartition(customerId)}#${query.purpose}` : customerPartition(customerId);
    let startKey: Record<string, unknown> | undefined;
    if (query.after) {
      startKey = fileKey(customerId, query.after);
      if (byPurpose) Object.assign(startKey, purposeKey(customerId, query.purpose as string, query.after));
    }
    const { items, hasMore } = await queryPage(
      this.doc,
      {
        TableName: this.tableName,
        IndexName: byPurpose ? BY_PURPOSE.name : undefined,
        KeyConditionExpression: '#p = :p AND begins_with(#s, :file)',
        ExpressionAttributeNames: { '#p': partitionName, '#s': sortName },
        ExpressionAttributeValues: { ':p': partition, ':file': 'FILE#' },
        ScanIndexForward: query.order === 'asc',
        ExclusiveStartKey: startKey,
      },
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

  async getUpload(customerId: string, uploadId: string): Promise<UploadRecord | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: uploadKey(customerId, uploadId), ConsistentRead: true }),
    );
    return strip<UploadRecord>(Item);
  }

  /**
   * Moves an upload from `pending` to `status`. Answers false when it was no longer pending (a concurrent
   * complete or cancel won), so each upload ends exactly one way.
   */
  async finishUpload(customerId: string, uploadId: string, status: Exclude<UploadStatus, 'pending'>): Promise<boolean> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: uploadKey(customerId, uploadId),
          UpdateExpression: 'SET #status = :status',
          ConditionExpression: '#status = :pending',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':status': status, ':pending': 'pending' },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
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
      ExpressionAttributeValues: { ':p': customerPartition(customerId), ':prefix': `UPLOAD#${uploadId}#PART#` },
    };
    for await (const part of queryAll(this.doc, query, (item) => strip<UploadPartRecord>(item) as UploadPartRecord)) {
      parts.push(part);
    }
    return parts;
  }
}
