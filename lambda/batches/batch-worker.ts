import { randomUUID } from 'node:crypto';
import type { TierlineConfig } from '../../lib/config/schema';
import { randomBase62 } from '../customers/api-keys';
import { projectScope } from '../customers/project-limits';
import { everyProject, type ProjectScope, projectOf } from '../customers/project-ownership';
import type { FileStorage } from '../files/file-storage';
import type { FilesService } from '../files/files-service';
import { BackendError, type ModelBackend } from '../inference/backends/model-backend';
import { PromptTokenCounter } from '../inference/prompt-tokens';
import { completionWithReasoning } from '../inference/reasoning';
import type { LedgerWriter } from '../metering/ledger';
import { ledgerRecord } from '../metering/ledger';
import { formatUsd, pricesOf } from '../metering/pricing';
import {
  type ReserveResult,
  type SpendReservation,
  type SpendTracker,
  utcMonth,
} from '../metering/spend';
import type { ResponseObject } from '../openai/shapes/responses';
import {
  finishedResponse,
  outputOfCompletion,
  responseFrame,
  responseIdOf,
  responseUsage,
} from '../responses/response-objects';
import type { ResponsesRequest } from '../responses/responses-request';
import {
  BATCH_ENDPOINT,
  type BatchEndpoint,
  type BatchFineTunes,
  type BatchScan,
  type FileProblem,
  linesOf,
  loadBatchTokenizers,
  parseBatchLine,
  type RejectedLine,
  type RunnableLine,
  scanBatchFile,
} from './batch-lines';
import type { BatchMessage, BatchQueue } from './batch-queue';
import {
  type BatchesRepository,
  type BatchRecord,
  FINAL_STATUSES,
  type LineResult,
} from './batches-repository';

/** Lines per `run` message: small enough to finish well within the worker's timeout. */
export const LINES_PER_CHUNK = 20;
/** Lines of one chunk sent to the model at once. With the worker's SQS concurrency this bounds batch load. */
export const DEFAULT_LINE_CONCURRENCY = 4;
/** Batches one sweep message ends: each reads its input file, so a message stays well within the timeout. */
export const SWEEP_BATCHES = 20;

export interface BatchWorkerOptions {
  config: TierlineConfig;
  batches: BatchesRepository;
  files: FilesService;
  storage: FileStorage;
  backend: ModelBackend;
  ledger: Pick<LedgerWriter, 'write'>;
  spend: Pick<SpendTracker, 'reserve' | 'settle' | 'settleBatchRemainder'>;
  queue: BatchQueue;
  lineConcurrency?: number;
  /**
   * The ready `ft:` models of the batch's project (one Query), loaded once per message; absent: no
   * line may name one.
   */
  fineTunes?: (scope: ProjectScope) => Promise<BatchFineTunes>;
  now?: () => Date;
  /**
   * The process is stopping (local mode): a chunk starts no further line and ends unfinished, so
   * nothing writes after the process closed its tables; the next start resumes the batch.
   */
  stopSignal?: AbortSignal;
}

/** The ledger's request id of a line: the same on every delivery, so a line is billed once. */
export const lineRequestId = (batchId: string, customId: string) => `${batchId}:${customId}`;

/** Output and error files of a batch get ids derived from it, so a retried finalization writes the same files. */
export const outputFileId = (batchId: string) => `file-${batchId.slice('batch_'.length)}o`;
export const errorFileId = (batchId: string) => `file-${batchId.slice('batch_'.length)}e`;

/**
 * The batch worker: one message at a time, each safe to deliver twice. `validate` checks the input
 * file and reserves the batch's maximum cost, then queues `run` chunks; `run` sends each line
 * without a result to the model, writes the ledger (request id from batch id + custom_id), then the
 * line's result (once), then settles its spend; the last line queues `finalize`, which writes the
 * output and error files.
 */
export class BatchWorker {
  private readonly now: () => Date;

  constructor(private readonly options: BatchWorkerOptions) {
    this.now = options.now ?? (() => new Date());
  }

  private seconds(): number {
    return Math.floor(this.now().getTime() / 1000);
  }

  async handle(message: BatchMessage): Promise<void> {
    if (message.kind === 'sweep') {
      await this.sweep();
      return;
    }
    const batch = await this.options.batches.getBatch(message.customerId, message.batchId);
    if (!batch) return; // nothing to do for a batch that does not exist (never created, or a stray message)
    await loadBatchTokenizers(this.options.config, batch.tier); // once per process; lines count their prompts with them
    if (message.kind === 'validate') await this.validate(batch);
    else if (message.kind === 'run') await this.run(batch, message);
    else await this.finalize(batch);
  }

  /**
   * The ready `ft:` models of the batch's project (one Query; a batch made before batches recorded
   * a project is the default project's, as are models made before models did); otherwise none.
   */
  private async fineTunesOf(batch: BatchRecord): Promise<BatchFineTunes> {
    if (!this.options.fineTunes) return new Map();
    const { customerId } = batch;
    return this.options.fineTunes({ customerId, projectId: projectOf(batch, customerId) });
  }

