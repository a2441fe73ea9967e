/**
 * JSON Schemas (2020-12) of what Tierline answers, for its `/openapi.json`. The end-to-end tests
 * validate every response they get against these (and against OpenAI's published schemas for the
 * OpenAI routes), so a change to a response that is not made here too fails a test.
 */

type Schema = Record<string, unknown>;

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const int = { type: 'integer', minimum: 0 };
const str = { type: 'string' };
const nullable = (schema: Schema): Schema => ({ anyOf: [schema, { type: 'null' }] });
const object = (properties: Record<string, Schema>, optional: string[] = []): Schema => ({
  type: 'object',
  properties,
  required: Object.keys(properties).filter((key) => !optional.includes(key)),
});
const DAY = { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$' };
const USD_STRING = {
  type: 'string',
  pattern: '^\\d+\\.\\d{6}$',
  description: 'USD as an exact decimal string',
};

const usage = object({ prompt_tokens: int, completion_tokens: int, total_tokens: int });
const toolCall = object({
  id: str,
  type: { const: 'function' },
  function: object({ name: str, arguments: str }),
});
const finishReason = { enum: ['stop', 'length', 'tool_calls', 'content_filter', 'function_call'] };

const file = object(
  {
    id: { type: 'string', pattern: '^file-' },
    object: { const: 'file' },
    bytes: int,
    created_at: int,
    filename: str,
    purpose: { enum: ['batch', 'fine-tune', 'batch_output'] },
    status: { enum: ['uploaded', 'processed', 'error'] },
  },
  [],
);

/** A named API key as `/v1/keys` lists it (never its secret). */
const apiKey = object({
  object: { const: 'api_key' },
  id: str,
  name: str,
  hint: str,
  status: { enum: ['active', 'revoked'] },
  primary: { type: 'boolean' },
  created_at: int,
  revoked_at: nullable(int),
  last_used_at: nullable(int),
}) as { properties: Record<string, Schema> } & Schema;
const limitRow = object({ limit: int, used: int, remaining: int });

const hyperparameters = object({
  n_epochs: int,
  batch_size: int,
  learning_rate_multiplier: { type: 'number' },
});
const fineTuningEvent = object(
  {
    object: { const: 'fine_tuning.job.event' },
    id: str,
    created_at: int,
    level: { enum: ['info', 'warn', 'error'] },
    message: str,
    type: { enum: ['message', 'metrics'] },
    data: nullable({ type: 'object' }),
  },
  ['type', 'data'],
);
const fineTuningCheckpoint = object({
  object: { const: 'fine_tuning.job.checkpoint' },
  id: str,
  created_at: int,
  fine_tuned_model_checkpoint: str,
  fine_tuning_job_id: str,
  step_number: int,
  metrics: { type: 'object', properties: { step: int }, required: ['step'] },
});

export const responseSchemas: Record<string, Schema> = {
  FineTuningJob: {
    ...object({
      object: { const: 'fine_tuning.job' },
      id: { type: 'string', pattern: '^ftjob-' },
      created_at: int,
      error: nullable(object({ code: str, message: str, param: nullable(str) })),
      fine_tuned_model: nullable({ type: 'string', pattern: '^ft:' }),
      finished_at: nullable(int),
      hyperparameters,
      model: str,
      organization_id: str,
      result_files: { type: 'array', items: str },
      seed: int,
      status: {
        enum: ['validating_files', 'queued', 'running', 'succeeded', 'failed', 'cancelled'],
      },
      trained_tokens: nullable(int),
      training_file: str,
      validation_file: nullable(str),
      metadata: nullable({ type: 'object', additionalProperties: { type: 'string' } }),
      user_provided_suffix: nullable(str),
      method: object({ type: { const: 'supervised' }, supervised: object({ hyperparameters }) }),
      lora: object({ rank: int, alpha: int, target_modules: { type: 'array', items: str } }),
      estimated_trained_tokens: int,
      estimated_cost_usd: { type: 'number', minimum: 0 },
    }),
    description:
      "OpenAI's job, with Tierline's LoRA settings and the cost estimate held against the spend limit at creation.",
  },
  FineTuningJobList: object({
    object: { const: 'list' },
    data: { type: 'array', items: ref('FineTuningJob') },
    has_more: { type: 'boolean' },
  }),
  FineTuningJobEventList: object({
    object: { const: 'list' },
    data: { type: 'array', items: fineTuningEvent },
    has_more: { type: 'boolean' },
  }),
  FineTuningJobCheckpointList: object({
    object: { const: 'list' },
    data: { type: 'array', items: fineTuningCheckpoint },
    first_id: nullable(str),
    last_id: nullable(str),
    has_more: { type: 'boolean' },
  }),
  Batch: {
    ...object(
      {
        id: str,
        object: { const: 'batch' },
        endpoint: { const: '/v1/chat/completions' },
        input_file_id: str,
        completion_window: str,
        status: {
          enum: [
            'validating',
            'in_progress',
            'finalizing',
            'completed',
            'failed',
            'expired',
            'cancelling',
            'cancelled',
          ],
        },
        created_at: int,
        expires_at: int,
        request_counts: object({ total: int, completed: int, failed: int }),
        metadata: nullable({ type: 'object', additionalProperties: { type: 'string' } }),
      },
      ['expires_at'],
    ),
    description:
      'Timestamps (`in_progress_at`...) and `output_file_id`/`error_file_id` appear once they exist.',
  },
  BatchList: object({
    object: { const: 'list' },
    data: { type: 'array', items: ref('Batch') },
    first_id: str,
    last_id: str,
    has_more: { type: 'boolean' },
  }),
  File: file,
  FileList: object({
    object: { const: 'list' },
    data: { type: 'array', items: ref('File') },
    first_id: str,
    last_id: str,
    has_more: { type: 'boolean' },
  }),
  FileDeleted: object({ id: str, object: { const: 'file' }, deleted: { const: true } }),
  Upload: object({
    id: str,
    object: { const: 'upload' },
    bytes: int,
    created_at: int,
    expires_at: int,
    filename: str,
    purpose: str,
    status: { enum: ['pending', 'completed', 'cancelled', 'expired'] },
    file: nullable(ref('File')),
  }),
  UploadPart: object({
    id: str,
    object: { const: 'upload.part' },
    created_at: int,
    upload_id: str,
  }),
  Error: object({ message: str, type: str, param: nullable(str), code: nullable(str) }),
  ErrorResponse: object({ error: ref('Error') }),
  Usage: usage,
  ChatCompletion: object(
    {
      id: { type: 'string', pattern: '^chatcmpl-' },
      object: { const: 'chat.completion' },
      created: int,
      model: str,
      system_fingerprint: nullable(str),
      choices: {
        type: 'array',
        items: object({
          index: int,
          message: object(
            {
              role: { const: 'assistant' },
              content: nullable(str),
              refusal: { type: 'null' },
              // Groq's: a reasoning model's thinking with `reasoning_format: parsed`.
              reasoning: str,
              tool_calls: { type: 'array', items: toolCall },
            },
            ['reasoning', 'tool_calls'],
          ),
          finish_reason: finishReason,
          logprobs: nullable({ type: 'object' }),
        }),
      },
      usage,
      x_groq: object({ id: str }),
    },
    ['system_fingerprint'],
  ),
  ChatCompletionChunk: object(
    {
      id: { type: 'string', pattern: '^chatcmpl-' },
      object: { const: 'chat.completion.chunk' },
      created: int,
      model: str,
      system_fingerprint: nullable(str),
      choices: {
        type: 'array',
        items: object(
          {
            index: int,
            delta: object(
              {
                role: { const: 'assistant' },
                content: nullable(str),
                reasoning: str,
                tool_calls: { type: 'array' },
              },
              ['role', 'content', 'reasoning', 'tool_calls'],
            ),
            finish_reason: nullable(finishReason),
            logprobs: nullable({ type: 'object' }),
          },
          ['logprobs'],
        ),
      },
      usage: nullable(usage),
      x_groq: object({ id: str, usage }, ['usage']),
    },
    ['system_fingerprint', 'usage', 'x_groq'],
  ),
  Model: object(
    {
      id: str,
      object: { const: 'model' },
      created: int,
      owned_by: str,
      active: { type: 'boolean' },
      context_window: int,
      max_completion_tokens: int,
      shutdown_date: { type: 'string', format: 'date' },
    },
    ['shutdown_date'],
  ),
  ModelList: object({ object: { const: 'list' }, data: { type: 'array', items: ref('Model') } }),
  ModelDeleted: object({ id: str, object: { const: 'model' }, deleted: { const: true } }),
  FineTuning: object({
    id: { type: 'string', pattern: '^ftune_' },
    object: { const: 'fine_tuning' },
    data: object({
      id: str,
      name: str,
      base_model: str,
      type: { const: 'lora' },
      input_file_id: nullable(str),
      fine_tuning_job_id: nullable(str),
      created_at: int,
      fine_tuned_model: { type: 'string', pattern: '^ft:' },
      status: { enum: ['deploying', 'ready', 'failed', 'deleting'] },
      failure_reason: nullable(str),
    }),
  }),
  FineTuningList: object({
    object: { const: 'list' },
    data: { type: 'array', items: ref('FineTuning') },
  }),
  FineTuningDeleted: object({
    id: str,
    object: { const: 'fine_tuning' },
    deleted: { const: true },
  }),
  Plan: object({
    object: { const: 'plan' },
    id: str,
    display_name: str,
    description: str,
    models: {
      type: 'array',
      items: object({
        id: str,
        display_name: str,
        context_window: int,
        max_output_tokens: int,
        limits: object({
          requests_per_minute: int,
          requests_per_day: int,
          tokens_per_minute: int,
          tokens_per_day: int,
        }),
        pricing: object({
          input_usd_per_million_tokens: { type: 'number', minimum: 0 },
          output_usd_per_million_tokens: { type: 'number', minimum: 0 },
        }),
      }),
    },
    features: object({
      batch: object({ available: { type: 'boolean' }, discount_percent: { type: 'number' } }),
      spend_limit: object({
        available: { type: 'boolean' },
        default_monthly_usd: nullable({ type: 'number' }),
        alert_thresholds_percent: { type: 'array', items: { type: 'number' } },
      }),
      lora_fine_tuning: object({
        available: { type: 'boolean' },
        premium_percent: { type: 'number' },
      }),
      files: object({ storage_quota_bytes: int, max_file_bytes: int, max_parts_per_upload: int }),
    }),
    edge: object({
      requests_per_second: { type: 'number' },
      burst: int,
      quota: nullable(object({ limit: int, period: { enum: ['day', 'week', 'month'] } })),
    }),
  }),
  PlanList: object({ object: { const: 'list' }, data: { type: 'array', items: ref('Plan') } }),
  Customer: object({
    object: { const: 'customer' },
    id: { type: 'string', pattern: '^cus_' },
    name: str,
    email: str,
    tier: { enum: ['free', 'developer', 'enterprise'] },
    created_at: int,
    custom_plan: { type: 'boolean' },
    plan: ref('Plan'),
  }),
  UsageFields: object({
    requests: int,
    input_tokens: int,
    output_tokens: int,
    cost_usd: USD_STRING,
  }),
  UsageList: object({
    object: { const: 'list' },
    group_by: { enum: ['day', 'model'] },
    start_date: DAY,
    end_date: DAY,
    data: {
      type: 'array',
      items: {
        type: 'object',
        required: ['object', 'requests', 'input_tokens', 'output_tokens', 'cost_usd'],
        properties: {
          object: { const: 'usage.bucket' },
          date: DAY,
          model: str,
          start_date: DAY,
          end_date: DAY,
          models: {
            type: 'array',
            items: {
              allOf: [ref('UsageFields')],
              properties: { object: { const: 'usage.model' }, model: str },
            },
          },
        },
      },
    },
    total: ref('UsageFields'),
  }),
  SpendLimit: object({
    object: { const: 'spend_limit' },
    available: { type: 'boolean' },
    month: { type: 'string', pattern: '^\\d{4}-\\d{2}$' },
    monthly_limit_usd: nullable({ type: 'number', minimum: 0 }),
    spent_usd: USD_STRING,
    reserved_usd: USD_STRING,
    alert_thresholds_percent: { type: 'array', items: { type: 'number' } },
  }),
  ApiKey: apiKey,
  CreatedApiKey: object({
    ...apiKey.properties,
    key: { type: 'string', pattern: '^tl_[0-9A-Za-z]{49}$' },
  }),
  ApiKeyList: object({ object: { const: 'list' }, data: { type: 'array', items: apiKey } }),
  Limits: object({
    object: { const: 'limits' },
    tier: str,
    minute: str,
    day: DAY,
    reset_minute: str,
    reset_day: str,
    reset_minute_seconds: int,
    reset_day_seconds: int,
    data: {
      type: 'array',
      items: object({
        object: { const: 'model_limits' },
        model: str,
        requests_per_minute: limitRow,
        requests_per_day: limitRow,
        tokens_per_minute: limitRow,
        tokens_per_day: limitRow,
      }),
    },
  }),
};
