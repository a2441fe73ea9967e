import { createHash, randomInt } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import * as z from 'zod/mini';
import type { TierlineConfig } from '../../lib/config/schema';
import { TIER_NAMES } from '../../lib/config/tier-names';
import { randomBase62 } from '../customers/api-keys';
import type { Principal } from '../customers/authenticate';
import type { ProjectScope } from '../customers/project-ownership';
import type { FileStorage } from '../files/file-storage';
import type { FileRecord } from '../files/files-repository';
import { type FilesService, fileNotFound } from '../files/files-service';
import { costMicroUsd, formatUsd, microUsdToUsd, usdToMicroUsd } from '../metering/pricing';
import type { SpendTracker } from '../metering/spend';
import { effectiveSpendLimitMicroUsd } from '../metering/spend-limit-settings';
import { BadRequestError, HttpError, NotFoundError, PermissionDeniedError } from '../openai/errors';
import {
  bodySchema,
  field,
  metadataField,
  metadataOf,
  nestedSchema,
  optional,
} from '../openai/request-body';
import type { FineTuningCheckpoint } from '../openai/shapes/fine-tuning';
import { bucketLayout } from './fine-tuning-table';
import { requestedHyperparameters, resolveHyperparameters } from './hyperparameters';
import type { JobBilling } from './job-billing';
import type { JobLauncher } from './job-launcher';
import type { Checkpoint, JobStorage } from './job-storage';
import {
  ACTIVE_STATUSES,
  fineTunedModelId,
  type JobEvent,
  type JobRecord,
  modelKeyOf,
} from './jobs';
import type { JobsRepository } from './jobs-repository';
import {
  type ConversationTokens,
  checkTrainingFile,
  type TrainingFileSummary,
  trainingSequenceCap,
} from './training-file';

/**
 * OpenAI's fine-tuning jobs API on Tierline: create (every check before anything is launched, the
 * estimated cost reserved against the spend limit, the inputs copied to the fine-tuning bucket, the
 * workflow started), read, list, events, checkpoints, cancel. Every job belongs to one organization
 * and one project: another's id is answered exactly like an unknown one (404).
 */

/** OpenAI: a suffix of up to 64 characters. `:` separates the parts of an `ft:` id, so it is kept out. */
const SUFFIX = /^[A-Za-z0-9._-]{1,64}$/;
const MAX_SEED = 2_147_483_647;

/**
 * The create body's schema for a tier (the models it may train are the tier's). Fields are judged
 * in the order written here; `method`, `hyperparameters` and `lora` hold nested settings their own
 * checks judge next (`hyperparameters.ts`, `JobsService.lora`), naming the nested parameter.
 */
