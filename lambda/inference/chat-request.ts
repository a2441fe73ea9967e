import * as z from 'zod/mini';
import { BadRequestError } from '../openai/errors';
import { refuseOversizedSchema } from './json-schema-bounds';
import { REASONING_EFFORTS, REASONING_FORMATS } from './reasoning';
import { refuseDeepNesting, requestError } from './request-errors';

/**
 * The OpenAI chat completion request, validated. zod/mini (not classic zod) keeps the API bundle
 * small: about 20 KB instead of 450 KB, which shows in cold starts. Unknown top-level fields are
 * refused (400 naming the field) rather than silently ignored.
 */

const textPart = z.strictObject({ type: z.literal('text'), text: z.string() });
const imagePart = z.strictObject({
  type: z.literal('image_url'),
  image_url: z.strictObject({
    url: z.string(),
    detail: z.optional(z.enum(['auto', 'low', 'high'])),
  }),
});
/** OpenAI's spec: an array of content parts has at least one (`minItems: 1`). */
const parts = <T extends z.ZodMiniType>(part: T) => z.array(part).check(z.minLength(1));
const textContent = z.union([z.string(), parts(textPart)]);

const toolCall = z.strictObject({
  id: z.string(),
  type: z.literal('function'),
  function: z.strictObject({ name: z.string(), arguments: z.string() }),
});

const message = z.discriminatedUnion('role', [
  z.strictObject({ role: z.literal('system'), content: textContent, name: z.optional(z.string()) }),
  // OpenAI's name for system instructions on newer models; open models' chat templates know only
  // `system`.
  z.strictObject({
    role: z.literal('developer'),
    content: textContent,
    name: z.optional(z.string()),
  }),
  z.strictObject({
    role: z.literal('user'),
    content: z.union([z.string(), parts(z.union([textPart, imagePart]))]),
    name: z.optional(z.string()),
  }),
  z.strictObject({
    role: z.literal('assistant'),
    content: z.optional(z.nullable(textContent)),
    // Our own answers carry `refusal: null`: a client that sends the answer back in the next turn
    // sends it too.
    refusal: z.optional(z.nullable(z.string())),
    // Groq's answers carry the thinking here (`reasoning_format: parsed`); sent back in the next
    // turn, it is accepted and left out upstream (Qwen3's template drops earlier turns' thinking).
    reasoning: z.optional(z.nullable(z.string())),
    name: z.optional(z.string()),
    tool_calls: z.optional(z.array(toolCall)),
  }),
  z.strictObject({ role: z.literal('tool'), content: textContent, tool_call_id: z.string() }),
]);
export type ChatMessage = z.infer<typeof message>;

const positiveInt = z.int().check(z.minimum(1));