  private async validate(batch: BatchRecord): Promise<void> {
    if (batch.status !== 'validating') return;
    const { config, storage, files } = this.options;
    const fail = (errors: FileProblem[]) =>
      this.options.batches.transition(
        batch.customerId,
        batch.batchId,
        ['validating'],
        'failed',
        this.seconds(),
        {
          errors,
        },
      );
    const input = await files.get(inputScope(batch), batch.inputFileId).catch(() => undefined);
    const body = input ? await storage.get(input.objectKey) : undefined;
    if (!input || !body) {
      await fail([
        {
          code: 'file_not_found',
          message: `The input file ${batch.inputFileId} is gone.`,
          line: 0,
          param: 'input_file_id',
        },
      ]);
      return;
    }
    const text = Buffer.from(body).toString('utf8');
    const fineTunes = await this.fineTunesOf(batch);
    const { lines, problems, maxCost, enqueued } = scanBatchFile(
      text,
      config,
      batch.tier,
      fineTunes,
      endpointOf(batch),
    );
    if (problems.length > 0) {
      await fail(problems.slice(0, 100));
      return;
    }
    if (await this.start(batch, { lines, maxCost, enqueued }, fail))
      await this.options.queue.send(runMessages(batch, text));
  }

  /**
   * Holds what a checked batch needs before any line runs (each model's enqueued tokens, then the
   * whole batch's maximum cost against the spend limit) and moves it to `in_progress`. False when
   * it did not start: refused (the batch failed) or no longer validating (what it held given back).
   */
  private async start(
    batch: BatchRecord,
    { lines, maxCost, enqueued }: Omit<BatchScan, 'problems'>,
    fail: (errors: FileProblem[]) => Promise<unknown>,
  ): Promise<boolean> {
    // Each model's enqueued-token allowance, then the spend: both held before any line runs.
    const held = await this.takeEnqueued(batch, enqueued);
    if (held.refused) {
      await fail([held.refused]);
      return false;
    }
    const spend = await this.reserveBatch(batch, maxCost);
    if (!spend.admitted) {
      await held.release();
      await fail([spend.refused]);
      return false;
    }
    const { reservation } = spend;
    const started = await this.options.batches.transition(
      batch.customerId,
      batch.batchId,
      ['validating'],
      'in_progress',
      this.seconds(),
      {
        total: lines,
        reservationMonth: reservation.month,
        reservedMicroUsd: maxCost,
        spendHeld: true,
        enqueuedTokens: Object.fromEntries(enqueued),
      },
    );
    if (!started) {
      // Cancelled (or expired) while validating, or a duplicate delivery won. The reservation and
      // the tokens are the batch's, taken once whichever delivery took them (a duplicate that won
      // holds these very ones): only a batch that did not start gives them back, once (the
      // reservation's mark goes with it).
      const current = await this.options.batches.getBatch(batch.customerId, batch.batchId);
      // Ended: its end gave back what the batch held before it became final, so what this delivery
      // holds now it took after that (it stalled until another delivery had run the whole batch):
      // given back, once (each release needs its mark; none is left of what the end released).
      const ended = !current || FINAL_STATUSES.has(current.status);
      // Started by a delivery that reserved in another month (across a UTC month's end): this
      // reservation is not the batch's.
      if (ended || current.reservationMonth !== reservation.month) await spend.giveBack();
      if (ended || !current.reservationMonth) await held.release();
      const now = await this.options.batches.getBatch(batch.customerId, batch.batchId);
      if (now?.status === 'cancelling')
        await this.options.queue.send([
          { kind: 'finalize', customerId: batch.customerId, batchId: batch.batchId },
        ]);
      return false;
    }
    // A start that died before a UTC month ended left its marks on the earlier month's items: this
    // start reserved on this month's, so those are given back (nothing there, nothing done).
    const createdIn = utcMonth(new Date(batch.createdAt * 1000));
    if (createdIn !== reservation.month) await this.releaseHolds(batch, [createdIn]);
    return true;
  }

  /**
   * The whole batch's maximum cost, held before any line runs, so a batch can never pass the spend
   * limit: the organization's month, then (for a project with a spend limit or alerts) the
   * project's, both in the same month. A refusal of either gives back what was held and answers
   * the problem, with the numbers; an error of the project's gives back the organization's.
   */
  private async reserveBatch(
    batch: BatchRecord,
    maxCost: number,
  ): Promise<
    | { admitted: true; reservation: SpendReservation; giveBack: () => Promise<void> }
    | { admitted: false; refused: FileProblem }
  > {
    const { spend } = this.options;
    const at = this.now();
    // Marked with the batch (`bhold_`): its lines settle while the mark is there, and the batch's
    // end removes it, leaving nothing of the batch on the month item.
    const reserved = await spend.reserve(batch.customerId, batch.spendLimitMicroUsd, maxCost, {
      at,
      batchId: batch.batchId,
    });
    if (!reserved.admitted) {
      return {
        admitted: false,
        refused: spendRefusal(
          `This batch may cost up to $${formatUsd(maxCost)}, more than is left of your monthly spend limit`,
          reserved,
          'Raise the limit (PUT /v1/spend_limit) or send a smaller batch.',
        ),
      };
    }
    const organization = reserved.reservation;
    const scope = projectScopeOf(batch);
    if (!scope) {
      return {
        admitted: true,
        reservation: organization,
        giveBack: () => settleNothing(spend, organization),
      };
    }
    let ofProject: Awaited<ReturnType<typeof spend.reserve>>;
    try {
      ofProject = await spend.reserve(scope, batch.projectSpendLimitMicroUsd, maxCost, {
        at,
        batchId: batch.batchId,
      });
    } catch (error) {
      // The message comes back; what the organization held must not stay held meanwhile.
      await settleNothing(spend, organization);
      throw error;
    }
    if (!ofProject.admitted) {
      await settleNothing(spend, organization);
      return {
        admitted: false,
        refused: spendRefusal(
          `This batch may cost up to $${formatUsd(maxCost)}, more than is left of the monthly spend limit ` +
            `of project \`${batch.projectId}\``,
          ofProject,
          'An organization owner can raise it (POST /v1/organization/projects/{project_id}/spend_limit), ' +
            'or send a smaller batch.',
        ),
      };
    }
    const project = ofProject.reservation;
    return {
      admitted: true,
      reservation: organization,
      giveBack: async () => {
        await settleNothing(spend, organization);
        await settleNothing(spend, project);
      },
    };
  }

