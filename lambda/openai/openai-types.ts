import type { FinishReason, ToolCall, Usage } from './shapes/chat';

/**
 * A chat completion as a model backend yields it (the subset clients rely on), built from the parts
 * of `shapes/chat.ts`. It is looser than what a client receives (`ChatCompletionResponse` there):
 * `response-shapes.ts` fills in what OpenAI's schema requires and the route adds the ids.
 * https://platform.openai.com/docs/api-reference/chat
 */

export type { FinishReason, ToolCall, Usage };

export interface AssistantMessage {
  role: 'assistant';
  content: string | null;
  /** Always present in answers (null: the model did not refuse); see `response-shapes.ts`. */
  refusal?: string | null;
  /** Groq's field for a reasoning model's thinking, with `reasoning_format: parsed`. */
  reasoning?: string;
  tool_calls?: ToolCall[];
}

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  system_fingerprint?: string | null;
  choices: {
    index: number;
    message: AssistantMessage;
    finish_reason: FinishReason | null;
    logprobs?: unknown;
  }[];
  usage: Usage;
}

export interface ChunkDelta {
  role?: 'assistant';
  content?: string | null;
  /** Groq's field for a reasoning model's thinking, with `reasoning_format: parsed`. */
  reasoning?: string;
  tool_calls?: (Partial<ToolCall> & { index: number })[];
}

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  system_fingerprint?: string | null;
  choices: {
    index: number;
    delta: ChunkDelta;
    finish_reason: FinishReason | null;
    logprobs?: unknown;
  }[];
  /** Present (with `choices: []`) on the last chunk when `stream_options.include_usage` is set. */
  usage?: Usage | null;
  /** Groq's extension: the request id, and usage on the chunk with the finish reason. */
  x_groq?: { id: string; usage?: Usage };
}
