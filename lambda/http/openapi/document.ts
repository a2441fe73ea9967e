import * as z from 'zod/mini';
import type { TierlineConfig } from '../../../lib/config/schema';
import { chatRequestSchema } from '../../inference/chat-request';
import { spendLimitUpdateSchema } from '../../metering/spend-limit-settings';
import {
  inputTokensRequestSchema,
  responsesRequestSchema,
} from '../../responses/responses-request';
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

/** An operation's extension saying it is not deployed to API Gateway yet, and why. */
export const NOT_DEPLOYED = 'x-tierline-not-deployed';

/** The plans (public) and the caller's account. */
function accountPaths(): Record<string, Schema> {
  return {
    '/v1/plans': {
      get: operation('Every tier: limits, prices, features', ref('PlanList'), {}, true),
    },
    '/v1/me': { get: operation('The caller: customer, tier and its plan', ref('Customer')) },
    '/v1/account/organizations': {
      get: operation(
        "The signed-in user's organizations (a console session only)",
        ref('OrganizationMembershipList'),
      ),
      post: operation(
        "Create the verified user's Free organization (a console session only); its first key is in this answer only",
        ref('SignedUpOrganization'),
        {
          requestBody: {
            required: true,
            content: json({
              type: 'object',
              properties: { name: { type: 'string', minLength: 1, maxLength: 200 } },
            }),
          },
        },
      ),
    },
  };
}

/** The models of a tier, the fine-tuned models of the caller's project and its LoRA adapters (Groq's `/fine_tunings`). */
function modelPaths(modelIds: string[]): Record<string, Schema> {
  return {
    '/v1/models': {
      get: operation(
        "The models of the caller's tier and the ready fine-tuned models of the caller's project",
        ref('ModelList'),
      ),
    },
    '/v1/models/{model}': {
      get: operation(
        'One model of the caller’s tier, or one of the fine-tuned models of the caller’s project',
        ref('Model'),
        {
          parameters: [{ name: 'model', in: 'path', required: true, schema: { type: 'string' } }],
        },
      ),
      delete: operation(
        'Delete one of the fine-tuned models (ft:...) of the caller’s project',
        ref('ModelDeleted'),
        {
          parameters: [{ name: 'model', in: 'path', required: true, schema: { type: 'string' } }],
        },
      ),
    },
    '/v1/fine_tunings': {
      get: operation(
        "The LoRA adapters (uploaded and trained) of the caller's project",
        ref('FineTuningList'),
      ),
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

/** What a request that runs a model can fail with, besides every route's errors (chat, Responses). */
const MODEL_ERRORS = {
  ...ERRORS,
  '403': error('The model is on a higher tier'),
  '502': error('The model failed while answering (quotes the request id)'),
  '503': error('The model has no capacity right now (`retry-after` says when to retry)'),
  '504': error('The model did not answer in time'),
};

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
          ...MODEL_ERRORS,
        },
      },
    },
  };
}

/**
 * An operation served under `/v1` only: Groq serves `POST /openai/v1/responses` and no stored
 * responses, so groq-sdk's base path does not get these (and the Api stack keeps its resources).
 */
const v1Only = (op: Schema): Schema => ({ ...op, 'x-v1-only': true });

/**
 * OpenAI's Responses API: created on the chat pipeline (the same limits, headers and failures),
 * stored 30 days unless `store: false`, read and deleted by the caller only.
 */