  /**
   * What the batch's line settlements left of its reservation and its enqueued tokens, settled once
   * (issue 20 row 6): the organization's month, then the project's, then each model's tokens.
   */
  private async settleRemainders(
    batch: BatchRecord,
    month: string,
    sums: { reserved: number; cost: number; enqueued: Map<string, number> },
  ): Promise<void> {
    const { reserved, cost, enqueued } = sums;
    const held = { held: batch.spendHeld === true };
    const { spend, batches } = this.options;
    await spend.settleBatchRemainder(batch.customerId, month, batch.batchId, reserved, cost, held);
    // Then the project's, on its own item: a crash between the two finds the organization's done
    // on the next delivery (its bhold_ mark gone, or an older batch's bdone_ set) and settles the
    // project's; each once.
    const scope = projectScopeOf(batch);
    if (scope) await spend.settleBatchRemainder(scope, month, batch.batchId, reserved, cost, held);
    for (const [model, tokens] of enqueued)
      await batches.releaseBatchEnqueuedRemainder(batch.customerId, model, batch.batchId, tokens);
  }

  /**
   * Gives back the spend a start reserved without moving the batch to `in_progress` (its process
   * died in between): its marks, on the organization's and the project's month items, in the month
   * it was created in or this one (a start runs between the two). No mark, nothing to do.
   */
  private async releaseUnstarted(batch: BatchRecord): Promise<void> {
    await this.releaseUnstartedTokens(batch);
    await this.releaseHolds(batch, [
      utcMonth(new Date(batch.createdAt * 1000)),
      utcMonth(this.now()),
    ]);
  }

  /** Gives back the batch's marked reservations on the organization's and project's `months`. */
  private async releaseHolds(batch: BatchRecord, months: string[]): Promise<void> {
    const scope = projectScopeOf(batch);
    for (const month of new Set(months)) {
      for (const customerId of scope ? [batch.customerId, scope] : [batch.customerId]) {
        await settleNothing(this.options.spend, {
          customerId,
          month,
          reservedMicroUsd: 0,
          batchId: batch.batchId,
        });
      }
    }
  }

  /**
   * Gives back the enqueued tokens a start took before dying (each model's, with the batch's id in
   * its item, so once): how many is what the start counted, so the input file is scanned again as
   * it was. A file gone since leaves them to the operator (logged by the caller's failure, never
   * guessed).
   */
  private async releaseUnstartedTokens(batch: BatchRecord): Promise<void> {
    const { config, files, storage, batches } = this.options;
    const input = await files.get(inputScope(batch), batch.inputFileId).catch(() => undefined);
    const body = input ? await storage.get(input.objectKey) : undefined;
    if (!body) return;
    const { enqueued } = scanBatchFile(
      Buffer.from(body).toString('utf8'),
      config,
      batch.tier,
      await this.fineTunesOf(batch),
      endpointOf(batch),
    );
    for (const [model, tokens] of enqueued)
      await batches.releaseBatchEnqueuedRemainder(batch.customerId, model, batch.batchId, tokens);
  }

  /**
   * Sends again the work of every open batch, as SQS redelivers a message whose consumer died
   * (after its visibility timeout): local mode's queue lives in memory, so without this a restart
   * stranded running batches `in_progress` for ever, holding their spend reservation, open-batch
   * slot and enqueued tokens (issue 20 row 2). Every message is safe twice: validation transitions
   * once, a line with a result is only settled, finalizing writes the same files. Answers how many
   * batches it sent work for.
   */
  async resume(): Promise<number> {
    const { batches, queue } = this.options;
    let resumed = 0;
    for await (const entry of batches.openBatches()) {
      const batch = await batches.getBatch(entry.customerId, entry.batchId);
      // Ended (or erased) and only its sweep entry left: the expiry sweep releases it.
      if (!batch || FINAL_STATUSES.has(batch.status)) continue;
      const ids = { customerId: batch.customerId, batchId: batch.batchId };
      if (batch.status === 'validating') await queue.send([{ kind: 'validate', ...ids }]);
      else if (batch.status === 'in_progress') {
        const input = await this.options.files
          .get(inputScope(batch), batch.inputFileId)
          .catch(() => undefined);
        const body = input ? await this.options.storage.get(input.objectKey) : undefined;
        // Without its input the lines cannot run: finalizing reports what ran and ends it.
        await queue.send(
          body
            ? runMessages(batch, Buffer.from(body).toString('utf8'))
            : [{ kind: 'finalize', ...ids }],
        );
      } else await queue.send([{ kind: 'finalize', ...ids }]);
      resumed += 1;
    }
    return resumed;
  }

