import * as z from 'zod/mini';
import type { TierlineConfig, TierName } from '../../lib/config/schema';
import { TIER_NAMES } from '../../lib/config/tier-names';
import type { Principal } from '../customers/authenticate';
import { holdsProjectSpend } from '../customers/project-limits';
import { isInScope, type ProjectScope } from '../customers/project-ownership';
import { type FilesService, fileNotFound } from '../files/files-service';
import { isWellFormedId, timeOrderedId } from '../files/ids';
import { BadRequestError, NotFoundError, PermissionDeniedError } from '../openai/errors';
import { bodySchema, field, metadataField, metadataOf } from '../openai/request-body';
import { BATCH_ENDPOINTS, type BatchEndpoint } from './batch-lines';
import type { BatchQueue } from './batch-queue';
import { type BatchesRepository, type BatchRecord, OPEN_STATUSES } from './batches-repository';

export const newBatchId = (now?: Date) => timeOrderedId('batch_', now);

/** Longer than any create takes between taking its slot and writing its batch. */
const CREATE_GRACE_MS = 5 * 60 * 1000;
/** The creation time (ms) in a time-ordered id (`ids.ts`: 9 base36 characters after the prefix). */
const idTime = (batchId: string) =>
  Number.parseInt(batchId.slice('batch_'.length, 'batch_'.length + 9), 36);

/**
 * What the worker needs to hold the batch to its project's month, as chat's admission does
 * (request-metering.ts): a project with a spend limit or spend alerts, on a tier that has spend
 * limits. A project without either costs its batches no call on the project's spend item.
 */
export function projectSpendOf(
  principal: Principal,
  spendLimitsAllowed: boolean,
): Pick<BatchRecord, 'projectSpendHold' | 'projectSpendLimitMicroUsd'> {
  if (!holdsProjectSpend(principal, spendLimitsAllowed)) return {};
  return {
    projectSpendHold: true,
    ...(principal.projectSpendLimitMicroUsd === undefined
      ? {}
      : { projectSpendLimitMicroUsd: principal.projectSpendLimitMicroUsd }),
  };
}

export function batchNotFound(batchId: string): NotFoundError {
  return new NotFoundError(`No such Batch object: ${batchId}`, {
    code: 'batch_not_found',
    param: 'batch_id',
  });
}

/** `24h` or `Nd`, in hours; undefined when it is neither. */
export function windowHours(window: unknown): number | undefined {
  if (typeof window !== 'string') return undefined;
  const match = /^(\d{1,3})(h|d)$/.exec(window);
  if (!match) return undefined;
  return Number(match[1]) * (match[2] === 'd' ? 24 : 1);
}

/**
 * A create body's schema. Its fields are judged in the order written here (a body with several
 * faults gets the first); the longest completion window is the tier's, so there is one schema per
 * tier.
 */
function schemaFor(displayName: string, maxWindowHours: number) {
  return bodySchema({
    endpoint: field(
      z.enum(BATCH_ENDPOINTS),
      `'endpoint' must be one of ${BATCH_ENDPOINTS.map((e) => `'${e}'`).join(', ')}.`,
      'invalid_value',
    ),
    completion_window: field(
      z.string().check(
        z.refine((window) => {
          const hours = windowHours(window);
          return hours !== undefined && hours >= 24 && hours <= maxWindowHours;
        }),
      ),
      `'completion_window' must be from '24h' to '${maxWindowHours / 24}d' on the ${displayName} tier.`,
      'invalid_value',
    ),
    metadata: metadataField,
    input_file_id: field(
      z.string().check(z.minLength(1)),
      "Missing required parameter: 'input_file_id'.",
      'missing_required_parameter',
    ),
  });
}

const createSchemas = new Map<string, ReturnType<typeof schemaFor>>();

/** The tier's schema, made on first use. */
function createSchema(displayName: string, maxWindowHours: number): ReturnType<typeof schemaFor> {
  const key = `${displayName}\n${maxWindowHours}`;
  let schema = createSchemas.get(key);
  if (!schema) {
    schema = schemaFor(displayName, maxWindowHours);
    createSchemas.set(key, schema);
  }
  return schema;
}

export interface BatchServiceOptions {
  config: TierlineConfig;
  batches: BatchesRepository;
  files: FilesService;
  queue: BatchQueue;
  now?: () => Date;
}

/** The Batch API: create, read, list, cancel. The work itself is the worker's (`batch-worker.ts`). */
export class BatchService {
  constructor(private readonly options: BatchServiceOptions) {}

  private seconds(): number {
    return Math.floor((this.options.now?.() ?? new Date()).getTime() / 1000);
  }

