import * as z from 'zod/mini';
import { count } from './common';

/**
 * Chat completions as Tierline answers them (https://platform.openai.com/docs/api-reference/chat):
 * what a client receives after `response-shapes.ts` made a backend's answer OpenAI's (`refusal` and
 * `logprobs` present, `x_groq` with the request id). A backend's own answer is looser
 * (`openai-types.ts`), built from the same parts.
 */

export const usageShape = z.object({
  prompt_tokens: count(),
  completion_tokens: count(),
  total_tokens: count(),
});
export type Usage = z.output<typeof usageShape>;

export const finishReasonShape = z.enum([
  'stop',
  'length',
  'tool_calls',
  'content_filter',
  'function_call',
]);
export type FinishReason = z.output<typeof finishReasonShape>;

export const toolCallShape = z.object({
  id: z.string(),
  type: z.literal('function'),
  function: z.object({ name: z.string(), arguments: z.string() }),
});
export type ToolCall = z.output<typeof toolCallShape>;

const completionId = () => z.string().check(z.regex(/^chatcmpl-/));

export const chatCompletionShape = z.object({
  id: completionId(),
  object: z.literal('chat.completion'),
  created: count(),
  model: z.string(),
  system_fingerprint: z.optional(z.nullable(z.string())),
  choices: z.array(
    z.object({
      index: count(),
      message: z.object({
        role: z.literal('assistant'),
        content: z.nullable(z.string()),
        // Tierline's models never refuse: OpenAI requires the field, null when there is no refusal.
        refusal: z.null(),
        // Groq's: a reasoning model's thinking with `reasoning_format: parsed`.
        reasoning: z.optional(z.string()),
        tool_calls: z.optional(z.array(toolCallShape)),
      }),
      finish_reason: finishReasonShape,
      logprobs: z.nullable(z.record(z.string(), z.unknown())),
    }),
  ),
  usage: usageShape,
  x_groq: z.object({ id: z.string() }),
});
export type ChatCompletionResponse = z.output<typeof chatCompletionShape>;

export const chatCompletionChunkShape = z.object({
  id: completionId(),
  object: z.literal('chat.completion.chunk'),
  created: count(),
  model: z.string(),
  system_fingerprint: z.optional(z.nullable(z.string())),
  choices: z.array(
    z.object({
      index: count(),
      delta: z.object({
        role: z.optional(z.literal('assistant')),
        content: z.optional(z.nullable(z.string())),
        reasoning: z.optional(z.string()),
        tool_calls: z.optional(z.array(z.unknown())),
      }),
      finish_reason: z.nullable(finishReasonShape),
      logprobs: z.optional(z.nullable(z.record(z.string(), z.unknown()))),
    }),
  ),
  /** Present (with `choices: []`) on the last chunk when `stream_options.include_usage` is set. */
  usage: z.optional(z.nullable(usageShape)),
  /** Groq's extension: the request id, and usage on the chunk with the finish reason. */
  x_groq: z.optional(z.object({ id: z.string(), usage: z.optional(usageShape) })),
});
export type ChatCompletionChunkResponse = z.output<typeof chatCompletionChunkShape>;