  private async run(
    batch: BatchRecord,
    message: Extract<BatchMessage, { kind: 'run' }>,
  ): Promise<void> {
    const { storage, files } = this.options;
    // A cancelled batch's lines are all written by its finalize, in one pass: 2,500 run messages
    // writing 20 cancelled lines each held the queue for minutes (issue 20 row 5). One still queued
    // ends here.
    if (batch.status !== 'in_progress') return;
    const input = await files.get(inputScope(batch), batch.inputFileId).catch(() => undefined);
    const bytes = input
      ? await storage.getRange(input.objectKey, message.startByte, message.endByte)
      : undefined;
    const lines = bytes ? linesOf(Buffer.from(bytes).toString('utf8'), message.firstLine) : [];
    const expired = this.seconds() >= batch.expiresAt;
    const queue = [...lines];
    const fineTunes = await this.fineTunesOf(batch);
    const concurrency = this.options.lineConcurrency ?? DEFAULT_LINE_CONCURRENCY;
    let redelivered = false;
    const workers = Array.from({ length: Math.min(concurrency, queue.length) }, async () => {
      for (let line = queue.shift(); line; line = queue.shift()) {
        if (this.options.stopSignal?.aborted) return;
        const outcome = await this.runLine(
          batch,
          line.number,
          line.text,
          expired ? 'expired' : undefined,
          fineTunes,
        );
        if (outcome === 'had a result') redelivered = true;
      }
    });
    await Promise.all(workers);
    if (this.options.stopSignal?.aborted) return;
    // A redelivery means a process died in this chunk, maybe between a line's result and its count
    // on the batch: the counts are made exact again, or the batch would wait for a count that never
    // comes.
    if (redelivered) await this.options.batches.recount(batch.customerId, batch.batchId);
    await this.finalizeIfDone(batch);
  }

  /**
   * Takes each model's share of the customer's enqueued-token allowance for the batch; on a refusal
   * gives back what it took and answers the problem, with the numbers.
   */
  private async takeEnqueued(
    batch: BatchRecord,
    perModel: Map<string, number>,
  ): Promise<{ refused?: FileProblem; release: () => Promise<void> }> {
    const { batches, config } = this.options;
    const limit = config.tiers[batch.tier].batch.maxEnqueuedTokensPerModel;
    const taken: [string, number][] = [];
    // Once whichever delivery releases (a duplicate beside this one, a batch's end): only while the
    // batch is in the model's item.
    const release = async () => {
      for (const [model, tokens] of taken)
        await batches.releaseBatchEnqueuedRemainder(batch.customerId, model, batch.batchId, tokens);
    };
    for (const [model, tokens] of perModel) {
      const result = await batches.takeEnqueued(
        batch.customerId,
        model,
        batch.batchId,
        tokens,
        limit,
      );
      if (result.taken) {
        taken.push([model, tokens]);
        continue;
      }
      await release();
      return {
        release: async () => undefined,
        refused: {
          code: 'token_limit_exceeded',
          message:
            `Enqueued token limit reached for ${model}: limit ${limit}, already enqueued ${result.enqueued}, ` +
            `this batch ${tokens} (prompt estimates + max_completion_tokens of its lines). Wait for your open ` +
            'batches of this model to finish, or send a smaller batch or lower max_completion_tokens.',
          line: 0,
          param: null,
        },
      };
    }
    return { release };
  }

  /**
   * Ends every batch whose completion window has passed and that is still open (its messages stuck
   * in the queue, or never run): it becomes `expired`, its finished lines kept, every other line in
   * the error file as `batch_expired`, not billed, its reservation given back. At most {@link
   * SWEEP_BATCHES} per message; when more are due, another sweep message follows. Answers how many
   * batches it looked at.
   */
  async sweep(): Promise<number> {
    const { batches, queue } = this.options;
    const due = await batches.dueForSweep(this.seconds(), SWEEP_BATCHES);
    for (const entry of due) {
      const batch = await batches.getBatch(entry.customerId, entry.batchId);
      // Ended already, or erased with its customer: only the sweep entry (and slot) was left by a
      // crash.
      if (!batch || FINAL_STATUSES.has(batch.status)) {
        await batches.releaseOpenBatch(entry);
        continue;
      }
      if (batch.status === 'validating' || batch.status === 'in_progress') {
        const at = this.seconds();
        if (
          !(await batches.transition(
            batch.customerId,
            batch.batchId,
            [batch.status],
            'finalizing',
            at,
          ))
        )
          continue;
      }
      const now = await batches.getBatch(batch.customerId, batch.batchId);
      if (now) await this.finalize(now);
    }
    if (due.length === SWEEP_BATCHES) await queue.send([{ kind: 'sweep' }]);
    return due.length;
  }

