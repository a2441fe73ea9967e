import { BadRequestError } from '../openai/errors';
import type { ChatMessage } from './chat-request';

/**
 * Token estimates before the model has counted: about 4 characters per token for English text with
 * Llama-style tokenizers, plus a few tokens of chat-template overhead per message. Used to reserve
 * tokens up front; the model's own usage settles the real count afterwards.
 */
const CHARS_PER_TOKEN = 4;
const TOKENS_PER_MESSAGE = 4;
const TOKENS_PER_REPLY_PRIMER = 3;
/** What a high-detail image costs with OpenAI-style vision tokenization; a conservative flat estimate. */
const TOKENS_PER_IMAGE = 765;

export function estimateTextTokens(text: string): number {
  return Math.ceil(text.length / CHARS_PER_TOKEN);
}

/** The text of a message's content, whatever its form. */
export function textOfContent(content: ChatMessage['content']): string {
  if (content === null || content === undefined) return '';
  if (typeof content === 'string') return content;
  return content.map((part) => (part.type === 'text' ? part.text : '')).join('\n');
}

/**
 * The prompt of a request: its messages, and the tool definitions and response schema the chat
 * template puts into the prompt too. An estimate that is too low would let concurrent requests
 * overshoot a token limit.
 */
export function estimatePromptTokens(
  messages: readonly ChatMessage[],
  extras: { tools?: unknown; response_format?: unknown } = {},
): number {
  let total = TOKENS_PER_REPLY_PRIMER;
  for (const message of messages) {
    total += TOKENS_PER_MESSAGE + estimateTextTokens(textOfContent(message.content));
    if (Array.isArray(message.content)) {
      total +=
        message.content.filter((part) => part.type === 'image_url').length * TOKENS_PER_IMAGE;
    }
    if (message.role === 'assistant' && message.tool_calls) {
      total += estimateTextTokens(JSON.stringify(message.tool_calls));
    }
  }
  for (const extra of [extras.tools, extras.response_format]) {
    if (extra !== undefined && extra !== null) total += estimateTextTokens(JSON.stringify(extra));
  }
  return total;
}

/**
 * Refuses a request whose prompt and output cannot fit the model's context window (OpenAI's 400
 * `context_length_exceeded`), before anything is reserved. `maxOutputTokens` is the client's
 * max_completion_tokens; without it at least one output token must fit. Returns the most output the
 * window leaves for a request that set none.
 */
export function checkContextWindow(
  model: string,
  contextWindow: number,
  promptTokens: number,
  maxOutputTokens: number | undefined,
): number {
  const requested = promptTokens + (maxOutputTokens ?? 1);
  if (requested > contextWindow) {
    throw new BadRequestError(
      `This model's maximum context length is ${contextWindow} tokens. However, you requested ${requested} tokens ` +
        `(${promptTokens} in the messages, ${maxOutputTokens ?? 1} in the completion) for \`${model}\`. ` +
        'Please reduce the length of the messages or completion.',
      { param: 'messages', code: 'context_length_exceeded' },
    );
  }
  return contextWindow - promptTokens;
}

/**
 * A prompt past the context window by itself: its count stopped there, so "more than". Named as the
 * route names it (chat's `messages`, Responses' `input`).
 */
export const promptPastWindow = (
  model: string,
  contextWindow: number,
  param: 'messages' | 'input' = 'messages',
) =>
  new BadRequestError(
    `This model's maximum context length is ${contextWindow} tokens. However, the ${param} ` +
      `${param === 'input' ? 'is' : 'are'} more than ${contextWindow} tokens for \`${model}\`. ` +
      `Please reduce the length of the ${param}.`,
    { param, code: 'context_length_exceeded' },
  );
