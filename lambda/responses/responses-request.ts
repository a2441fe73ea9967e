import * as z from 'zod/mini';
import type { ChatMessage, ChatRequest } from '../inference/chat-request';
import { refuseOversizedSchema } from '../inference/json-schema-bounds';
import { REASONING_EFFORTS } from '../inference/reasoning';
import { refuseDeepNesting, requestError } from '../inference/request-errors';
import { BadRequestError } from '../openai/errors';

/**
 * The body of `POST /v1/responses` (OpenAI's CreateResponse, the part an open model can honour),
 * validated with zod/mini and worded as chat's 400s are (`request-errors.ts`). Unknown fields are
 * refused naming the field: a hosted tool, `conversation` or `prompt` is a 400, never ignored.
 */

const itemStatus = z.optional(z.enum(['in_progress', 'completed', 'incomplete']));
/**
 * The longest item id or call id taken. Ids are stored with the response and never sent to the
 * model, so no token pays for them: unbounded, a 2 MB id rode on a two-token message. OpenAI's ids
 * are short prefixed strings (`msg_…`, `fc_…`); its spec bounds `call_id` at 64 on some items and
 * item ids not at all, so ours is 256: room for any id we or a backend hand out, refused past it.
 */
export const MAX_ITEM_ID_LENGTH = 256;
const itemId = z.optional(z.string().check(z.maxLength(MAX_ITEM_ID_LENGTH)));
const callId = z.string().check(z.minLength(1), z.maxLength(MAX_ITEM_ID_LENGTH));
const inputText = z.strictObject({ type: z.literal('input_text'), text: z.string() });
/** What our own answers carry, sent back as input in the next turn. */
const outputText = z.strictObject({
  type: z.literal('output_text'),
  text: z.string(),
  annotations: z.optional(z.array(z.unknown())),
  logprobs: z.optional(z.array(z.unknown())),
});
const refusal = z.strictObject({ type: z.literal('refusal'), refusal: z.string() });
const nonEmpty = <T extends z.ZodMiniType>(part: T) => z.array(part).check(z.minLength(1));

const instructionMessage = z.strictObject({
  type: z.optional(z.literal('message')),
  id: itemId,
  status: itemStatus,
  role: z.enum(['user', 'system', 'developer']),
  content: z.union([z.string(), nonEmpty(inputText)]),
});
const assistantMessage = z.strictObject({
  type: z.optional(z.literal('message')),
  id: itemId,
  status: itemStatus,
  role: z.literal('assistant'),
  content: z.union([z.string(), nonEmpty(z.union([outputText, refusal, inputText]))]),
});
const functionCall = z.strictObject({
  type: z.literal('function_call'),
  id: itemId,
  status: itemStatus,
  call_id: callId,
  name: z.string().check(z.minLength(1)),
  arguments: z.string(),
});
const functionCallOutput = z.strictObject({
  type: z.literal('function_call_output'),
  id: itemId,
  status: itemStatus,
  call_id: callId,
  output: z.string(),
});
/** A reasoning item of an earlier answer sent back: accepted, and left out upstream (Qwen3's template drops earlier turns' thinking). */
const reasoningItem = z.strictObject({
  type: z.literal('reasoning'),
  id: itemId,
  status: itemStatus,
  summary: z.array(z.unknown()),
  content: z.optional(z.array(z.unknown())),
  encrypted_content: z.optional(z.nullable(z.string())),
});

const inputItem = z.union([
  instructionMessage,
  assistantMessage,
  functionCall,
  functionCallOutput,
  reasoningItem,
]);
export type InputItem = z.infer<typeof inputItem>;

const functionTool = z.strictObject({
  type: z.literal('function'),
  name: z.string().check(z.minLength(1), z.maxLength(64)),
  description: z.optional(z.nullable(z.string())),
  parameters: z.optional(z.nullable(z.record(z.string(), z.unknown()))),
  strict: z.optional(z.nullable(z.boolean())),
});
export type FunctionTool = z.infer<typeof functionTool>;