  /** One line, exactly once: skipped when it has a result; settled when its result exists but was not settled. */
  private async runLine(
    batch: BatchRecord,
    index: number,
    text: string,
    stop?: 'cancelled' | 'expired',
    fineTunes?: BatchFineTunes,
  ): Promise<'had a result' | undefined> {
    const { batches, config } = this.options;
    const existing = await batches.getLine(batch.customerId, batch.batchId, index);
    if (existing) {
      await this.settleLine(batch, existing);
      return 'had a result';
    }
    const parsed = parseBatchLine(text, index, config, batch.tier, fineTunes, endpointOf(batch));
    if (parsed.kind === 'fail') return undefined; // validation ruled this out; the file changed under us is not possible
    const customId = parsed.line.customId;
    const requestId = `batch_req_${randomBase62(24)}`;
    let result: LineResult;
    if (stop) {
      result = this.stoppedLine(batch, index, customId, stop, reservedOf(parsed));
    } else if (parsed.kind === 'reject') {
      result = rejectedLine(batch, index, parsed.line, requestId, parsed.line.reservedMicroUsd);
    } else {
      const line = parsed.line;
      const startedAt = this.now().toISOString();
      let completion: Awaited<ReturnType<ModelBackend['complete']>>;
      try {
        completion = await this.options.backend.complete({
          model: line.model,
          body: { model: line.model, ...line.body },
          adapter: line.adapter,
        });
      } catch (error) {
        // No capacity: the model did not run. Throw so the message comes back later; finished lines
        // stay done.
        if (error instanceof BackendError && error.kind === 'unavailable') throw error;
        const status =
          error instanceof BackendError && error.kind === 'bad_request'
            ? 400
            : error instanceof BackendError && error.kind === 'timeout'
              ? 504
              : 500;
        result = rejectedLine(
          batch,
          index,
          {
            customId,
            statusCode: status,
            error: {
              message:
                error instanceof BackendError ? error.message : 'The model failed on this request.',
              type: status === 400 ? 'invalid_request_error' : 'server_error',
              param: null,
              code: null,
            },
          },
          requestId,
          line.maxCostMicroUsd,
        );
        result.enqueued = { model: line.model, tokens: line.promptTokens + line.maxTokens };
        await batches.putLine(batch.customerId, result);
        await this.settleLine(
          batch,
          (await batches.getLine(batch.customerId, batch.batchId, index)) ?? result,
        );
        return undefined;
      }
      // A `/v1/responses` line answers the Response object `POST /v1/responses` would.
      const responseBody = line.responses ? await this.responseBody(line, completion) : undefined;
      result = this.completedLine(batch, index, line, completion, {
        requestId,
        startedAt,
        responseBody,
      });
    }
    if (parsed.kind === 'run') {
      result.enqueued = {
        model: parsed.line.model,
        tokens: parsed.line.promptTokens + parsed.line.maxTokens,
      };
    }
    await batches.putLine(batch.customerId, result);
    // Whatever line won the write (ours or a concurrent worker's) is the one settled.
    const stored = (await batches.getLine(batch.customerId, batch.batchId, index)) ?? result;
    await this.settleLine(batch, stored);
    return undefined;
  }

  /** A line the model answered: its output line and its ledger record, priced for a batch. */
  private completedLine(
    batch: BatchRecord,
    index: number,
    line: RunnableLine,
    completion: Awaited<ReturnType<ModelBackend['complete']>>,
    {
      requestId,
      startedAt,
      responseBody,
    }: { requestId: string; startedAt: string; responseBody?: ResponseObject },
  ): LineResult {
    const { config } = this.options;
    const { customId } = line;
    // A fine-tune is priced on its base model's offer, with the tier's premium; the ledger names
    // the ft: model.
    const offer = config.tiers[batch.tier].models[line.adapter?.baseModel ?? line.model];
    const record = ledgerRecord({
      requestId: lineRequestId(batch.batchId, customId),
      customerId: batch.customerId,
      model: line.model,
      tier: batch.tier,
      inputTokens: completion.usage.prompt_tokens,
      outputTokens: completion.usage.completion_tokens,
      prices: offer
        ? pricesOf(offer, line.premiumPercent)
        : { inputMicroUsdPerMillion: 0, outputMicroUsdPerMillion: 0 },
      discountPercent: config.tiers[batch.tier].batch.discountPercent,
      status: 'completed',
      startedAt,
      finishedAt: this.now().toISOString(),
      batch: true,
      ...(batch.projectId === undefined ? {} : { projectId: batch.projectId }),
    });
    // The result first, with its ledger record in it; the ledger is written when the line is
    // settled. So a line is billed exactly when its stored result is this completion: a cancel or
    // expiry that wrote the line's result while the model ran wins, and the line is reported
    // cancelled and not billed.
    return {
      ledger: record,
      batchId: batch.batchId,
      index,
      customId,
      succeeded: true,
      reservedMicroUsd: line.maxCostMicroUsd,
      costMicroUsd: record.costMicroUsd,
      outputLine: JSON.stringify({
        id: requestId,
        custom_id: customId,
        response: {
          status_code: 200,
          request_id: requestId,
          body:
            responseBody ??
            specShaped(completionWithReasoning(completion, line.reasoning), line.model),
        },
        error: null,
      }),
    };
  }

