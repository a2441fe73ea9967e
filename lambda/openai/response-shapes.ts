import type { ChatCompletion, ChatCompletionChunk } from './openai-types';

/**
 * What OpenAI's published schema requires of every answer, whatever the backend sent: `logprobs` on
 * each choice and `refusal` on each message, `null` when there is none (the spec lists both as
 * required and nullable; strict clients and validators reject their absence).
 */
export function completionForClient(completion: ChatCompletion): ChatCompletion {
  return {
    ...completion,
    choices: completion.choices.map((choice) => ({
      ...choice,
      message: { ...choice.message, refusal: choice.message.refusal ?? null },
      logprobs: choice.logprobs ?? null,
    })),
  };
}

/**
 * A stream chunk as OpenAI sends it: `logprobs: null` on each choice, and, when the client asked
 * for usage, `"usage": null` on every chunk but the last ("it contains a null value except for the
 * last chunk").
 */
export function chunkForClient(
  chunk: ChatCompletionChunk,
  includeUsage: boolean,
): ChatCompletionChunk {
  const shaped: ChatCompletionChunk = {
    ...chunk,
    choices: chunk.choices.map((choice) => ({ ...choice, logprobs: choice.logprobs ?? null })),
  };
  if (includeUsage) shaped.usage = chunk.usage ?? null;
  else delete shaped.usage;
  return shaped;
}
