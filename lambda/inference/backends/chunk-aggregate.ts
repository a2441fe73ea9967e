import type {
  ChatCompletion,
  ChatCompletionChunk,
  FinishReason,
  ToolCall,
  Usage,
} from '../../openai/openai-types';
import { BackendError } from './model-backend';

interface ChoiceInProgress {
  content: string;
  /** vLLM's reasoning parser's share (`reasoning`, formerly `reasoning_content`). */
  reasoning: string;
  sawContent: boolean;
  toolCalls: Map<number, ToolCall>;
  finishReason: FinishReason | null;
}

/**
 * Folds a streamed completion into the one `chat.completion` a non-streamed call answers: content,
 * reasoning and tool-call arguments concatenated per choice in order, the last finish reason, the usage of
 * the usage chunk. A stream without usage cannot be metered, so it is refused like a completion
 * without usage.
 */
export function completionFromChunks(
  chunks: readonly ChatCompletionChunk[],
  publicModel: string,
): ChatCompletion {
  const choices = new Map<number, ChoiceInProgress>();
  let usage: Usage | undefined;
  const first = chunks[0];
  for (const chunk of chunks) {
    if (chunk.usage) usage = chunk.usage;
    for (const choice of chunk.choices) {
      let acc = choices.get(choice.index);
      if (!acc) {
        acc = {
          content: '',
          reasoning: '',
          sawContent: false,
          toolCalls: new Map(),
          finishReason: null,
        };
        choices.set(choice.index, acc);
      }
      const delta: ChatCompletionChunk['choices'][number]['delta'] & {
        reasoning_content?: string | null;
      } = choice.delta ?? {};
      const reasoning = delta.reasoning ?? delta.reasoning_content;
      if (typeof reasoning === 'string') acc.reasoning += reasoning;
      if (typeof delta.content === 'string') {
        acc.content += delta.content;
        acc.sawContent ||= delta.content.length > 0;
      }
      for (const call of delta.tool_calls ?? []) {
        const existing = acc.toolCalls.get(call.index);
        if (!existing) {
          acc.toolCalls.set(call.index, {
            id: call.id ?? '',
            type: 'function',
            function: {
              name: call.function?.name ?? '',
              arguments: call.function?.arguments ?? '',
            },
          });
        } else {
          if (call.id) existing.id = call.id;
          if (call.function?.name) existing.function.name += call.function.name;
          if (call.function?.arguments) existing.function.arguments += call.function.arguments;
        }
      }
      if (choice.finish_reason) acc.finishReason = choice.finish_reason;
    }
  }
  if (!first) throw new BackendError('model_error', 'The model streamed nothing.');
  if (!usage)
    throw new BackendError('model_error', 'The model returned a completion without usage.');
  return {
    id: first.id,
    object: 'chat.completion',
    created: first.created,
    model: publicModel,
    // OpenAI's schema types it a string: left out when the model sent none (vLLM sends none).
    ...(typeof first.system_fingerprint === 'string'
      ? { system_fingerprint: first.system_fingerprint }
      : {}),
    choices: [...choices.entries()]
      .sort(([a], [b]) => a - b)
      .map(([index, acc]) => {
        const toolCalls = [...acc.toolCalls.entries()]
          .sort(([a], [b]) => a - b)
          .map(([, call]) => call);
        const message: ChatCompletion['choices'][number]['message'] = {
          role: 'assistant',
          content: acc.sawContent || toolCalls.length === 0 ? acc.content : null,
          refusal: null,
          ...(acc.reasoning ? { reasoning: acc.reasoning } : {}),
          ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
        };
        return { index, message, finish_reason: acc.finishReason, logprobs: null };
      }),
    usage,
  };
}