  async create(principal: Principal, body: Record<string, unknown>): Promise<BatchRecord> {
    const { config } = this.options;
    const tier = config.tiers[principal.tier];
    if (!tier.batch.allowed) {
      const withBatch = TIER_NAMES.filter((t: TierName) => config.tiers[t].batch.allowed).map(
        (t) => config.tiers[t].displayName,
      );
      throw new PermissionDeniedError(
        `The Batch API is not available on the ${tier.displayName} tier; it is on ${withBatch.join(' and ')}. See GET /v1/plans.`,
        { code: 'batch_not_available_on_tier' },
      );
    }
    const checked = createSchema(tier.displayName, tier.batch.maxCompletionWindowHours).check(body);
    const hours = windowHours(checked.completion_window) as number;
    const metadata = metadataOf(checked.metadata);
    const inputFileId = checked.input_file_id;
    // Another project's file is as unknown as one that never existed.
    const input = await this.options.files.get(principal, inputFileId).catch(() => {
      // Named as the parameter it came from, as fine-tuning's training_file is.
      const notFound = fileNotFound(inputFileId);
      throw new NotFoundError(notFound.message, { code: notFound.code, param: 'input_file_id' });
    });
    if (input.purpose !== 'batch') {
      throw new BadRequestError(
        `File ${inputFileId} has purpose '${input.purpose}'; a batch needs 'batch'.`,
        {
          param: 'input_file_id',
          code: 'invalid_value',
        },
      );
    }
    if (input.lines > tier.batch.maxLinesPerBatch) {
      throw new BadRequestError(
        `File ${inputFileId} has ${input.lines} lines; a batch takes at most ${tier.batch.maxLinesPerBatch}.`,
        { param: 'input_file_id', code: 'too_many_lines' },
      );
    }
    const batchId = newBatchId(this.options.now?.());
    const { batches, queue } = this.options;
    // One conditional update takes the slot: concurrent creates cannot pass the limit together.
    if (!(await batches.takeOpenSlot(principal.customerId, batchId, tier.batch.maxOpenBatches))) {
      if (
        !(await this.healSlots(principal.customerId)) ||
        !(await batches.takeOpenSlot(principal.customerId, batchId, tier.batch.maxOpenBatches))
      ) {
        throw new TooManyOpenBatchesError(tier.batch.maxOpenBatches);
      }
    }
    const createdAt = this.seconds();
    const batch: BatchRecord = {
      batchId,
      customerId: principal.customerId,
      // The project it was created in (issue 22): usage and listings per project read it.
      projectId: principal.projectId,
      tier: principal.tier,
      inputFileId,
      endpoint: body.endpoint as BatchEndpoint,
      completionWindow: body.completion_window as string,
      metadata,
      status: 'validating',
      createdAt,
      expiresAt: createdAt + hours * 3600,
      times: {},
      total: input.lines,
      completed: 0,
      failed: 0,
      ...(principal.spendLimitMicroUsd !== undefined
        ? { spendLimitMicroUsd: principal.spendLimitMicroUsd }
        : {}),
      ...projectSpendOf(principal, tier.spendLimit.allowed),
    };
    try {
      await batches.registerForSweep(batch);
      await batches.putBatch(batch);
    } catch (error) {
      // The batch was never created: its slot and sweep entry go back.
      await batches.releaseOpenBatch(batch);
      throw error;
    }
    try {
      await queue.send([
        { kind: 'validate', customerId: batch.customerId, batchId: batch.batchId },
      ]);
    } catch (error) {
      // Without its first message the batch would never start: it fails now, which frees its slot.
      await batches.transition(
        batch.customerId,
        batch.batchId,
        ['validating'],
        'failed',
        this.seconds(),
        {
          errors: [
            {
              code: 'queue_unavailable',
              message: 'The batch could not be queued; create it again.',
              line: 0,
              param: null,
            },
          ],
        },
      );
      throw error;
    }
    return batch;
  }

  /**
   * Frees the slots that no open batch holds: a batch that ended but whose slot a crash kept, or a
   * create that died before writing its batch (only once its id is older than a create takes, so a
   * create in flight keeps its slot). Answers whether any slot was freed.
   */
  private async healSlots(customerId: string): Promise<boolean> {
    const { batches } = this.options;
    const staleBefore = (this.options.now?.() ?? new Date()).getTime() - CREATE_GRACE_MS;
    let freed = false;
    for (const batchId of await batches.openSlots(customerId)) {
      const batch = await batches.getBatch(customerId, batchId);
      const stale = batch ? !OPEN_STATUSES.has(batch.status) : idTime(batchId) < staleBefore;
      if (!stale) continue;
      await batches.releaseSlot(customerId, batchId);
      freed = true;
    }
    return freed;
  }

  /** The batch, when it is `scope`'s project's; 404 otherwise (another project's included). */
  async get(scope: ProjectScope, batchId: string): Promise<BatchRecord> {
    const batch = isWellFormedId('batch_', batchId)
      ? await this.options.batches.getBatch(scope.customerId, batchId)
      : undefined;
    if (!batch || !isInScope(batch, scope)) throw batchNotFound(batchId);
    return batch;
  }

  list(scope: ProjectScope, limit: number, after?: string) {
    return this.options.batches.listBatches(scope, limit, after);
  }

  /**
   * Stops new lines; what finished stays, and the worker writes the files (`cancelling` ->
   * `cancelled`). The project is checked on the read before the move: a batch never changes
   * project.
   */
  async cancel(scope: ProjectScope, batchId: string): Promise<BatchRecord> {
    const { customerId } = scope;
    const batch = await this.get(scope, batchId);
    if (batch.status === 'cancelling' || batch.status === 'cancelled') return batch;
    const moved = await this.options.batches.transition(
      customerId,
      batchId,
      ['validating', 'in_progress'],
      'cancelling',
      this.seconds(),
    );
    if (!moved) {
      const now = await this.get(scope, batchId);
      if (now.status === 'cancelling' || now.status === 'cancelled') return now;
      throw new BadRequestError(`Batch ${batchId} is ${now.status}: it cannot be cancelled.`, {
        param: 'batch_id',
        code: 'invalid_state',
      });
    }
    await this.options.queue.send([{ kind: 'finalize', customerId, batchId }]);
    return this.get(scope, batchId);
  }
}

/** 400 (as OpenAI answers it) for a customer at its tier's number of open batches. */
class TooManyOpenBatchesError extends BadRequestError {
  constructor(max: number) {
    super(
      `You have ${max} batches open, the most your tier allows. Wait for one to finish or cancel one.`,
      {
        code: 'too_many_open_batches',
      },
    );
  }
}
