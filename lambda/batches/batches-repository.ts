import {
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { TierName } from '../../lib/config/schema';
import { type ObjectScope, projectCondition } from '../customers/project-ownership';
import { FILES_TABLE } from '../files/files-table';
import type { LedgerRecord } from '../metering/ledger';
import { applied, isConditionFailure } from '../storage/conditional-writes';
import type { DocumentClient } from '../storage/document-client';
import {
  and,
  compare,
  conditionOnly,
  contains,
  exists,
  filtered,
  isIn,
  not,
  notExists,
  or,
  size,
  update,
} from '../storage/expressions';
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

/** The statuses a batch ends in: reaching one frees its open-batch slot and takes it out of the expiry sweep. */
export const FINAL_STATUSES: ReadonlySet<BatchStatus> = new Set([
  'completed',
  'failed',
  'expired',
  'cancelled',
]);

/** Unix seconds at which the batch entered each status it went through. */
export type BatchTimes = Partial<
  Record<
    'in_progress' | 'finalizing' | 'completed' | 'failed' | 'expired' | 'cancelling' | 'cancelled',
    number
  >
>;

export interface BatchRecord {
  batchId: string;
  customerId: string;
  /** The project that created it; absent on batches created before projects. */
  projectId?: string;
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
  /**
   * The project's month is held too (its spend limit or spend alerts when the batch was created):
   * the batch reserves and settles on the project's spend item beside the organization's.
   */
  projectSpendHold?: true;
  /** The project's monthly spend limit when the batch was created (µ$), seeding a new month. */
  projectSpendLimitMicroUsd?: number;
  /** The month the spend reservation of the whole batch was taken in (`YYYY-MM`). */
  reservationMonth?: string;
  /** What the batch reserved when it started: its maximum cost (µ$) and its enqueued tokens per model. */
  reservedMicroUsd?: number;
  enqueuedTokens?: Record<string, number>;
  /**
   * The reservation is marked on the month items (`bhold_`, see metering/spend.ts): the lines and
   * the end settle against the mark. Absent on batches started before it: they use `bdone_`.
   */
  spendHeld?: true;
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
  /** A runnable line's share of its model's enqueued-token allowance, given back when it is settled. */
  enqueued?: { model: string; tokens: number };
  /** Set once the spend tracker has been settled for this line (the mark is taken before settling). */
  settled?: boolean;
  /** A completed line's ledger record: written when the line is settled, so only a stored completion bills. */
  ledger?: LedgerRecord;
}

const partition = (customerId: string) => `CUS#${customerId}`;
const batchKey = (customerId: string, batchId: string) => ({
  [PK]: partition(customerId),
  [SK]: `BATCH#${batchId}`,
});
const lineKey = (customerId: string, batchId: string, index: number) => ({
  [PK]: partition(customerId),
  [SK]: `BLINE#${batchId}#${String(index).padStart(7, '0')}`,
});

/**
 * One item per customer holding the ids of its open batches (a string set): a batch takes its slot
 * with ONE conditional update (`size(open) < max`), so concurrent creates cannot pass the limit,
 * and adding or removing an id twice changes nothing, so retries and duplicate deliveries cannot
 * leak or double-free a slot.
 */
const openSlotsKey = (customerId: string) => ({
  [PK]: partition(customerId),
  [SK]: 'OPEN_BATCHES',
});
/** Tokens a customer's open batches hold of one model's enqueued-token allowance, and which batches hold them. */
const enqueuedKey = (customerId: string, model: string) => ({
  [PK]: partition(customerId),
  [SK]: `ENQUEUED#${model}`,
});
/**
 * Every open batch, in one partition sorted by the end of its completion window: the expiry sweep
 * reads only the batches that are due (a Query up to now), whoever owns them. Batches are created
 * at human pace, far below one partition's 1,000 writes per second.
 */
const SWEEP_PARTITION = 'BATCH_EXPIRY';
const sweepKey = (batch: Pick<BatchRecord, 'customerId' | 'batchId' | 'expiresAt'>) => ({
  [PK]: SWEEP_PARTITION,
  [SK]: `${String(batch.expiresAt).padStart(12, '0')}#${batch.customerId}#${batch.batchId}`,
});

/** A batch the expiry sweep should look at. */
export interface SweepEntry {
  customerId: string;
  batchId: string;
  expiresAt: number;
}

function strip<T>(item: Record<string, unknown> | undefined): T | undefined {
  if (!item) return undefined;
  const { [PK]: _pk, [SK]: _sk, ...rest } = item;
  return rest as T;
}

/** Batches and their line results, in the owner's partition of the files table. */
export class BatchesRepository {
  constructor(
    private readonly doc: DocumentClient,
    private readonly tableName: string,
  ) {}

  async putBatch(batch: BatchRecord): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...batchKey(batch.customerId, batch.batchId), ...batch },
        ...conditionOnly(notExists(PK)),
      }),
    );
  }

  async getBatch(customerId: string, batchId: string): Promise<BatchRecord | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: batchKey(customerId, batchId),
        ConsistentRead: true,
      }),
    );
    return strip<BatchRecord>(Item);
  }

  /**
   * The batches visible in `scope`, newest first, after `after`; one more than `limit` tells
   * whether more follow. Another project's batches share the partition: the filter leaves them out.
   */
  async listBatches(
    scope: ObjectScope,
    limit: number,
    after?: string,
  ): Promise<{ batches: BatchRecord[]; hasMore: boolean }> {
    const { customerId } = scope;
    const { items, hasMore } = await queryPage(
      this.doc,
      filtered(
        {
          TableName: this.tableName,
          KeyConditionExpression: '#p = :p AND begins_with(#s, :prefix)',
          ExpressionAttributeNames: { '#p': PK, '#s': SK },
          ExpressionAttributeValues: { ':p': partition(customerId), ':prefix': 'BATCH#' },
          ScanIndexForward: false,
          ExclusiveStartKey: after ? batchKey(customerId, after) : undefined,
        },
        projectCondition(scope),
      ),
      limit,
      (item) => strip<BatchRecord>(item) as BatchRecord,
    );
    return { batches: items, hasMore };
  }

  /**
   * Takes one of the customer's `max` open-batch slots for `batchId` (true), or answers false when
   * all are taken. Taking the slot of a batch that already holds one answers true (a retried
   * create).
   */
  async takeOpenSlot(customerId: string, batchId: string, max: number): Promise<boolean> {
    return applied(
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: openSlotsKey(customerId),
          ...update(
            { add: { open: new Set([batchId]) } },
            or(notExists('open'), compare(size('open'), '<', max), contains('open', batchId)),
          ),
        }),
      ),
    );
  }

  /** The ids holding the customer's open-batch slots. */
  async openSlots(customerId: string): Promise<string[]> {
    const { Item } = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: openSlotsKey(customerId),
        ConsistentRead: true,
      }),
    );
    return [...((Item?.open as Set<string> | undefined) ?? [])];
  }

  /** Gives a batch's slot back; idempotent (and a no-op once the customer's data is erased). */
  async releaseSlot(customerId: string, batchId: string): Promise<void> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: openSlotsKey(customerId),
          ...update({ delete: { open: new Set([batchId]) } }, exists(PK)),
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }

  /** Puts a batch where the expiry sweep finds it once its window has ended. */
  async registerForSweep(
    batch: Pick<BatchRecord, 'customerId' | 'batchId' | 'expiresAt'>,
  ): Promise<void> {
    const { customerId, batchId, expiresAt } = batch;
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...sweepKey(batch), customerId, batchId, expiresAt },
      }),
    );
  }

  /** The open batches whose window ended at or before `nowSeconds`, oldest first. */
  async dueForSweep(nowSeconds: number, limit: number): Promise<SweepEntry[]> {
    const { Items = [] } = await this.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: '#p = :p AND #s <= :due',
        ExpressionAttributeNames: { '#p': PK, '#s': SK },
        // `~` sorts after every id character: every batch whose window ended in that second is
        // included.
        ExpressionAttributeValues: {
          ':p': SWEEP_PARTITION,
          ':due': `${String(nowSeconds).padStart(12, '0')}#~`,
        },
        Limit: limit,
      }),
    );
    return Items.map((item) => ({
      customerId: item.customerId as string,
      batchId: item.batchId as string,
      expiresAt: item.expiresAt as number,
    }));
  }

  /** Every open batch (each has a sweep entry from its create until it ends), oldest window first. */
  async *openBatches(): AsyncIterable<SweepEntry> {
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: '#p = :p',
          ExpressionAttributeNames: { '#p': PK },
          ExpressionAttributeValues: { ':p': SWEEP_PARTITION },
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) {
        yield {
          customerId: item.customerId as string,
          batchId: item.batchId as string,
          expiresAt: item.expiresAt as number,
        };
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);
  }

  /** Frees the batch's slot and takes it out of the sweep: once it has ended, or when its create failed. */
  async releaseOpenBatch(
    batch: Pick<BatchRecord, 'customerId' | 'batchId' | 'expiresAt'>,
  ): Promise<void> {
    await this.releaseSlot(batch.customerId, batch.batchId);
    await this.doc.send(new DeleteCommand({ TableName: this.tableName, Key: sweepKey(batch) }));
  }

  /**
   * Takes `tokens` of the customer's enqueued-token allowance for `model` for a batch, within
   * `limit`. The batch's id goes into the item with them, so a redelivered validation takes them
   * once. Answers whether they are held, and how many tokens are enqueued for the model.
   */
  async takeEnqueued(
    customerId: string,
    model: string,
    batchId: string,
    tokens: number,
    limit: number,
  ): Promise<{ taken: boolean; enqueued: number }> {
    if (tokens > limit)
      return { taken: false, enqueued: await this.enqueuedTokens(customerId, model) };
    try {
      const { Attributes } = await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: enqueuedKey(customerId, model),
          ...update(
            { add: { tokens, batches: new Set([batchId]) } },
            and(
              or(notExists('tokens'), compare('tokens', '<=', limit - tokens)),
              or(notExists('batches'), not(contains('batches', batchId))),
            ),
          ),
          ReturnValues: 'ALL_NEW',
        }),
      );
      return { taken: true, enqueued: (Attributes?.tokens as number | undefined) ?? tokens };
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
    const { Item } = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: enqueuedKey(customerId, model),
        ConsistentRead: true,
      }),
    );
    const taken = ((Item?.batches as Set<string> | undefined) ?? new Set()).has(batchId);
    return { taken, enqueued: (Item?.tokens as number | undefined) ?? 0 };
  }

  /** Tokens enqueued for `model` by the customer's open batches. */
  async enqueuedTokens(customerId: string, model: string): Promise<number> {
    const { Item } = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: enqueuedKey(customerId, model),
        ConsistentRead: true,
      }),
    );
    return (Item?.tokens as number | undefined) ?? 0;
  }

  /**
   * Gives back a settled line's enqueued tokens while its batch still holds tokens of the model,
   * adding them to the batch's released sum on the same item; after {@link
   * releaseBatchEnqueuedRemainder} it does nothing.
   */
  async releaseLineEnqueued(
    customerId: string,
    model: string,
    batchId: string,
    tokens: number,
  ): Promise<void> {
    await applied(
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: enqueuedKey(customerId, model),
          ...update(
            { add: { tokens: -tokens, [`released_${batchId}`]: tokens } },
            contains('batches', batchId),
          ),
        }),
      ),
    );
  }

  /**
   * Ends a batch's hold on `model`'s enqueued tokens, once: gives back what its line releases left
   * of `totalTokens` (a line whose process died between its settle mark and its release: issue 20
   * row 6), and takes the batch out of the item. Conditional on the released sum read, so a line
   * release landing meanwhile is never counted twice.
   */
  async releaseBatchEnqueuedRemainder(
    customerId: string,
    model: string,
    batchId: string,
    totalTokens: number,
  ): Promise<void> {
    const released = `released_${batchId}`;
    for (;;) {
      const { Item } = await this.doc.send(
        new GetCommand({
          TableName: this.tableName,
          Key: enqueuedKey(customerId, model),
          ConsistentRead: true,
        }),
      );
      if (!((Item?.batches as Set<string> | undefined) ?? new Set()).has(batchId)) return;
      const seen = (Item?.[released] as number | undefined) ?? 0;
      // A line release landed since the read: read again.
      const done = await applied(
        this.doc.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: enqueuedKey(customerId, model),
            ...update(
              {
                add: { tokens: -Math.max(0, totalTokens - seen) },
                delete: { batches: new Set([batchId]) },
                remove: [released],
              },
              and(
                contains('batches', batchId),
                seen === 0
                  ? or(notExists(released), compare(released, '=', seen))
                  : compare(released, '=', seen),
              ),
            ),
          }),
        ),
      );
      if (done) return;
    }
  }

  /** Gives back enqueued tokens (a settled line's, or a whole batch's that did not start). */
  async releaseEnqueued(
    customerId: string,
    model: string,
    tokens: number,
    batchId?: string,
  ): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: enqueuedKey(customerId, model),
        ...update({
          add: { tokens: -tokens },
          ...(batchId ? { delete: { batches: new Set([batchId]) } } : {}),
        }),
      }),
    );
  }

  /**
   * Moves a batch from one of `from` to `to`, stamping the time and setting `fields`. False when
   * the batch was not in one of `from` (another worker or a cancel got there first): each
   * transition happens once.
   */
  async transition(
    customerId: string,
    batchId: string,
    from: BatchStatus[],
    to: BatchStatus,
    at: number,
    fields: Partial<BatchRecord> = {},
  ): Promise<boolean> {
    let moved: BatchRecord;
    try {
      const { Attributes } = await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: batchKey(customerId, batchId),
          ...update(
            { set: { ...fields, status: to }, setPaths: [[['times', to], at]] },
            isIn('status', from),
          ),
          ReturnValues: 'ALL_NEW',
        }),
      );
      moved = strip<BatchRecord>(Attributes) as BatchRecord;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
    // The transition into an end happens once; a crash before this leaves the slot to `healSlots`
    // and the sweep entry to the sweep, which both check the batch itself.
    if (FINAL_STATUSES.has(to)) await this.releaseOpenBatch(moved);
    return true;
  }

  async getLine(
    customerId: string,
    batchId: string,
    index: number,
  ): Promise<LineResult | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: lineKey(customerId, batchId, index),
        ConsistentRead: true,
      }),
    );
    return strip<LineResult>(Item);
  }

  /**
   * Writes a line's result once and counts it on the batch. False when the line already had a
   * result (a redelivery, or a concurrent worker): then nothing is counted, so every line counts
   * exactly once.
   */
  async putLine(
    customerId: string,
    line: LineResult,
    options: { count?: boolean } = {},
  ): Promise<boolean> {
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
    // A batch's end writes its unrun lines uncounted: its final counts come from its files.
    if (options.count !== false) await this.countLine(customerId, line.batchId, line.succeeded);
    return true;
  }

  /** Counts one finished line on the batch (a crash between the line and this leaves it to `recount`). */
  private async countLine(customerId: string, batchId: string, succeeded: boolean): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: batchKey(customerId, batchId),
        ...update({ add: { [succeeded ? 'completed' : 'failed']: 1 } }),
      }),
    );
  }

  /**
   * Sets the batch's counts to its line results, for a line whose count a crash lost. Conditional
   * on the counts read before the lines were: a line counted meanwhile makes it read again, so no
   * count is lost or doubled.
   */
  async recount(customerId: string, batchId: string): Promise<void> {
    for (;;) {
      const batch = await this.getBatch(customerId, batchId);
      if (!batch) return;
      let completed = 0;
      let failed = 0;
      for await (const line of this.lines(customerId, batchId)) {
        if (line.succeeded) completed += 1;
        else failed += 1;
      }
      if (completed === batch.completed && failed === batch.failed) return;
      try {
        await this.doc.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: batchKey(customerId, batchId),
            ...update(
              { set: { completed, failed } },
              and(compare('completed', '=', batch.completed), compare('failed', '=', batch.failed)),
            ),
          }),
        );
        return;
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
      }
    }
  }

  /** Takes the right to settle a line's spend: true once per line, ever. */
  async markSettled(customerId: string, batchId: string, index: number): Promise<boolean> {
    return applied(
      this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: lineKey(customerId, batchId, index),
          ...update({ set: { settled: true } }, compare('settled', '=', false)),
        }),
      ),
    );
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