  /** A `/v1/responses` line's output: the Response object `POST /v1/responses` would answer. */
  private async responseBody(
    line: RunnableLine,
    completion: Awaited<ReturnType<ModelBackend['complete']>>,
  ): Promise<ResponseObject> {
    const output = outputOfCompletion(completion);
    const model = line.adapter?.baseModel ?? line.model;
    const thinking = output.reasoning
      ? await new PromptTokenCounter(this.options.config).countText(model, output.reasoning)
      : 0;
    const now = Math.floor(this.now().getTime() / 1000);
    const frame = responseFrame(line.responses as ResponsesRequest, {
      // Kept nowhere (a batch stores its output file, not responses): an id of its own kind.
      responseId: responseIdOf(randomUUID()),
      model: line.model,
      createdAt: now,
    });
    return finishedResponse(frame, output, responseUsage(completion.usage, thinking), now);
  }

  /** Replaces the line's share of the batch reservation by its cost; once per line (the mark comes first). */
  private async settleLine(batch: BatchRecord, line: LineResult): Promise<void> {
    if (line.settled) return;
    // Before the mark, so a crash in between bills on the next delivery; the request id makes it
    // once.
    if (line.ledger) await this.options.ledger.write(line.ledger);
    if (!(await this.options.batches.markSettled(batch.customerId, batch.batchId, line.index)))
      return;
    // Only a batch that started holds tokens and a reservation (both taken by its validation).
    if (!batch.reservationMonth) return;
    // Both apply only until the batch's end settles what its lines left (finalize): a crash right
    // here leaves this line's share to that remainder, never to a second settle.
    if (line.enqueued) {
      await this.options.batches.releaseLineEnqueued(
        batch.customerId,
        line.enqueued.model,
        batch.batchId,
        line.enqueued.tokens,
      );
    }
    // The line's share of the batch's reservation, the same on the organization's and the
    // project's month item.
    const share = {
      month: batch.reservationMonth,
      // The spend item holds every batch's reservation, limit or not (see metering/spend.ts).
      reservedMicroUsd: line.reservedMicroUsd,
      batchId: batch.batchId,
      ...(batch.spendHeld ? { batchHeld: true } : {}),
    };
    await this.options.spend.settle(
      { ...share, customerId: batch.customerId, limitMicroUsd: batch.spendLimitMicroUsd },
      line.costMicroUsd,
      this.options.config.tiers[batch.tier].spendLimit.alertThresholdsPercent,
    );
    // The project's share after the organization's: a crash in between leaves it to the project's
    // remainder at the batch's end (its own sums on the project's item), so it is settled once.
    const scope = projectScopeOf(batch);
    if (scope)
      await this.options.spend.settle(
        { ...share, customerId: scope, limitMicroUsd: batch.projectSpendLimitMicroUsd },
        line.costMicroUsd,
      );
  }

  private stoppedLine(
    batch: BatchRecord,
    index: number,
    customId: string,
    stop: 'cancelled' | 'expired',
    reserved: number,
  ): LineResult {
    const code = stop === 'expired' ? 'batch_expired' : 'batch_cancelled';
    const message =
      stop === 'expired'
        ? 'This line was not run before the batch expired (end of its completion window).'
        : 'This line was not run: the batch was cancelled.';
    return {
      batchId: batch.batchId,
      index,
      customId,
      succeeded: false,
      reservedMicroUsd: reserved,
      costMicroUsd: 0,
      outputLine: JSON.stringify({
        id: `batch_req_${randomBase62(24)}`,
        custom_id: customId,
        response: null,
        error: { code, message },
      }),
    };
  }

  private async finalizeIfDone(batch: BatchRecord): Promise<void> {
    const now = await this.options.batches.getBatch(batch.customerId, batch.batchId);
    if (!now || now.completed + now.failed < now.total) return;
    await this.finalize(now);
  }

