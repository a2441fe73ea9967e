import * as z from 'zod/mini';
import type { TierlineConfig } from '../../../lib/config/schema';
import { chatRequestSchema } from '../../inference/chat-request';
import { spendLimitUpdateSchema } from '../../metering/spend-limit-settings';
import { responseJsonSchemas } from './response-schemas';

/**
 * Tierline's own OpenAPI 3.1 document, served at `GET /openapi.json`. Request bodies are generated
 * from the zod schemas the routes validate with, so the document cannot promise what the code
 * refuses; responses are the schemas of `response-schemas.ts`, which every end-to-end test checks
 * each answer against.
 */

type Schema = Record<string, unknown>;
const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: Schema) => ({ 'application/json': { schema } });
const error = (description: string) => ({ description, content: json(ref('ErrorResponse')) });
const ERRORS = {
  '400': error('Invalid request: `param` names the field'),
  '401': error('Missing, malformed or revoked API key'),
  '404': error('Unknown URL, or an object the caller does not own'),
  '413': error('Request body too large'),
  '429': {
    description: 'A rate limit, quota or spend limit was reached',
    headers: { 'retry-after': { schema: { type: 'integer', minimum: 0 } } },
    content: json(ref('ErrorResponse')),
  },
} as const;
const RATE_LIMIT_HEADERS = Object.fromEntries(
  [
    'limit-requests',
    'limit-tokens',
    'remaining-requests',
    'remaining-tokens',
    'reset-requests',
    'reset-tokens',
  ].map((name) => [`x-ratelimit-${name}`, { schema: { type: 'string' } }]),
);

/** A request schema as zod describes its input, without the `$schema` line (OpenAPI sets the dialect). */
function requestSchema(schema: z.ZodMiniType): Schema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io: 'input',
  }) as Schema;
  return rest;
}

function operation(summary: string, ok: Schema, extra: Schema = {}, publicRoute = false): Schema {
  return {
    summary,
    ...(publicRoute ? { security: [] } : {}),
    ...extra,
    // 200 for every success, creates too, as in OpenAI's API (files, batches, fine-tuning jobs).
    responses: { '200': { description: 'OK', content: json(ok) }, ...ERRORS },
  };
}

const nullable = (schema: Schema): Schema => ({ anyOf: [schema, { type: 'null' }] });
const pathParameter = (name: string) => ({
  name,
  in: 'path',
  required: true,
  schema: { type: 'string' },
});
/** A body with these fields, each required (their values are checked by the route, which names a bad one). */
const multipart = (fields: string[]): Schema => ({ type: 'object', required: fields });

let cached: Schema | undefined;

/** The plans (public) and the caller's account. */
function accountPaths(): Record<string, Schema> {
  return {
    '/v1/plans': {
      get: operation('Every tier: limits, prices, features', ref('PlanList'), {}, true),
    },
    '/v1/me': { get: operation('The caller: customer, tier and its plan', ref('Customer')) },
  };
}

/** The models of a tier, the caller's fine-tuned models and its LoRA adapters (Groq's `/fine_tunings`). */
function modelPaths(modelIds: string[]): Record<string, Schema> {
  return {
    '/v1/models': { get: operation("The models of the caller's tier", ref('ModelList')) },
    '/v1/models/{model}': {
      get: operation(
        'One model of the caller’s tier, or one of the caller’s fine-tuned models',
        ref('Model'),
        {
          parameters: [{ name: 'model', in: 'path', required: true, schema: { type: 'string' } }],
        },
      ),
      delete: operation(
        'Delete one of the caller’s fine-tuned models (ft:...)',
        ref('ModelDeleted'),
        {
          parameters: [{ name: 'model', in: 'path', required: true, schema: { type: 'string' } }],
        },
      ),
    },
    '/v1/fine_tunings': {
      get: operation("The caller's LoRA adapters (uploaded and trained)", ref('FineTuningList')),
      post: operation(
        'Register an uploaded LoRA adapter (a zip or tar.gz file of purpose fine-tune) as an ft: model (Groq)',
        ref('FineTuning'),
        {
          requestBody: {
            required: true,
            content: json({
              type: 'object',
              required: ['input_file_id', 'name', 'base_model'],
              properties: {
                input_file_id: { type: 'string' },
                name: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$' },
                type: { const: 'lora' },
                base_model: { enum: modelIds },
              },
              additionalProperties: false,
            }),
          },
        },
      ),
    },
    '/v1/fine_tunings/{fine_tuning_id}': {
      get: operation('One LoRA adapter of the caller', ref('FineTuning'), {
        parameters: [pathParameter('fine_tuning_id')],
      }),
      delete: operation(
        'Delete a LoRA adapter of the caller (its model too)',
        ref('FineTuningDeleted'),
        {
          parameters: [pathParameter('fine_tuning_id')],
        },
      ),
    },
  };
}

