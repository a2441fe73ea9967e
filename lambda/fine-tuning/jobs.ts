/** A fine-tuning job as stored, and as OpenAI's API shows it. No AWS imports. */
import type { TierName } from '../../lib/config/tier-names';
import type { FineTuningEvent, FineTuningJob } from '../openai/shapes/fine-tuning';

export const JOB_STATUSES = [
  'validating_files',
  'queued',
  'running',
  'succeeded',
  'failed',
  'cancelled',
] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export const TERMINAL_STATUSES: readonly JobStatus[] = ['succeeded', 'failed', 'cancelled'];
export const ACTIVE_STATUSES: readonly JobStatus[] = ['validating_files', 'queued', 'running'];

export interface JobError {
  code: string;
  message: string;
  param: string | null;
}

export interface JobRecord {
  jobId: string;
  customerId: string;
  /** The project that created it; absent on jobs created before projects. */
  projectId?: string;
  /** Base model (catalog id). */
  model: string;
  status: JobStatus;
  /** Unix seconds. */
  createdAt: number;
  finishedAt?: number;
  trainingFile: string;
  validationFile?: string;
  suffix?: string;
  seed: number;
  metadata?: Record<string, string>;
  /** Resolved: what the training job is given. */
  hyperparameters: { nEpochs: number; batchSize: number; learningRateMultiplier: number };
  lora: { rank: number; alpha: number; targetModules: string[] };
  /** Tokens of the training file x epochs, counted at creation. */
  estimatedTrainedTokens: number;
  estimatedCostUsd: number;
  trainedTokens?: number;
  /**
   * The caller's tier at creation, the training price shown then (integer µ$ per 1M trained
   * tokens), and the estimate's hold on the month's spend: billed (actual tokens, at most the
   * estimate) on success, released on failure or cancel, once (`spendSettledAt` marks it).
   */
  tier?: TierName;
  trainingMicroUsdPerMillion?: number;
  spendReservation?: { month: string; reservedMicroUsd: number; limitMicroUsd?: number };
  spendSettledAt?: number;
  /** `ft:<base>:<customer>:<suffix>:<id>` once the adapter is in service. */
  fineTunedModel?: string;
  error?: JobError;
  /** SageMaker's TrainingJobStatus last applied, and its rank (events can arrive out of order). */
  trainingStatus?: string;
  trainingStatusRank?: number;
  /** The adapter inference component, once the workflow created it. */
  adapterComponent?: string;
}

export interface JobEvent {
  /** Derived from what happened, so the same happening is written once. */
  id: string;
  /** Unix seconds. */
  createdAt: number;
  level: 'info' | 'warn' | 'error';
  message: string;
  data?: Record<string, unknown>;
}

/** OpenAI's `fine_tuning.job` object. */
export function jobView(job: JobRecord): FineTuningJob {
  return {
    object: 'fine_tuning.job',
    id: job.jobId,
    created_at: job.createdAt,
    error: job.error ?? null,
    fine_tuned_model: job.fineTunedModel ?? null,
    finished_at: job.finishedAt ?? null,
    hyperparameters: {
      n_epochs: job.hyperparameters.nEpochs,
      batch_size: job.hyperparameters.batchSize,
      learning_rate_multiplier: job.hyperparameters.learningRateMultiplier,
    },
    model: job.model,
    organization_id: job.customerId,
    result_files: [],
    seed: job.seed,
    status: job.status,
    trained_tokens: job.trainedTokens ?? null,
    training_file: job.trainingFile,
    validation_file: job.validationFile ?? null,
    integrations: [],
    metadata: job.metadata ?? null,
    user_provided_suffix: job.suffix ?? null,
    estimated_finish: null,
    method: {
      type: 'supervised',
      supervised: {
        hyperparameters: {
          n_epochs: job.hyperparameters.nEpochs,
          batch_size: job.hyperparameters.batchSize,
          learning_rate_multiplier: job.hyperparameters.learningRateMultiplier,
        },
      },
    },
    // Tierline's additions: the LoRA settings and the cost estimate reserved at creation.
    lora: { rank: job.lora.rank, alpha: job.lora.alpha, target_modules: job.lora.targetModules },
    estimated_trained_tokens: job.estimatedTrainedTokens,
    estimated_cost_usd: job.estimatedCostUsd,
  };
}

export function eventView(event: JobEvent): FineTuningEvent {
  return {
    object: 'fine_tuning.job.event',
    id: event.id,
    created_at: event.createdAt,
    level: event.level,
    message: event.message,
    type: event.data ? 'metrics' : 'message',
    // OpenAI's schema has `data` as an object when present, never null.
    ...(event.data ? { data: event.data } : {}),
  };
}

/** `ft:<base>:<customer>:<suffix>:<short id>`, OpenAI's form with the customer as the organisation. */
export function fineTunedModelId(
  job: Pick<JobRecord, 'model' | 'customerId' | 'suffix' | 'jobId'>,
): string {
  return `ft:${job.model}:${job.customerId}:${job.suffix ?? ''}:${modelKeyOf(job.jobId)}`;
}

/** The short id of a job's model, used in SageMaker names: the job id's random part, lowercased is not safe. */
export function modelKeyOf(jobId: string): string {
  return jobId.replace(/^ftjob-/, '');
}