function createSchema(trainable: readonly string[], tierName: string) {
  const modelRefusal = (value: unknown): string => {
    if (typeof value !== 'string' || value === '') return "Missing required parameter: 'model'.";
    const why = value.startsWith('ft:')
      ? 'training on top of a fine-tuned model is not supported'
      : `it is not a model that can be fine-tuned on the ${tierName} tier`;
    return `Model ${value.slice(0, 100)} cannot be fine-tuned: ${why}. Models that can: ${trainable.join(', ') || 'none'}.`;
  };
  return bodySchema(
    {
      model: field(
        z.string().check(
          z.minLength(1),
          z.refine((model) => trainable.includes(model)),
        ),
        modelRefusal,
        (value) =>
          typeof value === 'string' && value !== ''
            ? 'model_not_available'
            : 'missing_required_parameter',
      ),
      training_file: field(
        z.string().check(z.minLength(1)),
        "Missing required parameter: 'training_file'.",
        'missing_required_parameter',
      ),
      validation_file: field(
        optional(z.string().check(z.minLength(1))),
        "'validation_file' must be a file id.",
        'invalid_type',
      ),
      suffix: field(
        optional(z.string().check(z.regex(SUFFIX))),
        "'suffix' must be 1 to 64 letters, digits, '.', '_' or '-'.",
        'invalid_value',
      ),
      seed: field(
        optional(z.int().check(z.gte(0), z.lte(MAX_SEED))),
        `'seed' must be an integer from 0 to ${MAX_SEED}.`,
        'invalid_value',
      ),
      metadata: metadataField,
      integrations: field(
        optional(z.array(z.unknown()).check(z.maxLength(0))),
        'Integrations (Weights and Biases) are not supported: read the metrics from the job events and checkpoints.',
        'invalid_value',
      ),
    },
    { unknownKeyLength: 100, checkedElsewhere: ['method', 'hyperparameters', 'lora'] },
  );
}
/** What the official clients send (`stainless-node-retry-<uuid>`), and room for any printable key like it. */
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;
/** A key answers its job for a day (as Stripe's do); after that it may create a new one. */
const IDEMPOTENCY_KEY_TTL_SECONDS = 24 * 60 * 60;
/** A claim whose job never appeared for this long belongs to an attempt that died (the API's 15 min timeout). */
const IDEMPOTENCY_IN_FLIGHT_SECONDS = 15 * 60;
/** How long a retry waits for its first attempt, still in flight, to write its job before a 409. */
const IDEMPOTENCY_WAIT_MS = 2_000;
const IDEMPOTENCY_POLL_MS = 100;

export const newJobId = (now: Date = new Date()) =>
  // Letters and digits only: the id's tail names SageMaker resources (`tierline-<env>-ft-<tail>`).
  `ftjob-${now.getTime().toString(36).padStart(9, '0')}${randomBase62(16)}`;

const isJobId = (id: string) => /^ftjob-[A-Za-z0-9]{1,60}$/.test(id);

export function jobNotFound(jobId: string): NotFoundError {
  return new NotFoundError(`No such fine-tuning job: ${jobId.slice(0, 100)}`, {
    code: 'fine_tuning_job_not_found',
    param: 'fine_tuning_job_id',
  });
}

export interface JobsServiceOptions {
  config: TierlineConfig;
  jobs: JobsRepository;
  files: Pick<FilesService, 'get'>;
  /** The files bucket, to read a training file. */
  fileContent: Pick<FileStorage, 'read'>;
  storage: JobStorage;
  launcher: JobLauncher;
  spend: Pick<SpendTracker, 'reserve' | 'settle'>;
  billing: JobBilling;
  /** Tokens of one conversation with the base model's tokenizer (`PromptTokenCounter.count`). */
  countTokens: ConversationTokens;
  now?: () => Date;
  /** How long a retry waits for a first attempt still in flight (default 2 s), for tests. */
  idempotencyWaitMs?: number;
}

export interface CreateJobOptions {
  /** The request's `Idempotency-Key` header: the same key (and body) answers the same job, created once. */
  idempotencyKey?: string;
}

interface Idempotency {
  key: string;
  fingerprint: string;
}

/** `lora`: rank, alpha and target modules within the config's bounds; unknown settings refused first. */
function loraSchema(lora: TierlineConfig['fineTuning']['lora']) {
  return nestedSchema(
    'lora',
    {
      rank: field(
        optional(z.custom<number>((rank) => typeof rank === 'number' && lora.ranks.includes(rank))),
        `'lora.rank' must be one of ${lora.ranks.join(', ')}.`,
        'invalid_value',
      ),
      alpha: field(
        optional(
          z.custom<number>(
            (alpha) =>
              typeof alpha === 'number' &&
              Number.isInteger(alpha) &&
              alpha >= lora.alpha.min &&
              alpha <= lora.alpha.max,
          ),
        ),
        `'lora.alpha' must be an integer from ${lora.alpha.min} to ${lora.alpha.max}.`,
        'invalid_value',
      ),
      target_modules: field(
        optional(
          z.custom<string[]>(
            (modules) =>
              Array.isArray(modules) &&
              modules.length > 0 &&
              modules.every((m) => (lora.targetModules as readonly unknown[]).includes(m)),
          ),
        ),
        `'lora.target_modules' must be a non-empty list of: ${lora.targetModules.join(', ')}.`,
        'invalid_value',
      ),
    },
    {
      unknownField: {
        message: (param) => `Unknown LoRA setting '${param}'.`,
        code: 'unknown_parameter',
      },
    },
  );
}