const textFormat = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('text') }),
  z.strictObject({ type: z.literal('json_object') }),
  z.strictObject({
    type: z.literal('json_schema'),
    name: z.string().check(z.minLength(1), z.maxLength(64)),
    description: z.optional(z.string()),
    schema: z.record(z.string(), z.unknown()),
    strict: z.optional(z.nullable(z.boolean())),
  }),
]);

/** OpenAI's: at most 16 pairs, keys of 64 characters at most, values of 512. */
const metadata = z
  .record(z.string().check(z.maxLength(64)), z.string().check(z.maxLength(512)))
  .check(
    z.refine((value) => Object.keys(value).length <= 16, 'metadata may hold at most 16 pairs'),
  );

const positiveInt = z.int().check(z.minimum(1));

export const responsesRequestSchema = z.strictObject({
  model: z.string().check(z.minLength(1)),
  input: z.union([z.string(), nonEmpty(inputItem)]),
  instructions: z.optional(z.nullable(z.string())),
  max_output_tokens: z.optional(z.nullable(positiveInt)),
  temperature: z.optional(z.nullable(z.number().check(z.minimum(0), z.maximum(2)))),
  top_p: z.optional(z.nullable(z.number().check(z.minimum(0), z.maximum(1)))),
  text: z.optional(z.nullable(z.strictObject({ format: z.optional(textFormat) }))),
  tools: z.optional(z.nullable(z.array(functionTool))),
  tool_choice: z.optional(
    z.nullable(
      z.union([
        z.enum(['none', 'auto', 'required']),
        z.strictObject({ type: z.literal('function'), name: z.string() }),
      ]),
    ),
  ),
  parallel_tool_calls: z.optional(z.nullable(z.boolean())),
  metadata: z.optional(z.nullable(metadata)),
  store: z.optional(z.nullable(z.boolean())),
  previous_response_id: z.optional(z.nullable(z.string().check(z.minLength(1)))),
  truncation: z.optional(z.nullable(z.enum(['auto', 'disabled']))),
  service_tier: z.optional(
    z.nullable(z.enum(['auto', 'default', 'flex', 'scale', 'priority', 'fast', 'ultrafast'])),
  ),
  reasoning: z.optional(
    z.nullable(
      z.strictObject({
        effort: z.optional(z.nullable(z.enum(REASONING_EFFORTS))),
        summary: z.optional(z.nullable(z.enum(['auto', 'concise', 'detailed']))),
      }),
    ),
  ),
  stream: z.optional(z.nullable(z.boolean())),
  stream_options: z.optional(
    z.nullable(z.strictObject({ include_obfuscation: z.optional(z.boolean()) })),
  ),
  background: z.optional(z.nullable(z.boolean())),
  include: z.optional(z.nullable(z.array(z.string()))),
  user: z.optional(z.nullable(z.string())),
  safety_identifier: z.optional(z.nullable(z.string())),
  prompt_cache_key: z.optional(z.nullable(z.string())),
});
export type ResponsesRequest = z.infer<typeof responsesRequestSchema>;

/** Refusals of values the schema lets through: each a 400 naming its parameter. */
function refuseUnservable(request: ResponsesRequest): void {
  // A Lambda answers within its request; nothing would hold a response running after it.
  if (request.background === true) {
    throw new BadRequestError(
      "'background' is not supported: responses run within the request (stream it for long answers).",
      { param: 'background', code: 'unsupported_parameter' },
    );
  }
  // One processing tier: `auto` and `default` are it; another would promise what is not served.
  const tier = request.service_tier;
  if (tier != null && tier !== 'auto' && tier !== 'default') {
    throw new BadRequestError(
      `'service_tier' '${tier}' is not available: use 'auto' or 'default'.`,
      { param: 'service_tier', code: 'unsupported_value' },
    );
  }
  if (request.stream_options && !request.stream) {
    throw new BadRequestError("'stream_options' is only allowed when 'stream' is true.", {
      param: 'stream_options',
      code: 'invalid_value',
    });
  }
  if (request.reasoning?.summary != null) {
    throw new BadRequestError(
      "'reasoning.summary' is not supported: the reasoning is returned as it was generated.",
      { param: 'reasoning.summary', code: 'unsupported_parameter' },
    );
  }
  // Logprobs are not served (chat refuses them on these backends too); the rest only add detail.
  const refused = request.include?.find((value) => value !== 'reasoning.encrypted_content');
  if (refused !== undefined) {
    throw new BadRequestError(`'include' value '${refused}' is not supported.`, {
      param: 'include',
      code: 'unsupported_value',
    });
  }
}

