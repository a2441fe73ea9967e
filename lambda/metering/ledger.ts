import { open, readFile } from 'node:fs/promises';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { TierName } from '../../lib/config/schema';
import { isConditionFailure } from '../storage/conditional-writes';
import type { DocumentClient } from '../storage/document-client';
import { conditionOnly, notExists } from '../storage/expressions';
import { METERING_TABLE } from './metering-table';
import {
  billedCostMicroUsd,
  costMicroUsd,
  type RequestOutcome,
  type TokenPrices,
  type TokenUsage,
} from './pricing';

const { partitionKey: PK, sortKey: SK, byCustomerDayIndex: BY_DAY } = METERING_TABLE;

/**
 * The ledger: one item per request that reached the model, the billing truth. Requests refused
 * before the model (authentication, validation, limits, spend limit) are not recorded: they cost
 * nothing. `reconciled`: the request's process died before it billed itself; the reconciler
 * (reconciler.ts) wrote the record from its reservation: its input tokens as counted at admission,
 * no output (see README, "Crash-safe reservations"). Billing can tell these records apart by this
 * status.
 */
export type LedgerStatus = RequestOutcome | 'reconciled';

export interface LedgerRecord {
  requestId: string;
  customerId: string;
  /** The public model id called: a base model or a fine-tune. */
  model: string;
  tier: TierName;
  inputTokens: number;
  outputTokens: number;
  /** The prices applied, as configured when the request ran (integer µ$ per 1M tokens). */
  prices: TokenPrices;
  /** Discount applied to the prices, in percent (batch requests). */
  discountPercent: number;
  /** What the request is billed, in integer µ$ (see `billedCostMicroUsd`). */
  costMicroUsd: number;
  status: LedgerStatus;
  /** ISO timestamps. `startedAt` (admission) decides the day and month the request counts in. */
  startedAt: string;
  finishedAt: string;
  batch?: boolean;
  /**
   * The project the request ran in. Absent on records written before projects existed: they
   * belong to the organization's default project (`projectOrDefault`, customers/key-permissions.ts); nothing is rewritten.
   */
  projectId?: string;
  /** The public id of the key that made the request (`key_...`); absent on older records. */
  apiKeyId?: string;
}

/** A ledger record with its cost computed from the usage, prices and outcome. */
export function ledgerRecord(
  fields: Omit<LedgerRecord, 'costMicroUsd' | 'discountPercent'> & { discountPercent?: number },
): LedgerRecord {
  const discountPercent = fields.discountPercent ?? 0;
  const usage: TokenUsage = { inputTokens: fields.inputTokens, outputTokens: fields.outputTokens };
  return {
    ...fields,
    discountPercent,
    costMicroUsd:
      fields.status === 'reconciled'
        ? costMicroUsd(usage, fields.prices, discountPercent)
        : billedCostMicroUsd(fields.status, usage, fields.prices, discountPercent),
  };
}

/** UTC day (`YYYY-MM-DD`) of an ISO timestamp. */
export function utcDay(isoTimestamp: string): string {
  return new Date(isoTimestamp).toISOString().slice(0, 10);
}

/** Ledger item keys; the index key groups a customer's requests by the UTC day they started. */
export function ledgerKeys(record: Pick<LedgerRecord, 'requestId' | 'customerId' | 'startedAt'>) {
  return {
    [PK]: `REQ#${record.requestId}`,
    [SK]: 'REQ',
    [BY_DAY.partitionKey]: usagePartition(record.customerId, utcDay(record.startedAt)),
    [BY_DAY.sortKey]: `${record.startedAt}#${record.requestId}`,
  };
}

export function usagePartition(customerId: string, day: string): string {
  return `USAGE#${customerId}#${day}`;
}

/**
 * Where a ledger record goes when the table cannot take it, so it is not lost. Implementations: a
 * file in local mode ({@link FileDeadLetterSink}), an SQS queue in AWS ({@link SqsDeadLetterSink}).
 */
export interface DeadLetterSink {
  send(record: LedgerRecord): Promise<void>;
}

export type LedgerWriteResult = 'written' | 'duplicate' | 'dead_lettered';

export interface LedgerWriterOptions {
  /** Attempts of the put before the record is dead-lettered. @default 3 */
  attempts?: number;
  /** First backoff delay; doubles per attempt, with full jitter. @default 50 */
  baseDelayMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class LedgerWriter {
  private readonly attempts: number;
  private readonly baseDelayMs: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    private readonly doc: DocumentClient,
    private readonly tableName: string,
    private readonly deadLetters: DeadLetterSink,
    options: LedgerWriterOptions = {},
  ) {
    this.attempts = options.attempts ?? 3;
    this.baseDelayMs = options.baseDelayMs ?? 50;
    this.sleep = options.sleep ?? defaultSleep;
  }