export class JobsService {
  /** Built from the config on first use, as the create schemas are. */
  private loraSchema: ReturnType<typeof loraSchema> | undefined;
  private readonly createSchemas = new Map<string, ReturnType<typeof createSchema>>();

  constructor(private readonly options: JobsServiceOptions) {}

  private now(): Date {
    return this.options.now?.() ?? new Date();
  }

  private seconds(): number {
    return Math.floor(this.now().getTime() / 1000);
  }

  /** Fine-tuning is a tier feature: Enterprise always, Developer by the config switch, Free never. */
  private gate(principal: Principal): void {
    const { config } = this.options;
    const tier = config.tiers[principal.tier];
    if (tier.lora.allowed) return;
    const withLora = TIER_NAMES.filter((t) => config.tiers[t].lora.allowed).map(
      (t) => config.tiers[t].displayName,
    );
    throw new PermissionDeniedError(
      `Fine-tuning is not available on the ${tier.displayName} tier; it is on ${withLora.join(' and ')}. See GET /v1/plans.`,
      { code: 'fine_tuning_not_available_on_tier' },
    );
  }

  /** The create body's schema for the caller's tier, made on first use. */
  private createSchema(principal: Principal): ReturnType<typeof createSchema> {
    let schema = this.createSchemas.get(principal.tier);
    if (!schema) {
      const { config } = this.options;
      const trainable = Object.entries(config.models)
        .filter(
          ([id, m]) =>
            m.trainingInstanceType && m.architecture && config.tiers[principal.tier].models[id],
        )
        .map(([id]) => id);
      schema = createSchema(trainable, config.tiers[principal.tier].displayName);
      this.createSchemas.set(principal.tier, schema);
    }
    return schema;
  }

  private lora(value: unknown): JobRecord['lora'] {
    const { lora } = this.options.config.fineTuning;
    this.loraSchema ??= loraSchema(lora);
    const checked = this.loraSchema.check(value);
    const modules = checked?.target_modules ?? lora.defaultTargetModules;
    return {
      rank: checked?.rank ?? lora.defaultRank,
      alpha: checked?.alpha ?? lora.defaultAlpha,
      targetModules: [...new Set(modules)],
    };
  }

  /** One of the caller's `fine-tune` files, checked line by line. */
  private async trainingFile(
    principal: Principal,
    param: 'training_file' | 'validation_file',
    fileId: string,
    model: string,
  ): Promise<{ file: FileRecord; summary: TrainingFileSummary }> {
    // Only the caller's project's files: another project's is as unknown as one never uploaded.
    const file = await this.options.files.get(principal, fileId).catch((error: unknown) => {
      if (!(error instanceof NotFoundError)) throw error;
      // The same answer as an unknown id, named as the parameter it came from (as POST
      // /v1/batches does).
      const notFound = fileNotFound(fileId);
      throw new NotFoundError(notFound.message, { code: notFound.code, param });
    });
    if (file.purpose !== 'fine-tune') {
      throw new BadRequestError(
        `File ${fileId} has purpose '${file.purpose}'; a fine-tuning job needs a file uploaded with purpose 'fine-tune'.`,
        { param, code: 'invalid_file_purpose' },
      );
    }
    // The model was checked before (`model()`): it is in the catalog and trainable.
    const contextWindow =
      this.options.config.models[model]?.contextWindow ?? Number.POSITIVE_INFINITY;
    const summary = await checkTrainingFile({
      fileId,
      param,
      bytes: file.bytes,
      content: this.options.fileContent.read(file.objectKey),
      model,
      config: this.options.config.fineTuning,
      countTokens: this.options.countTokens,
      maxSequenceTokens: trainingSequenceCap(this.options.config.fineTuning, { contextWindow }),
    });
    return { file, summary };
  }