/**
 * Input items are paged by id (`after`): two items sharing one would make a cursor that names
 * the first again and again, and a client's paging would never end.
 */
function refuseDuplicateItemIds(input: ResponsesRequest['input']): void {
  if (typeof input === 'string') return;
  const seen = new Set<string>();
  input.forEach((item, index) => {
    if (item.id === undefined) return;
    if (seen.has(item.id)) {
      throw new BadRequestError(
        `Duplicate item found with id '${item.id.slice(0, 100)}': each input item's id must be unique.`,
        { param: `input[${index}].id`, code: 'invalid_value' },
      );
    }
    seen.add(item.id);
  });
}

/** The structured-output schema, echoed in every stored response: bounded as chat's is. */
function refuseOversizedFormat(text: ResponsesRequest['text']): void {
  const format = text?.format;
  if (format?.type === 'json_schema') refuseOversizedSchema(format.schema, 'text.format.schema');
}

/** Validates a parsed JSON body. Throws a 400 {@link BadRequestError} with `param` set. */
export function parseResponsesRequest(body: unknown): ResponsesRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new BadRequestError('The request body must be a JSON object.');
  }
  refuseDeepNesting(body as Record<string, unknown>);
  const result = responsesRequestSchema.safeParse(body);
  if (!result.success) throw requestError(result.error.issues, body, responsesRequestSchema);
  refuseUnservable(result.data);
  refuseOversizedFormat(result.data.text);
  refuseDuplicateItemIds(result.data.input);
  return result.data;
}

/**
 * The body of `POST /v1/responses/input_tokens`: what decides the prompt (OpenAI's
 * TokenCountsBody), the model required since its tokenizer does the counting.
 */
export const inputTokensRequestSchema = z.strictObject({
  model: responsesRequestSchema.shape.model,
  input: responsesRequestSchema.shape.input,
  instructions: responsesRequestSchema.shape.instructions,
  previous_response_id: responsesRequestSchema.shape.previous_response_id,
  tools: responsesRequestSchema.shape.tools,
  tool_choice: responsesRequestSchema.shape.tool_choice,
  parallel_tool_calls: responsesRequestSchema.shape.parallel_tool_calls,
  text: responsesRequestSchema.shape.text,
  reasoning: responsesRequestSchema.shape.reasoning,
  truncation: responsesRequestSchema.shape.truncation,
});
export type InputTokensRequest = z.infer<typeof inputTokensRequestSchema>;

export function parseInputTokensRequest(body: unknown): InputTokensRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new BadRequestError('The request body must be a JSON object.');
  }
  refuseDeepNesting(body as Record<string, unknown>);
  const result = inputTokensRequestSchema.safeParse(body);
  if (!result.success) throw requestError(result.error.issues, body, inputTokensRequestSchema);
  refuseOversizedFormat(result.data.text);
  return result.data;
}

/** The input as items: a string is one user message. */
export function inputItems(request: Pick<ResponsesRequest, 'input'>): InputItem[] {
  return typeof request.input === 'string'
    ? [{ role: 'user', content: request.input }]
    : request.input;
}

function textOf(content: string | readonly { type: string; text?: string; refusal?: string }[]) {
  if (typeof content === 'string') return content;
  return content.map((part) => part.text ?? part.refusal ?? '').join('');
}

/**
 * Input items as chat messages: function calls join the assistant message before them (one
 * assistant turn with its tool calls), their outputs become `tool` messages, reasoning items are
 * dropped.
 */