  /** Writes the output and error files and ends the batch; safe to run twice (file ids come from the batch id). */
  private async finalize(batch: BatchRecord): Promise<void> {
    const { batches } = this.options;
    const at = this.seconds();
    let end: 'completed' | 'expired' | 'cancelled';
    if (batch.status === 'in_progress' || batch.status === 'finalizing') {
      if (
        batch.status === 'in_progress' &&
        !(await batches.transition(
          batch.customerId,
          batch.batchId,
          ['in_progress'],
          'finalizing',
          at,
        ))
      )
        return;
      end = at >= batch.expiresAt ? 'expired' : 'completed';
    } else if (batch.status === 'cancelling') {
      end = 'cancelled';
    } else if (batch.status === 'validating') {
      // Cancelled before validation finished: nothing ran, nothing was reserved.
      return;
    } else {
      // Ended, and this message delivered again (its process died after the end): what the end
      // does after it became final is done again, at no cost when done.
      if (FINAL_STATUSES.has(batch.status)) await this.releaseLateHolds(batch);
      return;
    }

    // Lines never run (a cancel, or the window ended) get a result first, so the files say so line
    // by line.
    if (end !== 'completed') await this.stopRemaining(batch, end);
    const output: string[] = [];
    const errors: string[] = [];
    let reserved = 0;
    let cost = 0;
    const enqueued = new Map<string, number>();
    // A batch validated before the remainder existed (no reservedMicroUsd: its lines were settled
    // without the per-batch sums) is settled line by line as it was; settling a remainder for it
    // would release twice.
    const withRemainder = batch.reservedMicroUsd !== undefined;
    for await (const line of batches.lines(batch.customerId, batch.batchId)) {
      (line.succeeded ? output : errors).push(line.outputLine);
      // A line that costs nothing only gives back what it held: the remainder below does that for
      // all of them in one update each (a 50,000-line cancel made 150,000 writes here).
      if (!withRemainder || line.ledger || line.costMicroUsd > 0)
        await this.settleLine(batch, line);
      reserved += line.reservedMicroUsd;
      cost += line.costMicroUsd;
      if (line.enqueued)
        enqueued.set(
          line.enqueued.model,
          (enqueued.get(line.enqueued.model) ?? 0) + line.enqueued.tokens,
        );
    }
    // Whatever a line's settlement left undone (its process died between its settle mark and the
    // spend or token release), the batch's end settles once, so nothing stays held after it (issue
    // 20 row 6). What the batch reserved when it started, when it says so (batches since issue 20):
    // unrun lines carry none.
    if (batch.reservedMicroUsd !== undefined) reserved = batch.reservedMicroUsd;
    if (batch.enqueuedTokens)
      for (const [model, tokens] of Object.entries(batch.enqueuedTokens))
        enqueued.set(model, tokens);
    // A batch that ended without starting (cancelled, or swept, while validating) may still hold
    // what a start that crashed before its transition reserved: given back here, once.
    if (!batch.reservationMonth) await this.releaseUnstarted(batch);
    if (batch.reservationMonth && withRemainder)
      await this.settleRemainders(batch, batch.reservationMonth, { reserved, cost, enqueued });
    const write = async (fileId: string, lines: string[], kind: string) =>
      lines.length === 0
        ? undefined
        : (
            await this.options.files.writeOwnedFile({
              customerId: batch.customerId,
              // The batch's project owns its results, as it owns the batch.
              ...(batch.projectId === undefined ? {} : { projectId: batch.projectId }),
              fileId,
              filename: `${batch.batchId}_${kind}.jsonl`,
              purpose: 'batch_output',
              lines: lines.length,
              chunks: (async function* () {
                for (const line of lines) yield Buffer.from(`${line}\n`);
              })(),
            })
          ).fileId;
    const outputId = await write(outputFileId(batch.batchId), output, 'output');
    const errorId = await write(errorFileId(batch.batchId), errors, 'error');
    await batches.transition(
      batch.customerId,
      batch.batchId,
      ['finalizing', 'cancelling'],
      end,
      this.seconds(),
      {
        ...(outputId ? { outputFileId: outputId } : {}),
        ...(errorId ? { errorFileId: errorId } : {}),
        // The counts of the files themselves: a line counted on the batch only after its result was
        // written is missing from the running counts when its process died in between (108
        // completed for 109 billed).
        completed: output.length,
        failed: errors.length,
      },
    );
    await this.releaseLateHolds(batch);
  }

  /**
   * Gives back what a start delivery of this batch took after its end had settled what the batch
   * held: a delivery that stalled (before its reservations) until another one had run the whole
   * batch, and read the batch before it became final, so it could not tell. Run once the batch is
   * final: nothing of it may be held any more, and a delivery that reads it final from then on gives
   * back its own. Each release needs its mark (the `bhold_` mark, the batch in the model's enqueued
   * item), so nothing there costs a read each and gives back nothing.
   */
  private async releaseLateHolds(batch: BatchRecord): Promise<void> {
    // A batch that never started: a start that could not start reads it without a reservation
    // month and gives back what it took, whenever it reads it.
    if (!batch.reservationMonth) return;
    await this.releaseHolds(batch, [batch.reservationMonth, utcMonth(this.now())]);
    for (const [model, tokens] of Object.entries(batch.enqueuedTokens ?? {}))
      await this.options.batches.releaseBatchEnqueuedRemainder(
        batch.customerId,
        model,
        batch.batchId,
        tokens,
      );
  }

  /** Writes a `batch_expired` / `batch_cancelled` result for every line that has none, releasing its reservation. */
  private async stopRemaining(batch: BatchRecord, end: 'expired' | 'cancelled'): Promise<void> {
    const input = await this.options.files
      .get(inputScope(batch), batch.inputFileId)
      .catch(() => undefined);
    const body = input ? await this.options.storage.get(input.objectKey) : undefined;
    if (!body) return;
    // One Query for the lines that have a result, not a GetItem per line.
    const done = new Set<number>();
    for await (const line of this.options.batches.lines(batch.customerId, batch.batchId))
      done.add(line.index);
    // A batch that recorded its reservation (reservedMicroUsd) has it settled by its remainder: an
    // unrun line needs only its custom_id, not a parse with the tokenizer (a millisecond a line: 50
    // s for 50,000).
    const totals = batch.reservedMicroUsd !== undefined;
    const fineTunes = totals ? new Map() : await this.fineTunesOf(batch);
    for (const line of linesOf(Buffer.from(body).toString('utf8'))) {
      if (done.has(line.number)) continue;
      let stopped: LineResult;
      if (totals) {
        const customId = customIdOf(line.text);
        if (customId === undefined) continue; // validation ruled this out
        stopped = this.stoppedLine(batch, line.number, customId, end, 0);
      } else {
        const parsed = parseBatchLine(
          line.text,
          line.number,
          this.options.config,
          batch.tier,
          fineTunes,
          endpointOf(batch),
        );
        if (parsed.kind === 'fail') continue;
        stopped = this.stoppedLine(
          batch,
          line.number,
          parsed.line.customId,
          end,
          reservedOf(parsed),
        );
        if (parsed.kind === 'run') {
          stopped.enqueued = {
            model: parsed.line.model,
            tokens: parsed.line.promptTokens + parsed.line.maxTokens,
          };
        }
      }
      // Conditional: a line that got its result meanwhile (a model answering during the cancel)
      // keeps it.
      await this.options.batches.putLine(batch.customerId, stopped, { count: false });
    }
  }
}