export const chatRequestSchema = z.strictObject({
  model: z.string().check(z.minLength(1)),
  messages: z.array(message).check(z.minLength(1, 'messages must contain at least one message')),
  max_completion_tokens: z.optional(z.nullable(positiveInt)),
  max_tokens: z.optional(z.nullable(positiveInt)),
  temperature: z.optional(z.nullable(z.number().check(z.minimum(0), z.maximum(2)))),
  top_p: z.optional(z.nullable(z.number().check(z.minimum(0), z.maximum(1)))),
  frequency_penalty: z.optional(z.nullable(z.number().check(z.minimum(-2), z.maximum(2)))),
  presence_penalty: z.optional(z.nullable(z.number().check(z.minimum(-2), z.maximum(2)))),
  stop: z.optional(z.nullable(z.union([z.string(), z.array(z.string()).check(z.maxLength(4))]))),
  seed: z.optional(z.nullable(z.int())),
  n: z.optional(z.nullable(z.int())),
  stream: z.optional(z.nullable(z.boolean())),
  stream_options: z.optional(
    z.nullable(z.strictObject({ include_usage: z.optional(z.boolean()) })),
  ),
  response_format: z.optional(
    z.nullable(
      z.discriminatedUnion('type', [
        z.strictObject({ type: z.literal('text') }),
        z.strictObject({ type: z.literal('json_object') }),
        z.strictObject({
          type: z.literal('json_schema'),
          json_schema: z.strictObject({
            name: z.string(),
            description: z.optional(z.string()),
            schema: z.optional(z.record(z.string(), z.unknown())),
            strict: z.optional(z.nullable(z.boolean())),
          }),
        }),
      ]),
    ),
  ),
  tools: z.optional(
    z.nullable(
      z.array(
        z.strictObject({
          type: z.literal('function'),
          function: z.strictObject({
            name: z.string(),
            description: z.optional(z.string()),
            parameters: z.optional(z.record(z.string(), z.unknown())),
            strict: z.optional(z.nullable(z.boolean())),
          }),
        }),
      ),
    ),
  ),
  tool_choice: z.optional(
    z.nullable(
      z.union([
        z.enum(['none', 'auto', 'required']),
        z.strictObject({
          type: z.literal('function'),
          function: z.strictObject({ name: z.string() }),
        }),
      ]),
    ),
  ),
  parallel_tool_calls: z.optional(z.nullable(z.boolean())),
  logprobs: z.optional(z.nullable(z.boolean())),
  top_logprobs: z.optional(z.nullable(z.int().check(z.minimum(0), z.maximum(20)))),
  logit_bias: z.optional(z.nullable(z.record(z.string(), z.number()))),
  user: z.optional(z.nullable(z.string())),
  // Groq's reasoning parameters (lambda/inference/reasoning.ts says what each does).
  reasoning_format: z.optional(z.nullable(z.enum(REASONING_FORMATS))),
  include_reasoning: z.optional(z.nullable(z.boolean())),
  reasoning_effort: z.optional(z.nullable(z.enum(REASONING_EFFORTS))),
});
export type ChatRequest = z.infer<typeof chatRequestSchema>;

/** Validates a parsed JSON body. Throws a 400 {@link BadRequestError} with `param` set. */
export function parseChatRequest(body: unknown): ChatRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new BadRequestError('The request body must be a JSON object.');
  }
  refuseDeepNesting(body as Record<string, unknown>);
  const result = chatRequestSchema.safeParse(body);
  if (!result.success) throw requestError(result.error.issues, body, chatRequestSchema);
  const request = result.data;
  if (request.response_format?.type === 'json_schema')
    refuseOversizedSchema(
      request.response_format.json_schema.schema,
      'response_format.json_schema.schema',
    );
  if (request.n !== undefined && request.n !== null && request.n !== 1) {
    throw new BadRequestError("'n' must be 1: one choice per request is supported.", {
      param: 'n',
      code: 'invalid_value',
    });
  }
  if (request.stream_options && !request.stream) {
    throw new BadRequestError("'stream_options' is only allowed when 'stream' is true.", {
      param: 'stream_options',
      code: 'invalid_value',
    });
  }
  if (request.top_logprobs !== undefined && request.top_logprobs !== null && !request.logprobs) {
    throw new BadRequestError("'top_logprobs' requires 'logprobs' to be true.", {
      param: 'top_logprobs',
      code: 'invalid_value',
    });
  }
  // groq-sdk 1.6.0: `include_reasoning` "is mutually exclusive with `reasoning_format`".
  if (request.include_reasoning != null && request.reasoning_format != null) {
    throw new BadRequestError(
      "'include_reasoning' and 'reasoning_format' are mutually exclusive: send one of them.",
      { param: 'include_reasoning', code: 'invalid_value' },
    );
  }
  return request;
}

/**
 * The messages as a backend takes them: `developer` becomes `system`, which every chat template
 * knows, and an assistant's `refusal: null` (what our answers carry) and `reasoning` are left out.
 */
export function messagesForBackend(messages: readonly ChatMessage[]): ChatMessage[] {
  return messages.map((m) => {
    if (m.role === 'developer') return { ...m, role: 'system' };
    if (m.role === 'assistant' && ('refusal' in m || 'reasoning' in m)) {
      const { refusal, reasoning: _thinking, ...rest } = m;
      return refusal == null ? rest : { ...rest, refusal };
    }
    return m;
  });
}

/** The fields of a request that were actually given (not absent, not null). */
export function givenParameters(request: ChatRequest): string[] {
  return Object.entries(request)
    .filter(([, value]) => value !== undefined && value !== null)
    .map(([key]) => key);
}