export function messagesOfItems(items: readonly InputItem[]): ChatMessage[] {
  return itemsAsMessages(items).messages;
}

/**
 * {@link messagesOfItems}, with the index of the message each item went into (a reasoning item,
 * never sent: the next message's, so it goes with that one when truncation drops it).
 */
export function itemsAsMessages(items: readonly InputItem[]): {
  messages: ChatMessage[];
  messageOf: number[];
} {
  const messages: ChatMessage[] = [];
  const messageOf: number[] = [];
  for (const item of items) {
    asMessage(messages, item);
    messageOf.push(item.type === 'reasoning' ? messages.length : messages.length - 1);
  }
  return { messages, messageOf };
}

/** Adds one input item to `messages`: a message of its own, or a tool call of the assistant's before it. */
function asMessage(messages: ChatMessage[], item: InputItem): void {
  if (item.type === 'reasoning') return;
  if (item.type === 'function_call') {
    const call = {
      id: item.call_id,
      type: 'function' as const,
      function: { name: item.name, arguments: item.arguments },
    };
    const last = messages.at(-1);
    if (last?.role === 'assistant') last.tool_calls = [...(last.tool_calls ?? []), call];
    else messages.push({ role: 'assistant', content: null, tool_calls: [call] });
    return;
  }
  if (item.type === 'function_call_output') {
    messages.push({ role: 'tool', content: item.output, tool_call_id: item.call_id });
    return;
  }
  if (item.role === 'assistant') {
    messages.push({ role: 'assistant', content: textOf(item.content) });
    return;
  }
  messages.push({ role: item.role, content: textOf(item.content) });
}

/** Chat's name for each Responses parameter a 400 may name. */
const RESPONSES_PARAM: Record<string, string> = {
  max_completion_tokens: 'max_output_tokens',
  max_tokens: 'max_output_tokens',
  response_format: 'text.format',
  reasoning_effort: 'reasoning.effort',
  messages: 'input',
};

/** The Responses name of a chat request's parameter, for the pipeline's 400s. */
export const responsesParamName = (chatParam: string): string =>
  RESPONSES_PARAM[chatParam] ?? chatParam;

/**
 * The chat request the pipeline runs: the instructions first (never carried over from an earlier
 * response, as OpenAI does), the earlier conversation, then this input.
 */
export function chatRequestOf(
  request: ResponsesRequest | InputTokensRequest,
  earlier: readonly ChatMessage[],
): ChatRequest {
  const given: Partial<ResponsesRequest> = request;
  const format = request.text?.format;
  const messages: ChatMessage[] = [
    ...(request.instructions ? [{ role: 'system' as const, content: request.instructions }] : []),
    ...earlier,
    ...messagesOfItems(inputItems(request)),
  ];
  const choice = request.tool_choice;
  return {
    model: request.model,
    messages,
    max_completion_tokens: given.max_output_tokens ?? undefined,
    temperature: given.temperature ?? undefined,
    top_p: given.top_p ?? undefined,
    // Plain text is every model's default: not sent, so a backend without JSON mode still serves it.
    response_format:
      format === undefined || format.type === 'text'
        ? undefined
        : format.type === 'json_object'
          ? { type: 'json_object' }
          : {
              type: 'json_schema',
              json_schema: {
                name: format.name,
                description: format.description,
                schema: format.schema,
                strict: format.strict,
              },
            },
    tools:
      request.tools && request.tools.length > 0
        ? request.tools.map((tool) => ({
            type: 'function' as const,
            function: {
              name: tool.name,
              description: tool.description ?? undefined,
              parameters: tool.parameters ?? undefined,
              strict: tool.strict,
            },
          }))
        : undefined,
    tool_choice:
      choice == null
        ? undefined
        : typeof choice === 'string'
          ? choice
          : { type: 'function', function: { name: choice.name } },
    parallel_tool_calls: request.parallel_tool_calls ?? undefined,
    reasoning_effort: request.reasoning?.effort ?? undefined,
    stream: given.stream ?? undefined,
    stream_options: given.stream ? { include_usage: true } : undefined,
  };
}