  /**
   * The job an `Idempotency-Key` was claimed for, when it exists (a retry of a create that answered
   * or crashed after writing it); otherwise what the create may claim: nothing to replace, or the
   * `claimedAt` of a claim that expired or whose attempt died. A claim still in flight is waited
   * for a little, then a 409 (retried by the clients). The same key with another body is a 400.
   */
  private async replay(
    principal: Principal,
    idempotency: Idempotency,
  ): Promise<{ job: JobRecord } | { job?: undefined; replacing?: number }> {
    const { jobs } = this.options;
    const deadline = Date.now() + (this.options.idempotencyWaitMs ?? IDEMPOTENCY_WAIT_MS);
    for (;;) {
      const claim = await jobs.getIdempotencyClaim(principal, idempotency.key);
      if (!claim) return {};
      const now = this.seconds();
      if (claim.claimedAt <= now - IDEMPOTENCY_KEY_TTL_SECONDS)
        return { replacing: claim.claimedAt };
      if (claim.fingerprint !== idempotency.fingerprint) {
        throw new BadRequestError(
          'This Idempotency-Key was already used with a different request body: use a new key for a new job.',
          { code: 'idempotency_key_reused' },
        );
      }
      const job = await jobs.getOwned(principal, claim.jobId);
      if (job) return { job };
      if (claim.claimedAt <= now - IDEMPOTENCY_IN_FLIGHT_SECONDS)
        return { replacing: claim.claimedAt };
      if (Date.now() >= deadline) {
        throw new HttpError(
          409,
          'invalid_request_error',
          'A request with this Idempotency-Key is still being processed; retry it shortly to get its job.',
          { code: 'idempotency_key_in_use', headers: { 'retry-after': '1' } },
        );
      }
      await sleep(IDEMPOTENCY_POLL_MS);
    }
  }

  private idempotency(
    body: Record<string, unknown>,
    key: string | undefined,
  ): Idempotency | undefined {
    if (key === undefined) return undefined;
    if (!IDEMPOTENCY_KEY.test(key)) {
      throw new BadRequestError(
        'The Idempotency-Key header must be 1 to 255 printable ASCII characters.',
        {
          code: 'invalid_idempotency_key',
        },
      );
    }
    return { key, fingerprint: createHash('sha256').update(JSON.stringify(body)).digest('hex') };
  }

  /**
   * Creates a job. With an `Idempotency-Key` (openai-node sends one with every POST and the same
   * one on its retries), the key is claimed for the new job before the estimate is held: a retry,
   * or a twin racing it, answers that one job, held and launched once.
   */
  async create(
    principal: Principal,
    body: Record<string, unknown>,
    options: CreateJobOptions = {},
  ): Promise<JobRecord> {
    this.gate(principal);
    const { jobs } = this.options;
    const idempotency = this.idempotency(body, options.idempotencyKey);
    let replacing: number | undefined;
    if (idempotency) {
      // A retry of a create that answered: its job, without checking the files again (they may be
      // gone).
      const earlier = await this.replay(principal, idempotency);
      if (earlier.job) return earlier.job;
      replacing = earlier.replacing;
    }
    const planned = await this.plan(principal, body);

    const jobId = newJobId(this.now());
    if (idempotency) {
      const other = await this.claimKey(principal, idempotency, jobId, replacing);
      if (other) return other;
    }
    const release = async () => {
      if (idempotency) await jobs.releaseIdempotencyKey(principal, idempotency.key, jobId);
    };
    const job = await this.hold(principal, planned, jobId, release);
    await this.event(job.jobId, 'ftevent-0-created', `Created fine-tuning job ${job.jobId}`);
    await this.event(
      job.jobId,
      'ftevent-1-validated',
      `Training file checked: ${planned.training.summary.examples} examples, ${planned.training.summary.tokens} tokens; ` +
        `${planned.hyperparameters.nEpochs} epochs = ${planned.trainedTokens} trained tokens, estimated $${formatUsd(planned.estimate)} (held against the spend limit)`,
    );
    try {
      await this.launch(job, planned.training.file, planned.validation?.file);
    } catch (error) {
      // The job failed and gave its hold back: the client's retry (same key) creates a new one.
      await release();
      throw error;
    }
    return (await jobs.get(job.jobId)) ?? job;
  }