/** Chat completions, streamed or not, with the rate-limit headers and the model's failures. */
function chatPaths(): Record<string, Schema> {
  return {
    '/v1/chat/completions': {
      post: {
        summary: 'A chat completion, streamed (SSE) or not',
        requestBody: { required: true, content: json(ref('ChatCompletionRequest')) },
        responses: {
          '200': {
            description:
              'OK; with `stream: true`, `text/event-stream` of chunks, then `data: [DONE]`',
            headers: RATE_LIMIT_HEADERS,
            content: {
              ...json(ref('ChatCompletion')),
              'text/event-stream': { schema: ref('ChatCompletionChunk') },
            },
          },
          ...ERRORS,
          '403': error('The model is on a higher tier'),
          '502': error('The model failed while answering (quotes the request id)'),
          '503': error('The model has no capacity right now (`retry-after` says when to retry)'),
          '504': error('The model did not answer in time'),
        },
      },
    },
  };
}

/** What the caller used, may spend and has left: usage, spend limit, rate limits. */
function usagePaths(): Record<string, Schema> {
  return {
    '/v1/usage': {
      get: operation('Requests, tokens and cost per day or model', ref('UsageList'), {
        parameters: [
          { name: 'start_date', in: 'query', schema: { type: 'string', format: 'date' } },
          { name: 'end_date', in: 'query', schema: { type: 'string', format: 'date' } },
          { name: 'group_by', in: 'query', schema: { enum: ['day', 'model'] } },
        ],
      }),
    },
    '/v1/spend_limit': {
      get: operation('The monthly spend limit and this month’s spend', ref('SpendLimit')),
      put: operation('Set (or with null remove) the monthly spend limit', ref('SpendLimit'), {
        requestBody: { required: true, content: json(ref('SpendLimitUpdate')) },
      }),
    },
    '/v1/billing': {
      get: operation(
        'Pay-per-token billing: payment method, this month’s running total, invoices, grace',
        ref('Billing'),
      ),
    },
    '/v1/billing/checkout': {
      post: operation(
        'Start the upgrade: a page that saves a payment method',
        ref('BillingCheckout'),
        {
          requestBody: {
            required: true,
            content: json({
              type: 'object',
              required: ['success_url', 'cancel_url'],
              additionalProperties: false,
              properties: {
                success_url: { type: 'string', format: 'uri', maxLength: 2000 },
                cancel_url: { type: 'string', format: 'uri', maxLength: 2000 },
              },
            }),
          },
        },
      ),
    },
    '/v1/billing/cancel': {
      post: operation('End the Developer subscription at the period’s end', ref('Billing')),
    },
    '/v1/limits': {
      get: operation(
        'Per model: limits, what this UTC minute and day used, and what is left',
        ref('Limits'),
      ),
    },
  };
}

/** The caller's API keys. */
function keyPaths(): Record<string, Schema> {
  return {
    '/v1/keys': {
      get: operation(
        "The caller's API keys (primary and named), never their secrets",
        ref('ApiKeyList'),
      ),
      post: operation(
        'Create a named API key; the secret is in this answer only',
        ref('CreatedApiKey'),
        {
          requestBody: {
            required: true,
            content: json({
              type: 'object',
              properties: { name: { type: 'string', maxLength: 64 } },
              required: ['name'],
            }),
          },
        },
      ),
    },
    '/v1/keys/{key_id}': {
      delete: operation('Revoke a named API key of the caller', ref('ApiKey'), {
        parameters: [pathParameter('key_id')],
      }),
    },
  };
}

