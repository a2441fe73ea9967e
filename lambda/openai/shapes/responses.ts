import * as z from 'zod/mini';
import { count, metadata } from './common';

/**
 * OpenAI's Responses API as Tierline answers it (https://platform.openai.com/docs/api-reference/responses):
 * the response object, its output and input items, the streamed events, the input-token count and
 * the deletion. Only the item kinds an open model produces (messages, function calls, reasoning).
 */

const itemStatus = z.enum(['in_progress', 'completed', 'incomplete']);

export const outputTextShape = z.object({
  type: z.literal('output_text'),
  text: z.string(),
  annotations: z.array(z.unknown()),
  logprobs: z.array(z.unknown()),
});
const refusalShape = z.object({ type: z.literal('refusal'), refusal: z.string() });
const inputTextShape = z.object({ type: z.literal('input_text'), text: z.string() });
const reasoningTextShape = z.object({ type: z.literal('reasoning_text'), text: z.string() });

export const outputMessageShape = z.object({
  type: z.literal('message'),
  id: z.string(),
  role: z.literal('assistant'),
  status: itemStatus,
  content: z.array(z.union([outputTextShape, refusalShape])),
});
export const functionCallShape = z.object({
  type: z.literal('function_call'),
  id: z.string(),
  call_id: z.string(),
  name: z.string(),
  arguments: z.string(),
  status: itemStatus,
});
export const reasoningItemShape = z.object({
  type: z.literal('reasoning'),
  id: z.string(),
  summary: z.array(z.object({ type: z.literal('summary_text'), text: z.string() })),
  content: z.optional(z.array(reasoningTextShape)),
  status: z.optional(itemStatus),
});
export const outputItemShape = z.union([outputMessageShape, functionCallShape, reasoningItemShape]);
export type OutputItem = z.output<typeof outputItemShape>;

const inputMessageShape = z.object({
  type: z.literal('message'),
  id: z.string(),
  role: z.enum(['user', 'system', 'developer']),
  status: itemStatus,
  content: z.array(inputTextShape),
});
const functionCallOutputShape = z.object({
  type: z.literal('function_call_output'),
  id: z.string(),
  call_id: z.string(),
  output: z.string(),
  status: itemStatus,
});
/** An input item of a stored response (`GET /v1/responses/{id}/input_items`). */
export const responseItemShape = z.union([
  inputMessageShape,
  outputMessageShape,
  functionCallShape,
  functionCallOutputShape,
  reasoningItemShape,
]);
export type ResponseItem = z.output<typeof responseItemShape>;

export const responseUsageShape = z.object({
  input_tokens: count(),
  input_tokens_details: z.object({ cached_tokens: count(), cache_write_tokens: count() }),
  output_tokens: count(),
  output_tokens_details: z.object({ reasoning_tokens: count() }),
  total_tokens: count(),
});
export type ResponseUsage = z.output<typeof responseUsageShape>;

const textFormatShape = z.union([
  z.object({ type: z.literal('text') }),
  z.object({ type: z.literal('json_object') }),
  z.object({
    type: z.literal('json_schema'),
    name: z.string(),
    description: z.optional(z.string()),
    schema: z.record(z.string(), z.unknown()),
    strict: z.optional(z.nullable(z.boolean())),
  }),
]);

export const responseShape = z.object({
  id: z.string().check(z.regex(/^resp_/)),
  object: z.literal('response'),
  created_at: count(),
  completed_at: z.nullable(count()),
  status: z.enum(['completed', 'failed', 'in_progress', 'cancelled', 'queued', 'incomplete']),
  error: z.nullable(
    z.object({ code: z.enum(['server_error', 'rate_limit_exceeded']), message: z.string() }),
  ),
  incomplete_details: z.nullable(z.object({ reason: z.enum(['max_output_tokens']) })),
  model: z.string(),
  instructions: z.nullable(z.string()),
  max_output_tokens: z.nullable(count()),
  temperature: z.number(),
  top_p: z.number(),
  tools: z.array(
    z.object({
      type: z.literal('function'),
      name: z.string(),
      description: z.nullable(z.string()),
      parameters: z.nullable(z.record(z.string(), z.unknown())),
      strict: z.nullable(z.boolean()),
    }),
  ),
  tool_choice: z.union([
    z.enum(['none', 'auto', 'required']),
    z.object({ type: z.literal('function'), name: z.string() }),
  ]),
  parallel_tool_calls: z.boolean(),
  metadata: metadata(),
  previous_response_id: z.nullable(z.string()),
  store: z.boolean(),
  truncation: z.enum(['auto', 'disabled']),
  service_tier: z.literal('default'),
  text: z.object({ format: textFormatShape }),
  reasoning: z.object({ effort: z.nullable(z.string()), summary: z.null() }),
  background: z.literal(false),
  user: z.optional(z.string()),
  output: z.array(outputItemShape),
  usage: z.optional(responseUsageShape),
});
export type ResponseObject = z.output<typeof responseShape>;

export const responseDeletedShape = z.object({
  id: z.string(),
  object: z.literal('response'),
  deleted: z.literal(true),
});

export const responseItemListShape = z.object({
  object: z.literal('list'),
  data: z.array(responseItemShape),
  has_more: z.boolean(),
  first_id: z.nullable(z.string()),
  last_id: z.nullable(z.string()),
});

export const inputTokensShape = z.object({
  object: z.literal('response.input_tokens'),
  input_tokens: count(),
});

const sequenced = { sequence_number: count() };
const lifecycle = <T extends string>(type: T) =>
  z.object({ type: z.literal(type), response: responseShape, ...sequenced });
const textPlace = { item_id: z.string(), output_index: count(), content_index: count() };

/** Every event a streamed response sends, in `event:`/`data:` pairs (no `[DONE]`). */
export const responseStreamEventShape = z.union([
  lifecycle('response.created'),
  lifecycle('response.in_progress'),
  lifecycle('response.completed'),
  lifecycle('response.incomplete'),
  lifecycle('response.failed'),
  z.object({
    type: z.enum(['response.output_item.added', 'response.output_item.done']),
    output_index: count(),
    item: outputItemShape,
    ...sequenced,
  }),
  z.object({
    type: z.enum(['response.content_part.added', 'response.content_part.done']),
    ...textPlace,
    part: z.union([outputTextShape, reasoningTextShape]),
    ...sequenced,
  }),
  z.object({
    type: z.literal('response.output_text.delta'),
    ...textPlace,
    delta: z.string(),
    logprobs: z.array(z.unknown()),
    ...sequenced,
  }),
  z.object({
    type: z.literal('response.output_text.done'),
    ...textPlace,
    text: z.string(),
    logprobs: z.array(z.unknown()),
    ...sequenced,
  }),
  z.object({
    type: z.literal('response.reasoning_text.delta'),
    ...textPlace,
    delta: z.string(),
    ...sequenced,
  }),
  z.object({
    type: z.literal('response.reasoning_text.done'),
    ...textPlace,
    text: z.string(),
    ...sequenced,
  }),
  z.object({
    type: z.literal('response.function_call_arguments.delta'),
    item_id: z.string(),
    output_index: count(),
    delta: z.string(),
    ...sequenced,
  }),
  z.object({
    type: z.literal('response.function_call_arguments.done'),
    item_id: z.string(),
    output_index: count(),
    name: z.string(),
    arguments: z.string(),
    ...sequenced,
  }),
  z.object({
    type: z.literal('error'),
    code: z.nullable(z.string()),
    message: z.string(),
    param: z.nullable(z.string()),
    ...sequenced,
  }),
]);
export type ResponseStreamEvent = z.output<typeof responseStreamEventShape>;