  /**
   * The job a create body asks for, checked: its files read and counted, its hyperparameters
   * resolved, and what it will train and cost (400 past the tier's cap on trained tokens).
   */
  private async plan(principal: Principal, body: Record<string, unknown>) {
    const { config } = this.options;
    const checked = this.createSchema(principal).check(body);
    const { model } = checked;
    const validationId = checked.validation_file ?? undefined;
    const requested = requestedHyperparameters(body);
    const lora = this.lora(body.lora);

    const training = await this.trainingFile(
      principal,
      'training_file',
      checked.training_file,
      model,
    );
    const validation = validationId
      ? await this.trainingFile(principal, 'validation_file', validationId, model)
      : undefined;
    const hyperparameters = resolveHyperparameters(requested, training.summary.examples);
    const trainedTokens = training.summary.tokens * hyperparameters.nEpochs;
    const { maxTrainedTokens } = config.fineTuning.training;
    if (trainedTokens > maxTrainedTokens) {
      throw new BadRequestError(
        `File ${body.training_file}: ${training.summary.tokens} tokens x ${hyperparameters.nEpochs} epochs = ` +
          `${trainedTokens} trained tokens; a job may train at most ${maxTrainedTokens}. Use fewer examples or epochs.`,
        { param: 'training_file', code: 'too_many_tokens' },
      );
    }
    const price = usdToMicroUsd(config.tiers[principal.tier].lora.trainingUsdPerMillionTokens);
    const estimate = costMicroUsd(
      { inputTokens: trainedTokens, outputTokens: 0 },
      {
        inputMicroUsdPerMillion: price,
        outputMicroUsdPerMillion: 0,
      },
    );
    return {
      model,
      suffix: checked.suffix ?? undefined,
      seed: checked.seed ?? randomInt(MAX_SEED),
      metadata: metadataOf(checked.metadata),
      lora,
      training,
      validation,
      hyperparameters,
      trainedTokens,
      price,
      estimate,
    };
  }

  /**
   * Claims the `Idempotency-Key` for `jobId`, before the hold: of two attempts with the key, only
   * the one that claims it holds and launches. Answers the other attempt's job when that one won.
   */
  private async claimKey(
    principal: Principal,
    idempotency: Idempotency,
    jobId: string,
    replacing: number | undefined,
  ): Promise<JobRecord | undefined> {
    let replaced = replacing;
    for (let attempt = 0; ; attempt += 1) {
      const claim = { jobId, fingerprint: idempotency.fingerprint, claimedAt: this.seconds() };
      if (await this.options.jobs.claimIdempotencyKey(principal, idempotency.key, claim, replaced))
        return undefined;
      const other = await this.replay(principal, idempotency);
      if (other.job) return other.job;
      if (attempt >= 2)
        throw new Error(`Idempotency-Key claim kept failing for ${principal.customerId}`);
      replaced = other.replacing;
    }
  }