function responsesPaths(): Record<string, Schema> {
  const responseId = pathParameter('response_id');
  return {
    '/v1/responses': {
      post: {
        summary: "A model response, streamed (SSE events in OpenAI's order) or not",
        requestBody: { required: true, content: json(ref('CreateResponseRequest')) },
        responses: {
          '200': {
            description:
              'OK; with `stream: true`, `text/event-stream` of `event:`/`data:` pairs, each with its `sequence_number`',
            headers: RATE_LIMIT_HEADERS,
            content: {
              ...json(ref('Response')),
              'text/event-stream': { schema: ref('ResponseStreamEvent') },
            },
          },
          ...MODEL_ERRORS,
        },
      },
    },
    '/v1/responses/input_tokens': {
      post: v1Only({
        summary:
          "The input tokens a request would count, with the model's tokenizer: a request against " +
          "the model's RPM and RPD (no tokens); an input past the context window is a 400 " +
          '`context_length_exceeded` naming `input`',
        requestBody: { required: true, content: json(ref('InputTokensRequest')) },
        responses: {
          '200': {
            description: 'OK',
            headers: RATE_LIMIT_HEADERS,
            content: json(ref('ResponseInputTokens')),
          },
          ...ERRORS,
        },
      }),
    },
    '/v1/responses/{response_id}': {
      get: v1Only(
        operation('A stored response of the caller', ref('Response'), {
          parameters: [responseId],
        }),
      ),
      delete: v1Only(
        operation(
          'Delete a stored response of the caller; a response is stored when it ends, so one still ' +
            'streaming answers 404, and is then not stored when it ends',
          ref('ResponseDeleted'),
          {
            parameters: [responseId],
          },
        ),
      ),
    },
    '/v1/responses/{response_id}/input_items': {
      get: v1Only(
        operation('The input items of a stored response, paged', ref('ResponseItemList'), {
          parameters: [
            responseId,
            { name: 'after', in: 'query', schema: { type: 'string' } },
            { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 100 } },
            { name: 'order', in: 'query', schema: { enum: ['asc', 'desc'] } },
          ],
        }),
      ),
    },
  };
}