  /**
   * Records a request: 'written', or 'duplicate' when the request id is already in the ledger (a
   * retry, or an earlier attempt whose response was lost; the first record wins). When the table
   * keeps failing the record goes to the dead-letter sink ('dead_lettered'). Throws only when the
   * sink fails too.
   */
  async write(record: LedgerRecord): Promise<LedgerWriteResult> {
    try {
      return await this.put(record);
    } catch {
      await this.deadLetters.send(record);
      return 'dead_lettered';
    }
  }

  /** The ledger record of `requestId`, if there is one (one consistent GetItem). */
  async get(requestId: string): Promise<LedgerRecord | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { [PK]: `REQ#${requestId}`, [SK]: 'REQ' },
        ConsistentRead: true,
      }),
    );
    if (!Item) return undefined;
    const {
      [PK]: _pk,
      [SK]: _sk,
      [BY_DAY.partitionKey]: _gpk,
      [BY_DAY.sortKey]: _gsk,
      ...record
    } = Item;
    return record as LedgerRecord;
  }

  /**
   * One conditional PutItem per attempt, retried with backoff on any error but the condition
   * failure (the SDK already retries throttling and 5xx; this covers what outlasts its retries).
   * Throws after the last attempt.
   */
  async put(record: LedgerRecord): Promise<'written' | 'duplicate'> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        await this.doc.send(
          new PutCommand({
            TableName: this.tableName,
            Item: { ...ledgerKeys(record), ...record },
            ...conditionOnly(notExists(PK)),
          }),
        );
        return 'written';
      } catch (error) {
        if (isConditionFailure(error)) return 'duplicate';
        if (attempt >= this.attempts) throw error;
        await this.sleep(Math.random() * this.baseDelayMs * 2 ** (attempt - 1));
      }
    }
  }
}

export interface ReplayResult {
  written: number;
  duplicate: number;
  /** Records the table still refused: keep them (an SQS consumer reports them as batch item failures). */
  failed: LedgerRecord[];
}

/** Puts dead-lettered records again. Idempotent: a record already in the ledger counts as a duplicate. */
export async function replayDeadLetters(
  records: Iterable<LedgerRecord> | AsyncIterable<LedgerRecord>,
  writer: Pick<LedgerWriter, 'put'>,
): Promise<ReplayResult> {
  const result: ReplayResult = { written: 0, duplicate: 0, failed: [] };
  for await (const record of records) {
    try {
      result[await writer.put(record)] += 1;
    } catch {
      result.failed.push(record);
    }
  }
  return result;
}

/** Parses a dead-lettered record (a file line, an SQS message body); throws on anything else. */
export function parseLedgerRecord(json: string): LedgerRecord {
  const value: unknown = JSON.parse(json);
  const record = value as Partial<LedgerRecord> | null;
  const valid =
    typeof record === 'object' &&
    record !== null &&
    typeof record.requestId === 'string' &&
    typeof record.customerId === 'string' &&
    typeof record.model === 'string' &&
    typeof record.startedAt === 'string' &&
    Number.isSafeInteger(record.costMicroUsd) &&
    Number.isSafeInteger(record.inputTokens) &&
    Number.isSafeInteger(record.outputTokens);
  if (!valid) throw new Error(`not a ledger record: ${json.slice(0, 200)}`);
  return value as LedgerRecord;
}

/** Local mode: one JSON line per record, appended and flushed to disk before `send` resolves. */
export class FileDeadLetterSink implements DeadLetterSink {
  constructor(readonly path: string) {}

  async send(record: LedgerRecord): Promise<void> {
    // One write of one line with O_APPEND: concurrent sends do not interleave within a line.
    const file = await open(this.path, 'a');
    try {
      await file.appendFile(`${JSON.stringify(record)}\n`);
      await file.sync();
    } finally {
      await file.close();
    }
  }

  /**
   * Every record in the file (none when it does not exist). Replaying is idempotent, so the file
   * may stay; there is no truncate here because a send between the read and the truncate would be
   * lost.
   */
  async read(): Promise<LedgerRecord[]> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    return text
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map(parseLedgerRecord);
  }
}

/** AWS: a dead-lettered record is one SQS message whose body is the record's JSON (read with parseLedgerRecord). */
export class SqsDeadLetterSink implements DeadLetterSink {
  constructor(
    private readonly sqs: Pick<SQSClient, 'send'>,
    private readonly queueUrl: string,
  ) {}

  async send(record: LedgerRecord): Promise<void> {
    await this.sqs.send(
      new SendMessageCommand({ QueueUrl: this.queueUrl, MessageBody: JSON.stringify(record) }),
    );
  }
}
