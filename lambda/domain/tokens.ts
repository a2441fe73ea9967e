import type { ChatMessage } from './chat-request';

/**
 * Token estimates before the model has counted: about 4 characters per token for English text with
 * Llama-style tokenizers, plus a few tokens of chat-template overhead per message. Used to reserve tokens
 * up front; the model's own usage settles the real count afterwards.
 */
const CHARS_PER_TOKEN = 4;
const TOKENS_PER_MESSAGE = 4;
const TOKENS_PER_REPLY_PRIMER = 3;

export function estimateTextTokens(text: string): number {
  return Math.ceil(text.length / CHARS_PER_TOKEN);
}

/** The text of a message's content, whatever its form. */
export function textOfContent(content: ChatMessage['content']): string {
  if (content === null || content === undefined) return '';
  if (typeof content === 'string') return content;
  return content.map((part) => (part.type === 'text' ? part.text : '')).join('\n');
}

export function estimatePromptTokens(messages: readonly ChatMessage[]): number {
  let total = TOKENS_PER_REPLY_PRIMER;
  for (const message of messages) {
    total += TOKENS_PER_MESSAGE + estimateTextTokens(textOfContent(message.content));
    if (message.role === 'assistant' && message.tool_calls) {
      total += estimateTextTokens(JSON.stringify(message.tool_calls));
    }
  }
  return total;
}
