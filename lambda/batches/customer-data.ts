import { DeleteCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { FileStorage } from '../files/file-storage';
import { FILES_TABLE } from '../files/files-table';
import type { DocumentClient } from '../storage/document-client';
import type { BatchesRepository, BatchRecord } from './batches-repository';

const { partitionKey: PK, sortKey: SK } = FILES_TABLE;

/** What erasing a customer's Files and Batches data removed. */
export interface ErasedData {
  files: number;
  uploads: number;
  batches: number;
  /** Other items of the customer's partition: upload parts, batch line results, counters. */
  otherItems: number;
  /** S3 objects deleted (file content and upload parts). */
  objects: number;
}

/** Deletes a customer's files, uploads and batches (metadata and content); idempotent. */
export interface CustomerDataEraser {
  erase(customerId: string): Promise<ErasedData>;
}

/**
 * Erases everything a customer has in the files table (its partition `CUS#<id>`) and the content
 * those items name in the files bucket, for `customers delete`. Batches go first: the worker drops
 * messages of a batch that no longer exists, so no new line runs and no output file is written once
 * they are gone. A line that was already running may still write its result after the sweep:
 * running the delete again removes it. The bucket is versioned; the lifecycle rule removes the
 * deleted content's old versions after 30 days.
 */
export class FilesTableEraser implements CustomerDataEraser {
  constructor(
    private readonly doc: DocumentClient,
    private readonly tableName: string,
    private readonly storage: Pick<FileStorage, 'delete'>,
    private readonly batches?: Pick<BatchesRepository, 'releaseOpenBatch'>,
  ) {}

  async erase(customerId: string): Promise<ErasedData> {
    const erased: ErasedData = { files: 0, uploads: 0, batches: 0, otherItems: 0, objects: 0 };
    for (const prefix of ['BATCH#', '']) {
      for await (const item of this.items(customerId, prefix)) {
        const sk = String(item[SK]);
        if (typeof item.objectKey === 'string') {
          await this.storage.delete(item.objectKey);
          erased.objects += 1;
        }
        if (sk.startsWith('BATCH#')) {
          // Its open-batch slot and its place in the expiry sweep go with it.
          await this.batches?.releaseOpenBatch(item as unknown as BatchRecord);
          erased.batches += 1;
        } else if (sk.startsWith('FILE#')) erased.files += 1;
        else if (/^UPLOAD#[^#]+$/.test(sk)) erased.uploads += 1;
        else erased.otherItems += 1;
        await this.doc.send(
          new DeleteCommand({ TableName: this.tableName, Key: { [PK]: item[PK], [SK]: item[SK] } }),
        );
      }
    }
    return erased;
  }

  private async *items(customerId: string, prefix: string): AsyncIterable<Record<string, unknown>> {
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: prefix ? '#p = :p AND begins_with(#s, :prefix)' : '#p = :p',
          ExpressionAttributeNames: prefix ? { '#p': PK, '#s': SK } : { '#p': PK },
          ExpressionAttributeValues: prefix
            ? { ':p': `CUS#${customerId}`, ':prefix': prefix }
            : { ':p': `CUS#${customerId}` },
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) yield item;
      startKey = page.LastEvaluatedKey;
    } while (startKey);
  }
}