/** What the caller used, may spend and has left: usage, spend limit, rate limits. */
function usagePaths(): Record<string, Schema> {
  return {
    '/v1/usage': {
      get: operation('Requests, tokens and cost per day or model', ref('UsageList'), {
        description:
          "The organization's usage. A project key sees its project's fine-tuned models by name only: " +
          'any other `ft:` model (another project’s, or a deleted one) is reported as `ft:unlisted`.',
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
              properties: {
                name: { type: 'string', maxLength: 64 },
                permissions: {
                  anyOf: [
                    { enum: ['all', 'read_only'] },
                    {
                      type: 'object',
                      additionalProperties: { enum: ['none', 'read', 'write'] },
                    },
                  ],
                },
              },
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

const PAGE_PARAMETERS = [
  { name: 'after', in: 'query', schema: { type: 'string' } },
  { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 100 } },
];
const nameBody = (maxLength: number) => ({
  required: true,
  content: json({
    type: 'object',
    properties: { name: { type: 'string', maxLength } },
    required: ['name'],
  }),
});

/** OpenAI's administration API: projects, their keys, admin keys, the audit log. */
function organizationPaths(): Record<string, Schema> {
  const project = [pathParameter('project_id')];
  const projectKey = [pathParameter('project_id'), pathParameter('api_key_id')];
  return {
    '/v1/organization/projects': {
      get: operation("The organization's projects, the default one first", ref('ProjectList'), {
        parameters: [
          ...PAGE_PARAMETERS,
          { name: 'include_archived', in: 'query', schema: { type: 'boolean' } },
        ],
      }),
      post: operation('Create a project', ref('Project'), { requestBody: nameBody(100) }),
    },
    '/v1/organization/projects/{project_id}': {
      get: operation('A project of the organization', ref('Project'), { parameters: project }),
      post: operation('Rename a project', ref('Project'), {
        parameters: project,
        requestBody: nameBody(100),
      }),
    },
    '/v1/organization/projects/{project_id}/archive': {
      post: operation('Archive a project and revoke its keys', ref('Project'), {
        parameters: project,
      }),
    },
    '/v1/organization/projects/{project_id}/api_keys': {
      get: operation("A project's active API keys", ref('ProjectApiKeyList'), {
        parameters: [...project, ...PAGE_PARAMETERS],
      }),
    },
    '/v1/organization/projects/{project_id}/api_keys/{api_key_id}': {
      get: operation("A project's API key", ref('ProjectApiKey'), { parameters: projectKey }),
      delete: operation("Revoke a project's API key", ref('ProjectApiKeyDeleted'), {
        parameters: projectKey,
      }),
    },
    ...projectLimitPaths(),
    ...organizationSpendPaths(),
    '/v1/organization/admin_api_keys': {
      get: operation("The organization's admin keys", ref('AdminApiKeyList'), {
        parameters: [
          ...PAGE_PARAMETERS,
          { name: 'order', in: 'query', schema: { enum: ['asc', 'desc'] } },
        ],
      }),
      post: operation(
        "Create an admin key (an owner's console session only); the secret is in this answer only",
        ref('CreatedAdminApiKey'),
        { requestBody: nameBody(64) },
      ),
    },
    '/v1/organization/admin_api_keys/{key_id}': {
      get: operation('An admin key', ref('AdminApiKey'), { parameters: [pathParameter('key_id')] }),
      delete: operation('Revoke an admin key', ref('AdminApiKeyDeleted'), {
        parameters: [pathParameter('key_id')],
      }),
    },
    '/v1/organization/audit_logs': {
      get: operation('Administrative actions, newest first', ref('AuditLogList'), {
        parameters: PAGE_PARAMETERS,
      }),
    },
    ...organizationUsagePaths(),
  };
}

/** A project's own rate limits and spend limit, within the organization's. */
function projectLimitPaths(): Record<string, Schema> {
  const project = [pathParameter('project_id')];
  return {
    '/v1/organization/projects/{project_id}/rate_limits': {
      get: operation(
        "A project's rate limits per model: the organization's, narrowed by the project's own",
        ref('ProjectRateLimitList'),
        { parameters: [...project, ...PAGE_PARAMETERS] },
      ),
    },
    '/v1/organization/projects/{project_id}/rate_limits/{rate_limit_id}': {
      post: operation(
        "Narrow a project's limits of one model (never past the organization's)",
        ref('ProjectRateLimit'),
        {
          parameters: [...project, pathParameter('rate_limit_id')],
          requestBody: {
            required: true,
            content: json({
              type: 'object',
              properties: Object.fromEntries(
                [
                  'max_requests_per_1_minute',
                  'max_tokens_per_1_minute',
                  'max_requests_per_1_day',
                ].map((name) => [name, { type: 'integer', minimum: 1 }]),
              ),
              additionalProperties: false,
            }),
          },
        },
      ),
    },
    '/v1/organization/projects/{project_id}/spend_limit': {
      // Set first: the route walk takes a path's operations in this order.
      post: operation(
        "Set a project's monthly spend limit, at most the organization's",
        ref('ProjectSpendLimit'),
        { parameters: project, requestBody: SPEND_LIMIT_BODY },
      ),
      get: operation(
        "A project's monthly spend limit (404 without one)",
        ref('ProjectSpendLimit'),
        {
          parameters: project,
        },
      ),
      delete: operation("Remove a project's spend limit", ref('ProjectSpendLimitDeleted'), {
        parameters: project,
      }),
    },
  };
}

const SPEND_LIMIT_BODY = {
  required: true,
  content: json({
    type: 'object',
    properties: {
      threshold_amount: { type: 'integer', minimum: 1, description: 'Cents' },
      currency: { enum: ['USD'] },
      interval: { enum: ['month'] },
    },
    required: ['threshold_amount', 'currency', 'interval'],
    additionalProperties: false,
  }),
};
const SPEND_ALERT_BODY = {
  required: true,
  content: json({
    type: 'object',
    properties: {
      threshold_amount: { type: 'integer', minimum: 0, description: 'Cents' },
      currency: { enum: ['USD'] },
      interval: { enum: ['month'] },
      notification_channel: {
        type: 'object',
        properties: {
          type: { enum: ['email'] },
          recipients: {
            type: 'array',
            items: { type: 'string', format: 'email', maxLength: 254 },
            minItems: 1,
            maxItems: 10,
          },
          subject_prefix: { type: ['string', 'null'], maxLength: 100 },
        },
        required: ['type', 'recipients'],
        additionalProperties: false,
      },
    },
    required: ['threshold_amount', 'currency', 'interval', 'notification_channel'],
    additionalProperties: false,
  }),
};
const ALERT_PAGE_PARAMETERS = [
  ...PAGE_PARAMETERS,
  { name: 'before', in: 'query', schema: { type: 'string' } },
  { name: 'order', in: 'query', schema: { enum: ['asc', 'desc'] } },
];

/** The organization's spend limit, and the spend alerts of the organization and its projects. */
function organizationSpendPaths(): Record<string, Schema> {
  const alert = [pathParameter('alert_id')];
  const project = [pathParameter('project_id')];
  return {
    '/v1/organization/spend_limit': {
      // Set first: the route walk takes a path's operations in this order.
      post: operation(
        "Set the organization's monthly spend limit (the same limit as /v1/spend_limit)",
        ref('OrganizationSpendLimit'),
        { requestBody: SPEND_LIMIT_BODY },
      ),
      get: operation(
        "The organization's monthly spend limit (404 without one)",
        ref('OrganizationSpendLimit'),
      ),
      delete: operation(
        "Remove the organization's own spend limit (the tier's default, if any, applies)",
        ref('OrganizationSpendLimitDeleted'),
      ),
    },
    '/v1/organization/spend_alerts': {
      get: operation("The organization's spend alerts", ref('OrganizationSpendAlertList'), {
        parameters: ALERT_PAGE_PARAMETERS,
      }),
      post: operation(
        'E-mail these recipients once a month when the month’s spend passes the threshold',
        ref('OrganizationSpendAlert'),
        { requestBody: SPEND_ALERT_BODY },
      ),
    },
    '/v1/organization/spend_alerts/{alert_id}': {
      get: operation('A spend alert of the organization', ref('OrganizationSpendAlert'), {
        parameters: alert,
      }),
      post: operation('Replace a spend alert', ref('OrganizationSpendAlert'), {
        parameters: alert,
        requestBody: SPEND_ALERT_BODY,
      }),
      delete: operation('Delete a spend alert', ref('OrganizationSpendAlertDeleted'), {
        parameters: alert,
      }),
    },
    '/v1/organization/projects/{project_id}/spend_alerts': {
      get: operation("A project's spend alerts", ref('ProjectSpendAlertList'), {
        parameters: [...project, ...ALERT_PAGE_PARAMETERS],
      }),
      post: operation(
        'E-mail these recipients once a month when the project’s month passes the threshold',
        ref('ProjectSpendAlert'),
        { parameters: project, requestBody: SPEND_ALERT_BODY },
      ),
    },
    '/v1/organization/projects/{project_id}/spend_alerts/{alert_id}': {
      get: operation('A spend alert of a project', ref('ProjectSpendAlert'), {
        parameters: [...project, ...alert],
      }),
      post: operation("Replace a project's spend alert", ref('ProjectSpendAlert'), {
        parameters: [...project, ...alert],
        requestBody: SPEND_ALERT_BODY,
      }),
      delete: operation("Delete a project's spend alert", ref('ProjectSpendAlertDeleted'), {
        parameters: [...project, ...alert],
      }),
    },
  };
}

/** OpenAI's usage and costs: time buckets of the ledger's records, grouped and filtered. */
function organizationUsagePaths(): Record<string, Schema> {
  const query = (name: string, schema: Schema, required = false) => ({
    name,
    in: 'query',
    ...(required ? { required } : {}),
    schema,
  });
  const strings = (name: string) => query(name, { type: 'array', items: { type: 'string' } });
  const groupBy = (fields: string[]) =>
    query('group_by', { type: 'array', items: { enum: fields } });
  const range = (widths: string[], maxLimit: number) => [
    query('start_time', { type: 'integer', minimum: 0 }, true),
    query('end_time', { type: 'integer', minimum: 0 }),
    query('bucket_width', { enum: widths }),
    query('limit', { type: 'integer', minimum: 1, maximum: maxLimit }),
    query('page', { type: 'string' }),
    strings('project_ids'),
    strings('api_key_ids'),
  ];
  return {
    '/v1/organization/usage/completions': {
      get: operation('Tokens and requests per time bucket', ref('CompletionsUsagePage'), {
        parameters: [
          ...range(['1m', '1h', '1d'], 1_440),
          strings('user_ids'),
          strings('models'),
          query('batch', { type: 'boolean' }),
          groupBy(['project_id', 'user_id', 'api_key_id', 'model', 'batch', 'service_tier']),
        ],
      }),
    },
    '/v1/organization/usage/audio_transcriptions': {
      get: operation(
        'Seconds of audio transcribed per time bucket',
        ref('TranscriptionsUsagePage'),
        {
          parameters: [
            ...range(['1m', '1h', '1d'], 1_440),
            strings('user_ids'),
            strings('models'),
            groupBy(['project_id', 'user_id', 'api_key_id', 'model']),
          ],
        },
      ),
    },
    '/v1/organization/costs': {
      get: operation('What was billed per day, in USD', ref('CostsPage'), {
        parameters: [...range(['1d'], 180), groupBy(['project_id', 'line_item', 'api_key_id'])],
      }),
    },
  };
}

const roleBody = (properties: Schema, required: string[]) => ({
  required: true,
  content: json({ type: 'object', properties, required }),
});

/** OpenAI's members and invites, and accepting an invite (a signed-in session's own route). */
function memberPaths(): Record<string, Schema> {
  const user = [pathParameter('user_id')];
  const invite = [pathParameter('invite_id')];
  const role = { enum: ['owner', 'reader'] };
  return {
    '/v1/organization/users': {
      get: operation("The organization's members, oldest first", ref('OrganizationUserList'), {
        parameters: [
          ...PAGE_PARAMETERS,
          { name: 'emails', in: 'query', schema: { type: 'array', items: { type: 'string' } } },
        ],
      }),
    },
    '/v1/organization/users/{user_id}': {
      get: operation('A member', ref('OrganizationUser'), { parameters: user }),
      post: operation(
        "Change a member's role (the last owner stays one)",
        ref('OrganizationUser'),
        {
          parameters: user,
          requestBody: roleBody({ role }, ['role']),
        },
      ),
      delete: operation('Remove a member (not the last owner)', ref('OrganizationUserDeleted'), {
        parameters: user,
      }),
    },
    '/v1/organization/invites': {
      get: operation("The organization's invites, oldest first", ref('InviteList'), {
        parameters: PAGE_PARAMETERS,
      }),
      post: operation('Invite an address (an e-mail with a link valid 7 days)', ref('Invite'), {
        requestBody: roleBody({ email: { type: 'string', maxLength: 254 }, role }, [
          'email',
          'role',
        ]),
      }),
    },
    '/v1/organization/invites/{invite_id}': {
      get: operation('An invite', ref('Invite'), { parameters: invite }),
      delete: operation('Delete a pending invite', ref('InviteDeleted'), { parameters: invite }),
    },
    '/v1/organization/invites/accept': {
      post: operation(
        "Accept an invite with the link's token, as the invited address's signed-in session",
        ref('InviteAccepted'),
        { requestBody: roleBody({ token: { type: 'string' } }, ['token']) },
      ),
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

/** The multipart fields of a speech-to-text request; `file` is the audio itself. */
function audioRequest(speechModels: string[], translation: boolean): Schema {
  const properties: Record<string, Schema> = {
    file: {
      type: 'string',
      contentMediaType: 'application/octet-stream',
      description:
        'flac, mp3, mp4, mpeg, mpga, m4a, ogg, wav or webm; the whole body at most 4 MiB',
    },
    model: { enum: speechModels },
    prompt: { type: 'string', maxLength: 1_000 },
    response_format: {
      enum: ['json', 'text', 'verbose_json', 'srt', 'vtt'],
      default: 'json',
      // Every backend gives segment times (on SageMaker, vLLM 0.31.0's verbose_json), so no 400 here.
      description: 'verbose_json, srt and vtt are written from the model’s segment times',
    },
    temperature: { type: 'number', minimum: 0, maximum: 1, default: 0 },
    url: {
      type: 'string',
      description:
        "Instead of `file` (Groq's field): one of your files of purpose user_data, by id (file-...) or " +
        'its /v1/files/{file_id}/content URL; up to 25 MB, uploaded with /v1/uploads above 4 MiB',
    },
  };
  if (!translation) {
    properties.language = { type: 'string', pattern: '^[a-z]{2,3}$' };
    properties['timestamp_granularities[]'] = {
      type: 'array',
      items: { enum: ['word', 'segment'] },
      // vLLM 0.31.0 parses timestamp_granularities but times no words (sagemaker-transcriber.ts).
      description:
        'verbose_json only; word is refused with a 400 on the SageMaker Whisper endpoint (vLLM 0.31.0 ' +
        'times no words)',
    };
  }
  return {
    required: true,
    content: {
      'multipart/form-data': {
        schema: {
          type: 'object',
          required: ['model'],
          oneOf: [{ required: ['file'] }, { required: ['url'] }],
          properties,
        },
      },
    },
  };
}

/** Speech-to-text: billed per hour of the file's measured audio, limited in audio seconds (ASH, ASD). */
function audioPaths(speechModels: string[]): Record<string, Schema> {
  const audioHeaders = Object.fromEntries(
    [
      'limit-requests',
      'remaining-requests',
      'reset-requests',
      'limit-audio-seconds',
      'remaining-audio-seconds',
      'reset-audio-seconds',
    ].map((name) => [`x-ratelimit-${name}`, { schema: { type: 'string' } }]),
  );
  const answer = (summary: string, translation: boolean): Schema => ({
    summary,
    requestBody: audioRequest(speechModels, translation),
    responses: {
      '200': {
        description:
          'OK: JSON for `json` and `verbose_json`, plain text for `text` and `srt`, WebVTT for `vtt`',
        headers: audioHeaders,
        content: {
          ...json({ anyOf: [ref('Transcription'), ref('VerboseTranscription')] }),
          'text/plain': { schema: { type: 'string' } },
          'text/vtt': { schema: { type: 'string' } },
        },
      },
      ...ERRORS,
      '403': error('The model is on a higher tier'),
      '413': error(
        'The request is over 4 MiB, a stored file (url) over 25 MB, or its audio over the hourly or daily audio seconds',
      ),
      '502': error('The model failed while answering (quotes the request id)'),
      '503': error('The model has no capacity right now (`retry-after` says when to retry)'),
    },
  });
  return {
    '/v1/audio/transcriptions': {
      post: answer('Transcribe an audio file (Whisper), in its language', false),
    },
    '/v1/audio/translations': {
      post: answer('Translate an audio file into English text (Whisper)', true),
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
    ...responsesPaths(),
    ...audioPaths(Object.keys(config.speechModels)),
    ...usagePaths(),
    ...keyPaths(),
    ...organizationPaths(),
    ...memberPaths(),
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
        CreateResponseRequest: requestSchema(responsesRequestSchema),
        InputTokensRequest: requestSchema(inputTokensRequestSchema),
        SpendLimitUpdate: requestSchema(spendLimitUpdateSchema),
        ...responseJsonSchemas(),
      },
    },
  };
  return cached;
}
