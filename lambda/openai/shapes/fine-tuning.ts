import * as z from 'zod/mini';
import { count, metadata, nullableCount } from './common';

/**
 * Fine-tuning: OpenAI's jobs, events and checkpoints
 * (https://platform.openai.com/docs/api-reference/fine-tuning) and Groq's LoRA registrations
 * (`/v1/fine_tunings`).
 */

export const jobStatusShape = z.enum([
  'validating_files',
  'queued',
  'running',
  'succeeded',
  'failed',
  'cancelled',
]);

const hyperparameters = () =>
  z.object({
    n_epochs: count(),
    batch_size: count(),
    learning_rate_multiplier: z.number(),
  });
const fineTunedModelId = () => z.string().check(z.regex(/^ft:/));

export const fineTuningJobShape = z
  .object({
    object: z.literal('fine_tuning.job'),
    id: z.string().check(z.regex(/^ftjob-/)),
    created_at: count(),
    error: z.nullable(
      z.object({ code: z.string(), message: z.string(), param: z.nullable(z.string()) }),
    ),
    fine_tuned_model: z.nullable(fineTunedModelId()),
    finished_at: nullableCount(),
    hyperparameters: hyperparameters(),
    model: z.string(),
    organization_id: z.string(),
    result_files: z.array(z.string()),
    seed: count(),
    status: jobStatusShape,
    trained_tokens: nullableCount(),
    training_file: z.string(),
    validation_file: z.nullable(z.string()),
    /** Always empty: Tierline has no integrations (the create request refuses them). */
    integrations: z.optional(z.array(z.unknown())),
    metadata: metadata(),
    user_provided_suffix: z.nullable(z.string()),
    estimated_finish: z.optional(z.nullable(count())),
    method: z.object({
      type: z.literal('supervised'),
      supervised: z.object({ hyperparameters: hyperparameters() }),
    }),
    // Tierline's additions: the LoRA settings and the cost estimate reserved at creation.
    lora: z.object({ rank: count(), alpha: count(), target_modules: z.array(z.string()) }),
    estimated_trained_tokens: count(),
    estimated_cost_usd: z.number().check(z.minimum(0)),
  })
  .check(
    z.meta({
      description:
        "OpenAI's job, with Tierline's LoRA settings and the cost estimate held against the spend limit at creation.",
    }),
  );
export type FineTuningJob = z.output<typeof fineTuningJobShape>;

export const fineTuningJobListShape = z.object({
  object: z.literal('list'),
  data: z.array(fineTuningJobShape),
  has_more: z.boolean(),
});
export type FineTuningJobList = z.output<typeof fineTuningJobListShape>;

export const fineTuningEventShape = z.object({
  object: z.literal('fine_tuning.job.event'),
  id: z.string(),
  created_at: count(),
  level: z.enum(['info', 'warn', 'error']),
  message: z.string(),
  type: z.optional(z.enum(['message', 'metrics'])),
  /** OpenAI's schema has `data` as an object when present; Tierline leaves it out when empty. */
  data: z.optional(z.nullable(z.record(z.string(), z.unknown()))),
});
export type FineTuningEvent = z.output<typeof fineTuningEventShape>;

export const fineTuningJobEventListShape = z.object({
  object: z.literal('list'),
  data: z.array(fineTuningEventShape),
  has_more: z.boolean(),
});
export type FineTuningJobEventList = z.output<typeof fineTuningJobEventListShape>;

export const fineTuningCheckpointShape = z.object({
  object: z.literal('fine_tuning.job.checkpoint'),
  id: z.string(),
  created_at: count(),
  fine_tuned_model_checkpoint: z.string(),
  fine_tuning_job_id: z.string(),
  step_number: count(),
  metrics: z.catchall(z.object({ step: count() }), z.number()),
});
export type FineTuningCheckpoint = z.output<typeof fineTuningCheckpointShape>;

export const fineTuningJobCheckpointListShape = z.object({
  object: z.literal('list'),
  data: z.array(fineTuningCheckpointShape),
  first_id: z.nullable(z.string()),
  last_id: z.nullable(z.string()),
  has_more: z.boolean(),
});
export type FineTuningJobCheckpointList = z.output<typeof fineTuningJobCheckpointListShape>;

/** Groq's registration of a LoRA adapter, with Tierline's `status` (a component takes minutes). */
export const fineTuningShape = z.object({
  id: z.string().check(z.regex(/^ftune_/)),
  object: z.literal('fine_tuning'),
  data: z.object({
    id: z.string(),
    name: z.string(),
    base_model: z.string(),
    type: z.literal('lora'),
    input_file_id: z.nullable(z.string()),
    fine_tuning_job_id: z.nullable(z.string()),
    created_at: count(),
    fine_tuned_model: fineTunedModelId(),
    status: z.enum(['deploying', 'ready', 'failed', 'deleting']),
    failure_reason: z.nullable(z.string()),
  }),
});
export type FineTuning = z.output<typeof fineTuningShape>;

export const fineTuningListShape = z.object({
  object: z.literal('list'),
  data: z.array(fineTuningShape),
});
export type FineTuningList = z.output<typeof fineTuningListShape>;

export const fineTuningDeletedShape = z.object({
  id: z.string(),
  object: z.literal('fine_tuning'),
  deleted: z.literal(true),
});
export type FineTuningDeleted = z.output<typeof fineTuningDeletedShape>;
