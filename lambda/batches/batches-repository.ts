import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { TierName } from '../../lib/config/schema';
import { FILES_TABLE } from '../files/files-table';
import { queryAll, queryPage } from '../storage/query-pages';
import type { FileProblem } from './batch-lines';

const { partitionKey: PK, sortKey: SK } = FILES_TABLE;

export type BatchStatus =
  | 'validating'
  | 'in_progress'
  | 'finalizing'
  | 'completed'
  | 'failed'
  | 'expired'
  | 'cancelling'
  | 'cancelled';

export const OPEN_STATUSES: ReadonlySet<BatchStatus> = new Set([
  'validating',
  'in_progress',
  'finalizing',
  'cancelling',
]);

/** Unix seconds at which the batch entered each status it went through. */
export type BatchTimes = Partial<
  Record<'in_progress' | 'finalizing' | 'completed' | 'failed' | 'expired' | 'cancelling' | 'cancelled', number>
>;

export interface BatchRecord {
  batchId: string;
  customerId: string;
  /** The tier when the batch was created: its prices and limits apply to every line. */
  tier: TierName;
  inputFileId: string;
  endpoint: string;
  completionWindow: string;
  metadata: Record<string, string> | null;
  status: BatchStatus;
  createdAt: number;
  expiresAt: number;
  times: BatchTimes;
  total: number;
  completed: number;
  failed: number;
  errors?: FileProblem[];
  outputFileId?: string;
  errorFileId?: string;
  /** The customer's monthly spend limit when the batch was created (µ$); absent: none. */
  spendLimitMicroUsd?: number;
  /** The month the spend reservation of the whole batch was taken in (`YYYY-MM`). */
  reservationMonth?: string;
}

/** The result of one line, written once: a redelivered message finds it and neither reruns nor rebills it. */
export interface LineResult {
  batchId: string;
  index: number;
  customId: string;
  /** OpenAI's output line (`id`, `custom_id`, `response`, `error`), as JSON text. */
  outputLine: string;
  /** Goes to the output file (a 200 answer) or the error file. */
  succeeded: boolean;
  /** Most this line could have cost: what it held of the batch's spend reservation (µ$). */
  reservedMicroUsd: number;
  costMicroUsd: number;
  /** Set once the spend tracker has been settled for this line (the mark is taken before settling). */
  settled?: boolean;
}

const partition = (customerId: string) => `CUS#${customerId}`;
const batchKey = (customerId: string, batchId: string) => ({ [PK]: partition(customerId), [SK]: `BATCH#${batchId}` });
const lineKey = (customerId: string, batchId: string, index: number) => ({
  [PK]: partition(customerId),
  [SK]: `BLINE#${batchId}#${String(index).padStart(7, '0')}`,
});

function strip<T>(item: Record<string, unknown> | undefined): T | undefined {
  if (!item) return undefined;
  const { [PK]: _pk, [SK]: _sk, ...rest } = item;
  return rest as T;
}

const isConditionFailure = (error: unknown) => error instanceof ConditionalCheckFailedException;

/** Batches and their line results, in the owner's partition of the files table. */
export class BatchesRepository {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async putBatch(batch: BatchRecord): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...batchKey(batch.customerId, batch.batchId), ...batch },
        ConditionExpression: 'attribute_not_exists(#pk)',
        ExpressionAttributeNames: { '#pk': PK },
      }),
    );
  }

  async getBatch(customerId: string, batchId: string): Promise<BatchRecord | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: batchKey(customerId, batchId), ConsistentRead: true }),
    );
    return strip<BatchRecord>(Item);
  }

  /** A customer's batches, newest first, after `after`; one more than `limit` tells whether more follow. */
  async listBatches(
    customerId: string,
    limit: number,
    after?: string,
  ): Promise<{ batches: BatchRecord[]; hasMore: boolean }> {
    const { items, hasMore } = await queryPage(
      this.doc,
      {
        TableName: this.tableName,
        KeyConditionExpression: '#p = :p AND begins_with(#s, :prefix)',
        ExpressionAttributeNames: { '#p': PK, '#s': SK },
        ExpressionAttributeValues: { ':p': partition(customerId), ':prefix': 'BATCH#' },
        ScanIndexForward: false,
        ExclusiveStartKey: after ? batchKey(customerId, after) : undefined,
      },
      limit,
      (item) => strip<BatchRecord>(item) as BatchRecord,
    );
    return { batches: items, hasMore };
  }

  /**
   * Moves a batch from one of `from` to `to`, stamping the time and setting `fields`. False when the batch was
   * not in one of `from` (another worker or a cancel got there first): each transition happens once.
   */
  async transition(
    customerId: string,
    batchId: string,
    from: BatchStatus[],
    to: BatchStatus,
    at: number,
    fields: Partial<BatchRecord> = {},
  ): Promise<boolean> {
    const names: Record<string, string> = { '#status': 'status', '#times': 'times', '#to': to };
    const values: Record<string, unknown> = { ':to': to, ':at': at };
    const sets = ['#status = :to', '#times.#to = :at'];
    for (const [name, value] of Object.entries(fields)) {
      names[`#f_${name}`] = name;
      values[`:f_${name}`] = value;
      sets.push(`#f_${name} = :f_${name}`);
    }
    from.forEach((status, i) => {
      values[`:from${i}`] = status;
    });
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: batchKey(customerId, batchId),
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: `#status IN (${from.map((_, i) => `:from${i}`).join(', ')})`,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  async getLine(customerId: string, batchId: string, index: number): Promise<LineResult | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: lineKey(customerId, batchId, index), ConsistentRead: true }),
    );
    return strip<LineResult>(Item);
  }

  /**
   * Writes a line's result once and counts it on the batch. False when the line already had a result (a
   * redelivery, or a concurrent worker): then nothing is counted, so every line counts exactly once.
   */
  async putLine(customerId: string, line: LineResult): Promise<boolean> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...lineKey(customerId, line.batchId, line.index), ...line, settled: false },
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': PK },
        }),
      );
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
    await this.countLine(customerId, line.batchId, line.succeeded);
    return true;
  }

  /** Counts one finished line on the batch (a crash between the line and this leaves it to `recount`). */
  private async countLine(customerId: string, batchId: string, succeeded: boolean): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: batchKey(customerId, batchId),
        UpdateExpression: `ADD ${succeeded ? 'completed' : 'failed'} :one`,
        ExpressionAttributeValues: { ':one': 1 },
      }),
    );
  }

  /** Takes the right to settle a line's spend: true once per line, ever. */
  async markSettled(customerId: string, batchId: string, index: number): Promise<boolean> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: lineKey(customerId, batchId, index),
          UpdateExpression: 'SET settled = :yes',
          ConditionExpression: 'settled = :no',
          ExpressionAttributeValues: { ':yes': true, ':no': false },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  /** Every line result of a batch, in line order. */
  lines(customerId: string, batchId: string): AsyncIterable<LineResult> {
    return queryAll(
      this.doc,
      {
        TableName: this.tableName,
        KeyConditionExpression: '#p = :p AND begins_with(#s, :prefix)',
        ExpressionAttributeNames: { '#p': PK, '#s': SK },
        ExpressionAttributeValues: { ':p': partition(customerId), ':prefix': `BLINE#${batchId}#` },
      },
      (item) => strip<LineResult>(item) as LineResult,
    );
  }
}