  /**
   * Holds the estimate against the month's spend limit before anything is launched (one
   * conditional update; 429 `insufficient_quota` when it does not fit), then writes the job that
   * holds it. Whatever fails here gives the hold and the key back.
   */
  private async hold(
    principal: Principal,
    planned: Awaited<ReturnType<JobsService['plan']>>,
    jobId: string,
    release: () => Promise<void>,
  ): Promise<JobRecord> {
    const { config, spend, jobs } = this.options;
    const { estimate, trainedTokens } = planned;
    const tier = config.tiers[principal.tier];
    const held = await spend.reserve(
      principal.customerId,
      effectiveSpendLimitMicroUsd(config, principal.tier, principal.spendLimitMicroUsd),
      estimate,
    );
    if (!held.admitted) {
      await release(); // nothing was created: a retry after raising the limit creates the job
      throw new HttpError(
        429,
        'insufficient_quota',
        `This fine-tuning job is estimated at $${formatUsd(estimate)} (${trainedTokens} trained tokens at ` +
          `$${tier.lora.trainingUsdPerMillionTokens} per 1M), more than is left of your monthly spend limit ` +
          `($${formatUsd(held.limitMicroUsd)}, $${formatUsd(held.spentMicroUsd + held.reservedMicroUsd)} spent or held). ` +
          'Raise it with PUT /v1/spend_limit, or train fewer tokens.',
        { code: 'insufficient_quota', headers: { 'x-should-retry': 'false' } },
      );
    }
    const { suffix, metadata, validation } = planned;
    const job: JobRecord = {
      jobId,
      customerId: principal.customerId,
      // The project it was created in (issue 22).
      projectId: principal.projectId,
      model: planned.model,
      status: 'validating_files',
      createdAt: this.seconds(),
      trainingFile: planned.training.file.fileId,
      ...(validation ? { validationFile: validation.file.fileId } : {}),
      ...(suffix ? { suffix } : {}),
      seed: planned.seed,
      ...(metadata ? { metadata } : {}),
      hyperparameters: planned.hyperparameters,
      lora: planned.lora,
      estimatedTrainedTokens: trainedTokens,
      estimatedCostUsd: microUsdToUsd(estimate),
      tier: principal.tier,
      trainingMicroUsdPerMillion: planned.price,
      spendReservation: {
        month: held.reservation.month,
        reservedMicroUsd: held.reservation.reservedMicroUsd,
        ...(held.reservation.limitMicroUsd !== undefined
          ? { limitMicroUsd: held.reservation.limitMicroUsd }
          : {}),
      },
    };
    try {
      await jobs.create(job);
    } catch (error) {
      await spend.settle(held.reservation, 0); // no job holds it
      await release();
      throw error;
    }
    return job;
  }

  /** Copies the inputs where the training role can read them, then starts the workflow (named after the job). */
  private async launch(
    job: JobRecord,
    training: FileRecord,
    validation: FileRecord | undefined,
  ): Promise<void> {
    let outcome: Awaited<ReturnType<JobLauncher['start']>>;
    try {
      await this.options.storage.copyInput(
        training.objectKey,
        bucketLayout.trainingInput(job.jobId),
      );
      if (validation)
        await this.options.storage.copyInput(
          validation.objectKey,
          bucketLayout.validationInput(job.jobId),
        );
      outcome = await this.options.launcher.start(job);
    } catch (error) {
      await this.failNow(
        job,
        'launch_failed',
        'The job could not be started; nothing was charged. Create it again.',
      );
      throw error;
    }
    if (!outcome.started) await this.failNow(job, outcome.code, outcome.message);
  }

  private async failNow(job: JobRecord, code: string, message: string): Promise<void> {
    const failed = await this.options.jobs.transition(job.jobId, ACTIVE_STATUSES, 'failed', {
      finishedAt: this.seconds(),
      error: { code, message, param: null },
    });
    if (failed) await this.event(job.jobId, 'ftevent-2-failed', message, 'error');
    await this.options.billing.release(job.jobId);
  }