/** Files and multi-part uploads. */
function filePaths(): Record<string, Schema> {
  return {
    '/v1/files': {
      get: operation("The caller's files", ref('FileList'), {
        parameters: [
          { name: 'purpose', in: 'query', schema: { type: 'string' } },
          { name: 'order', in: 'query', schema: { enum: ['asc', 'desc'] } },
          { name: 'after', in: 'query', schema: { type: 'string' } },
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 10_000 } },
        ],
      }),
      post: operation(
        'Upload a file (multipart/form-data: file, purpose), at most 4 MiB',
        ref('File'),
        {
          requestBody: {
            required: true,
            content: { 'multipart/form-data': { schema: multipart(['file', 'purpose']) } },
          },
        },
      ),
    },
    '/v1/files/{file_id}': {
      get: operation('One file of the caller', ref('File'), {
        parameters: [pathParameter('file_id')],
      }),
      delete: operation('Delete a file of the caller', ref('FileDeleted'), {
        parameters: [pathParameter('file_id')],
      }),
    },
    '/v1/files/{file_id}/content': {
      get: {
        summary: "A file's content (JSONL), or a redirect to it",
        parameters: [pathParameter('file_id')],
        responses: {
          '200': {
            description: 'OK',
            content: { 'application/jsonl': { schema: { type: 'string' } } },
          },
          '302': { description: 'Redirect to a short-lived download URL' },
          ...ERRORS,
        },
      },
    },
    '/v1/uploads': {
      post: operation('Start a multi-part upload', ref('Upload'), {
        requestBody: {
          required: true,
          content: json(multipart(['filename', 'purpose', 'bytes', 'mime_type'])),
        },
      }),
    },
    '/v1/uploads/{upload_id}/parts': {
      post: operation('Add a part (multipart/form-data: data), at most 4 MiB', ref('UploadPart'), {
        parameters: [pathParameter('upload_id')],
        requestBody: {
          required: true,
          content: { 'multipart/form-data': { schema: multipart(['data']) } },
        },
      }),
    },
    '/v1/uploads/{upload_id}/complete': {
      post: operation('Complete an upload from its parts, in order', ref('Upload'), {
        parameters: [pathParameter('upload_id')],
        requestBody: { required: true, content: json(multipart(['part_ids'])) },
      }),
    },
    '/v1/uploads/{upload_id}/cancel': {
      post: operation('Cancel an upload', ref('Upload'), {
        parameters: [pathParameter('upload_id')],
      }),
    },
  };
}

/** Batches of chat completions. */
function batchPaths(): Record<string, Schema> {
  return {
    '/v1/batches': {
      get: operation("The caller's batches, newest first", ref('BatchList'), {
        parameters: [
          { name: 'after', in: 'query', schema: { type: 'string' } },
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 100 } },
        ],
      }),
      post: operation('Run a file of chat completion requests as a batch', ref('Batch'), {
        requestBody: {
          required: true,
          content: json({
            type: 'object',
            required: ['input_file_id', 'endpoint', 'completion_window'],
            properties: {
              input_file_id: { type: 'string' },
              endpoint: { const: '/v1/chat/completions' },
              completion_window: { type: 'string', pattern: '^\\d+[hd]$' },
              metadata: nullable({ type: 'object', additionalProperties: { type: 'string' } }),
            },
            additionalProperties: false,
          }),
        },
      }),
    },
    '/v1/batches/{batch_id}': {
      get: operation('One batch of the caller', ref('Batch'), {
        parameters: [pathParameter('batch_id')],
      }),
    },
    '/v1/batches/{batch_id}/cancel': {
      post: operation('Cancel a batch of the caller', ref('Batch'), {
        parameters: [pathParameter('batch_id')],
      }),
    },
  };
}

