import type { ChatCompletion, ChatCompletionChunk, Usage } from './openai-types';

/**
 * Usage as OpenAI's schema has it: the three counts, and a details object only when it is one.
 * vLLM (LMI's engine) sends `"prompt_tokens_details": null`, which the schema refuses (an object
 * when present), so nulls and anything else a server adds are left out.
 */
export function usageForClient(usage: Usage): Usage {
  const { prompt_tokens, completion_tokens, total_tokens } = usage;
  const details = usage as Usage & Record<string, unknown>;
  return {
    prompt_tokens,
    completion_tokens,
    total_tokens,
    ...(isObject(details.prompt_tokens_details)
      ? { prompt_tokens_details: details.prompt_tokens_details }
      : {}),
    ...(isObject(details.completion_tokens_details)
      ? { completion_tokens_details: details.completion_tokens_details }
      : {}),
  };
}

function isObject(value: unknown): value is object {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

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
    usage: usageForClient(completion.usage),
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