  /**
   * Events sort by second, then id: the ids of what the API writes in one request
   * (`ftevent-<n>-...`) keep their order within a second.
   */
  private async event(
    jobId: string,
    id: string,
    message: string,
    level: JobEvent['level'] = 'info',
  ): Promise<void> {
    await this.options.jobs.addEvent(jobId, { id, createdAt: this.seconds(), level, message });
  }

  /** The job, when it is `scope`'s project's; 404 otherwise (another project's included). */
  async get(scope: ProjectScope, jobId: string): Promise<JobRecord> {
    const job = isJobId(jobId) ? await this.options.jobs.getOwned(scope, jobId) : undefined;
    if (!job) throw jobNotFound(jobId);
    return job;
  }

  async list(scope: ProjectScope, limit: number, after?: string) {
    let cursor: JobRecord | undefined;
    if (after) {
      cursor = isJobId(after) ? await this.options.jobs.getOwned(scope, after) : undefined;
      if (!cursor)
        throw new BadRequestError(
          `'after' must be the id of one of your jobs: ${after.slice(0, 100)}`,
          {
            param: 'after',
            code: 'invalid_value',
          },
        );
    }
    return this.options.jobs.list(scope, limit, cursor);
  }

  async events(scope: ProjectScope, jobId: string, limit: number, after?: string) {
    const job = await this.get(scope, jobId);
    return this.options.jobs.events(job.jobId, limit, after);
  }

  /** The job's checkpoints, newest step first, after the checkpoint `after`. */
  async checkpoints(scope: ProjectScope, jobId: string, limit: number, after?: string) {
    const job = await this.get(scope, jobId);
    let all = (await this.options.storage.checkpoints(job.jobId)).reverse();
    if (after) {
      const index = all.findIndex((c) => checkpointId(job, c) === after);
      all = index >= 0 ? all.slice(index + 1) : all;
    }
    return { job, checkpoints: all.slice(0, limit), hasMore: all.length > limit };
  }

  /**
   * Cancels an active job: the status moves first (conditionally, so a job that finished meanwhile
   * is left as it is), then the workflow and the training job are stopped and the reservation is
   * released. Cancelling a cancelled job answers it again; a finished one is a 400.
   */
  async cancel(scope: ProjectScope, jobId: string): Promise<JobRecord> {
    const job = await this.get(scope, jobId);
    if (job.status !== 'cancelled') {
      const moved = await this.options.jobs.transition(job.jobId, ACTIVE_STATUSES, 'cancelled', {
        finishedAt: this.seconds(),
      });
      if (!moved) {
        const now = await this.get(scope, jobId);
        if (now.status !== 'cancelled') {
          throw new BadRequestError(
            `Job ${jobId} is ${now.status}: only a job that is validating_files, queued or running can be cancelled.`,
            { param: 'fine_tuning_job_id', code: 'invalid_state' },
          );
        }
      } else {
        await this.event(job.jobId, 'ftevent-2-cancelled', 'The job was cancelled', 'warn');
      }
    }
    // Also when it was cancelled already: a retry finishes what a crash after the status change
    // left undone.
    await this.options.launcher.stop(job);
    await this.options.billing.release(job.jobId);
    return this.get(scope, jobId);
  }
}

export function checkpointId(job: JobRecord, checkpoint: Checkpoint): string {
  return `ftckpt-${modelKeyOf(job.jobId)}-${checkpoint.step}`;
}

/** OpenAI's `fine_tuning.job.checkpoint`. */
export function checkpointView(job: JobRecord, checkpoint: Checkpoint): FineTuningCheckpoint {
  return {
    object: 'fine_tuning.job.checkpoint',
    id: checkpointId(job, checkpoint),
    created_at: checkpoint.createdAt,
    fine_tuned_model_checkpoint: `${fineTunedModelId(job)}:ckpt-step-${checkpoint.step}`,
    fine_tuning_job_id: job.jobId,
    step_number: checkpoint.step,
    metrics: { ...checkpoint.metrics, step: checkpoint.step },
  };
}
