import * as z from 'zod/mini';
import type { TierlineConfig } from '../../../lib/config/schema';
import { chatRequestSchema } from '../../inference/chat-request';
import { spendLimitUpdateSchema } from '../../metering/spend-limit-settings';
import { responseSchemas } from './response-schemas';

/**
 * Tierline's own OpenAPI 3.1 document, served at `GET /openapi.json`. Request bodies are generated from the
 * zod schemas the routes validate with, so the document cannot promise what the code refuses; responses are
 * the schemas of `response-schemas.ts`, which every end-to-end test checks each answer against.
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
  ['limit-requests', 'limit-tokens', 'remaining-requests', 'remaining-tokens', 'reset-requests', 'reset-tokens'].map(
    (name) => [`x-ratelimit-${name}`, { schema: { type: 'string' } }],
  ),
);

/** A request schema as zod describes its input, without the `$schema` line (OpenAPI sets the dialect). */
function requestSchema(schema: z.ZodMiniType): Schema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input' }) as Schema;
  return rest;
}

function operation(summary: string, ok: Schema, extra: Schema = {}, publicRoute = false): Schema {
  return {
    summary,
    ...(publicRoute ? { security: [] } : {}),
    ...extra,
    responses: { '200': { description: 'OK', content: json(ok) }, ...ERRORS },
  };
}

let cached: Schema | undefined;

export function tierlineOpenApiDocument(config: TierlineConfig): Schema {
  if (cached) return cached;
  const modelIds = Object.keys(config.models);
  const paths: Record<string, Schema> = {
    '/v1/plans': { get: operation('Every tier: limits, prices, features', ref('PlanList'), {}, true) },
    '/v1/me': { get: operation('The caller: customer, tier and its plan', ref('Customer')) },
    '/v1/models': { get: operation("The models of the caller's tier", ref('ModelList')) },
    '/v1/models/{model}': {
      get: operation('One model of the caller’s tier', ref('Model'), {
        parameters: [{ name: 'model', in: 'path', required: true, schema: { type: 'string' } }],
      }),
    },
    '/v1/chat/completions': {
      post: {
        summary: 'A chat completion, streamed (SSE) or not',
        requestBody: { required: true, content: json(ref('ChatCompletionRequest')) },
        responses: {
          '200': {
            description: 'OK; with `stream: true`, `text/event-stream` of chunks, then `data: [DONE]`',
            headers: RATE_LIMIT_HEADERS,
            content: {
              ...json(ref('ChatCompletion')),
              'text/event-stream': { schema: ref('ChatCompletionChunk') },
            },
          },
          ...ERRORS,
          '403': error('The model is on a higher tier'),
          '503': error('The model has no capacity right now (`retry-after` says when to retry)'),
        },
      },
    },
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
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'tl_... API key' } },
      schemas: {
        ChatCompletionRequest: requestSchema(chatRequestSchema),
        SpendLimitUpdate: requestSchema(spendLimitUpdateSchema),
        ...responseSchemas,
      },
    },
  };
  return cached;
}