/**
 * Where the worker reads a batch's input: the organization's files. The create that named it
 * checked it was the batch's project's (a file's project never changes), and a batch made before
 * batches recorded their project may name a file that records one.
 */
function inputScope(batch: BatchRecord) {
  return everyProject(batch.customerId);
}

/** The project's spend item a batch holds beside the organization's, when it holds one. */
function projectScopeOf(batch: BatchRecord): string | undefined {
  if (!batch.projectSpendHold || batch.projectId === undefined) return undefined;
  return projectScope(batch.customerId, batch.projectId);
}

/** Gives back a batch's whole reservation on one month item: its `bhold_` mark goes with it. */
async function settleNothing(
  spend: Pick<SpendTracker, 'settleBatchRemainder'>,
  reservation: SpendReservation,
): Promise<void> {
  const { customerId, month, batchId } = reservation;
  if (batchId === undefined) throw new Error('a batch reservation names its batch');
  await spend.settleBatchRemainder(customerId, month, batchId, 0, 0, { held: true });
}

/** A refused spend reservation as the batch's `spend_limit_exceeded` problem. */
function spendRefusal(
  opening: string,
  refused: Extract<ReserveResult, { admitted: false }>,
  advice: string,
): FileProblem {
  return {
    code: 'spend_limit_exceeded',
    message:
      `${opening} ($${formatUsd(refused.limitMicroUsd)}, $${formatUsd(refused.spentMicroUsd)} spent or ` +
      `held). ${advice}`,
    line: 0,
    param: null,
  };
}

/** A validated line's custom_id. */
function customIdOf(text: string): string | undefined {
  try {
    const id = (JSON.parse(text) as { custom_id?: unknown }).custom_id;
    return typeof id === 'string' ? id : undefined;
  } catch {
    return undefined;
  }
}

/** The completion as OpenAI's schema has it: `logprobs` and `refusal` are required (null when absent). */
function specShaped(completion: Awaited<ReturnType<ModelBackend['complete']>>, model: string) {
  return {
    ...completion,
    model,
    choices: completion.choices.map((choice) => ({
      ...choice,
      logprobs: choice.logprobs ?? null,
      message: { refusal: null, ...choice.message },
    })),
  };
}

/** The run messages of a batch's input: {@link LINES_PER_CHUNK} non-blank lines each, with their byte range. */
function runMessages(batch: BatchRecord, text: string): BatchMessage[] {
  const messages: BatchMessage[] = [];
  let offset = 0;
  let chunk: { firstLine: number; startByte: number; endByte: number; count: number } | undefined;
  const send = ({ firstLine, startByte, endByte }: NonNullable<typeof chunk>) =>
    messages.push({
      kind: 'run',
      customerId: batch.customerId,
      batchId: batch.batchId,
      firstLine,
      startByte,
      endByte,
    });
  text.split('\n').forEach((raw, i) => {
    const bytes = Buffer.byteLength(raw) + 1;
    if (raw.trim() !== '') {
      chunk ??= { firstLine: i + 1, startByte: offset, endByte: offset, count: 0 };
      chunk.count += 1;
      chunk.endByte = offset + bytes - 1;
      if (chunk.count >= LINES_PER_CHUNK) {
        send(chunk);
        chunk = undefined;
      }
    }
    offset += bytes;
  });
  if (chunk) send(chunk);
  return messages;
}

/** What a parsed line holds of its batch's reservation. */
function reservedOf(parsed: Exclude<ReturnType<typeof parseBatchLine>, { kind: 'fail' }>): number {
  return parsed.kind === 'run' ? parsed.line.maxCostMicroUsd : (parsed.line.reservedMicroUsd ?? 0);
}

function rejectedLine(
  batch: BatchRecord,
  index: number,
  line: RejectedLine,
  requestId: string,
  reserved = 0,
): LineResult {
  return {
    batchId: batch.batchId,
    index,
    customId: line.customId,
    succeeded: false,
    reservedMicroUsd: reserved,
    costMicroUsd: 0,
    outputLine: JSON.stringify({
      id: requestId,
      custom_id: line.customId,
      response: {
        status_code: line.statusCode,
        request_id: requestId,
        body: { error: line.error },
      },
      error: null,
    }),
  };
}

/** The endpoint a batch's lines call (batches made before Responses have chat's). */
function endpointOf(batch: Pick<BatchRecord, 'endpoint'>): BatchEndpoint {
  return batch.endpoint === '/v1/responses' ? '/v1/responses' : BATCH_ENDPOINT;
}