/** Fine-tuning jobs, their events and checkpoints; the create body follows the config's LoRA choices. */
function fineTuningJobPaths(
  config: TierlineConfig,
  trainableModels: string[],
): Record<string, Schema> {
  return {
    '/v1/fine_tuning/jobs': {
      get: operation("The caller's fine-tuning jobs, newest first", ref('FineTuningJobList'), {
        parameters: [
          { name: 'after', in: 'query', schema: { type: 'string' } },
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 100 } },
        ],
      }),
      post: {
        ...operation(
          'Create a LoRA fine-tuning job: the training file is checked and the estimated cost held first',
          ref('FineTuningJob'),
          {
            parameters: [
              {
                name: 'Idempotency-Key',
                in: 'header',
                required: false,
                description:
                  'The same key (and body) answers the same job, created, held and launched once',
                schema: { type: 'string', minLength: 1, maxLength: 255 },
              },
            ],
            requestBody: {
              required: true,
              content: json({
                type: 'object',
                required: ['model', 'training_file'],
                properties: {
                  model: { enum: trainableModels },
                  training_file: { type: 'string' },
                  validation_file: nullable({ type: 'string' }),
                  suffix: nullable({ type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$' }),
                  seed: nullable({ type: 'integer', minimum: 0, maximum: 2_147_483_647 }),
                  metadata: nullable({ type: 'object', additionalProperties: { type: 'string' } }),
                  method: { type: 'object' },
                  hyperparameters: {
                    type: 'object',
                    description: 'Deprecated: use method.supervised.hyperparameters',
                  },
                  integrations: nullable({ type: 'array', maxItems: 0 }),
                  lora: {
                    type: 'object',
                    properties: {
                      rank: { enum: config.fineTuning.lora.ranks },
                      alpha: {
                        type: 'integer',
                        minimum: config.fineTuning.lora.alpha.min,
                        maximum: config.fineTuning.lora.alpha.max,
                      },
                      target_modules: {
                        type: 'array',
                        items: { enum: config.fineTuning.lora.targetModules },
                      },
                    },
                  },
                },
              }),
            },
          },
        ),
        responses: {
          ...(operation('', ref('FineTuningJob')).responses as Schema),
          '403': error('Fine-tuning is not on the caller’s tier'),
          '409': error('A request with this Idempotency-Key is still being processed: retry it'),
        },
      },
    },
    '/v1/fine_tuning/jobs/{fine_tuning_job_id}': {
      get: operation('One fine-tuning job of the caller', ref('FineTuningJob'), {
        parameters: [pathParameter('fine_tuning_job_id')],
      }),
    },
    '/v1/fine_tuning/jobs/{fine_tuning_job_id}/events': {
      get: operation("A job's events, newest first", ref('FineTuningJobEventList'), {
        parameters: [
          pathParameter('fine_tuning_job_id'),
          { name: 'after', in: 'query', schema: { type: 'string' } },
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 100 } },
        ],
      }),
    },
    '/v1/fine_tuning/jobs/{fine_tuning_job_id}/checkpoints': {
      get: operation(
        "A job's checkpoints (one per epoch), newest first",
        ref('FineTuningJobCheckpointList'),
        {
          parameters: [
            pathParameter('fine_tuning_job_id'),
            { name: 'after', in: 'query', schema: { type: 'string' } },
            { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 100 } },
          ],
        },
      ),
    },
    '/v1/fine_tuning/jobs/{fine_tuning_job_id}/cancel': {
      post: operation('Cancel an active fine-tuning job of the caller', ref('FineTuningJob'), {
        parameters: [pathParameter('fine_tuning_job_id')],
      }),
    },
  };
}

export function tierlineOpenApiDocument(config: TierlineConfig): Schema {
  if (cached) return cached;
  const modelIds = Object.keys(config.models);
  const trainableModels = modelIds.filter(
    (id) => config.models[id]?.trainingInstanceType && config.models[id]?.architecture,
  );
  const paths: Record<string, Schema> = {
    ...accountPaths(),
    ...modelPaths(modelIds),
    ...chatPaths(),
    ...usagePaths(),
    ...keyPaths(),
    ...filePaths(),
    ...batchPaths(),
    ...fineTuningJobPaths(config, trainableModels),
    '/openapi.json': {
      get: operation('This document', { type: 'object', required: ['openapi', 'paths'] }, {}, true),
    },
  };
  cached = {
    openapi: '3.1.0',
    info: {
      title: 'Tierline API',
      version: '1',
      description:
        'OpenAI-compatible LLM API with tiers. Every route is also served under `/openai/v1` (groq-sdk). ' +
        `Models: ${modelIds.join(', ')}. Errors are always {"error":{"message","type","param","code"}}.`,
    },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'tl_... API key' },
      },
      schemas: {
        ChatCompletionRequest: requestSchema(chatRequestSchema),
        SpendLimitUpdate: requestSchema(spendLimitUpdateSchema),
        ...responseJsonSchemas(),
      },
    },
  };
  return cached;
}
