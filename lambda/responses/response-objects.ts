import type { ChatMessage } from '../inference/chat-request';
import type { ChatCompletion, FinishReason, Usage } from '../openai/openai-types';
import type {
  OutputItem,
  ResponseItem,
  ResponseObject,
  ResponseUsage,
} from '../openai/shapes/responses';
import {
  type InputItem,
  inputItems,
  itemsAsMessages,
  type ResponsesRequest,
} from './responses-request';

/**
 * Responses objects (OpenAI's Response, its output items, its input items) built from what the
 * chat pipeline produced: a completion, or the parts a stream accumulated.
 */

/** The part of a Response that repeats the request (OpenAI echoes it), fixed when it is created. */
export type ResponseFrame = Omit<
  ResponseObject,
  'status' | 'output' | 'usage' | 'error' | 'incomplete_details' | 'completed_at'
>;

/**
 * `resp_` and the request id's hex digits (a UUID without dashes, in Lambda API Gateway's): one
 * response per request, so a retry is a new one.
 */
export const responseIdOf = (requestId: string) =>
  `resp_${requestId.toLowerCase().replace(/[^0-9a-f]/g, '')}`;

/** The id of an item of a response: its kind, the response's id and the item's place. */
export const itemIdOf = (kind: 'msg' | 'fc' | 'rs' | 'in', responseId: string, index: number) =>
  `${kind}_${responseId.slice('resp_'.length)}${index.toString(16).padStart(3, '0')}`;

export function responseFrame(
  request: ResponsesRequest,
  ids: { responseId: string; model: string; createdAt: number },
): ResponseFrame {
  const format = request.text?.format ?? { type: 'text' as const };
  return {
    id: ids.responseId,
    object: 'response',
    created_at: ids.createdAt,
    model: ids.model,
    instructions: request.instructions ?? null,
    max_output_tokens: request.max_output_tokens ?? null,
    temperature: request.temperature ?? 1,
    top_p: request.top_p ?? 1,
    tools: (request.tools ?? []).map((tool) => ({
      type: 'function' as const,
      name: tool.name,
      description: tool.description ?? null,
      parameters: tool.parameters ?? null,
      strict: tool.strict ?? null,
    })),
    tool_choice:
      request.tool_choice == null
        ? 'auto'
        : typeof request.tool_choice === 'string'
          ? request.tool_choice
          : { type: 'function', name: request.tool_choice.name },
    parallel_tool_calls: request.parallel_tool_calls ?? true,
    metadata: request.metadata ?? {},
    previous_response_id: request.previous_response_id ?? null,
    store: request.store ?? true,
    truncation: request.truncation ?? 'disabled',
    // The one tier served; `auto` resolves to it, as OpenAI answers the tier actually used.
    service_tier: 'default',
    text: { format },
    reasoning: { effort: request.reasoning?.effort ?? null, summary: null },
    background: false,
    // OpenAI's schema has it as a string when there is one, and leaves it out otherwise.
    ...(request.user ? { user: request.user } : {}),
  };
}

/** OpenAI's usage of a response from the backend's chat usage, with the reasoning tokens counted. */
export function responseUsage(usage: Usage, reasoningTokens: number): ResponseUsage {
  const details = usage as Usage & {
    prompt_tokens_details?: { cached_tokens?: number };
    completion_tokens_details?: { reasoning_tokens?: number };
  };
  return {
    input_tokens: usage.prompt_tokens,
    input_tokens_details: {
      cached_tokens: details.prompt_tokens_details?.cached_tokens ?? 0,
      cache_write_tokens: 0,
    },
    output_tokens: usage.completion_tokens,
    output_tokens_details: {
      reasoning_tokens: details.completion_tokens_details?.reasoning_tokens ?? reasoningTokens,
    },
    total_tokens: usage.prompt_tokens + usage.completion_tokens,
  };
}

/** What a model said, gathered from a completion or a stream. */
export interface ModelOutput {
  reasoning: string;
  text: string;
  toolCalls: { id: string; name: string; arguments: string }[];
  finishReason: FinishReason | null;
}

export function outputOfCompletion(completion: ChatCompletion): ModelOutput {
  const choice = completion.choices[0];
  const message = choice?.message;
  return {
    reasoning: message?.reasoning ?? '',
    text: message?.content ?? '',
    toolCalls: (message?.tool_calls ?? []).map((call) => ({
      id: call.id,
      name: call.function.name,
      arguments: call.function.arguments,
    })),
    finishReason: choice?.finish_reason ?? null,
  };
}

/** The output items, in the order the model produced them: reasoning, the message, function calls. */
export function outputItems(
  responseId: string,
  output: ModelOutput,
  status: 'completed' | 'incomplete',
): OutputItem[] {
  const items: OutputItem[] = [];
  if (output.reasoning) {
    items.push({
      type: 'reasoning',
      id: itemIdOf('rs', responseId, 0),
      summary: [],
      content: [{ type: 'reasoning_text', text: output.reasoning }],
      status,
    });
  }
  if (output.text || output.toolCalls.length === 0) {
    items.push({
      type: 'message',
      id: itemIdOf('msg', responseId, 1),
      role: 'assistant',
      status,
      content: [{ type: 'output_text', text: output.text, annotations: [], logprobs: [] }],
    });
  }
  output.toolCalls.forEach((call, index) => {
    items.push({
      type: 'function_call',
      id: itemIdOf('fc', responseId, 2 + index),
      call_id: call.id,
      name: call.name,
      arguments: call.arguments,
      status,
    });
  });
  return items;
}

/** A response that ended: completed, or incomplete when the output limit cut it. */
export function finishedResponse(
  frame: ResponseFrame,
  output: ModelOutput,
  usage: ResponseUsage,
  completedAt: number,
): ResponseObject {
  const cut = output.finishReason === 'length';
  return {
    ...frame,
    status: cut ? 'incomplete' : 'completed',
    completed_at: cut ? null : completedAt,
    error: null,
    incomplete_details: cut ? { reason: 'max_output_tokens' } : null,
    output: outputItems(frame.id, output, cut ? 'incomplete' : 'completed'),
    usage,
  };
}

/** This request's input as stored items, each with an id (the client's, or one of ours). */
export function storedInputItems(
  request: Pick<ResponsesRequest, 'input'>,
  responseId: string,
): ResponseItem[] {
  return inputItems(request).map((item, index) =>
    storedItem(item, itemIdOf('in', responseId, index)),
  );
}

/**
 * The stored JSON bytes of this input's items the model never sees: those that became its messages
 * `from` to `to` (exclusive), the turns `truncation: auto` dropped (their ids, which the model never
 * sees, too), and every reasoning item (accepted, stored, and left out upstream), each once. 0
 * without building anything when there are none: a plain request's store stays one PutItem.
 */
export function unseenItemsBytes(
  request: Pick<ResponsesRequest, 'input'>,
  responseId: string,
  dropped: { from: number; to: number },
): number {
  const items = inputItems(request);
  const reasoning = items.some((item) => item.type === 'reasoning');
  if (dropped.to <= dropped.from && !reasoning) return 0;
  const { messageOf } = itemsAsMessages(items);
  const stored = storedInputItems(request, responseId);
  let bytes = 0;
  messageOf.forEach((message, at) => {
    const unseen =
      items[at]?.type === 'reasoning' || (message >= dropped.from && message < dropped.to);
    if (unseen) bytes += Buffer.byteLength(JSON.stringify(stored[at]));
  });
  return bytes;
}

function storedItem(item: InputItem, fallbackId: string): ResponseItem {
  const id = item.id ?? fallbackId;
  if (item.type === 'function_call') {
    const { call_id, name, arguments: args } = item;
    return { type: 'function_call', id, call_id, name, arguments: args, status: 'completed' };
  }
  if (item.type === 'function_call_output') {
    return {
      type: 'function_call_output',
      id,
      call_id: item.call_id,
      output: item.output,
      status: 'completed',
    };
  }
  if (item.type === 'reasoning') {
    return { type: 'reasoning', id, summary: [], status: 'completed' };
  }
  if (item.role === 'assistant') {
    const parts = typeof item.content === 'string' ? [{ text: item.content }] : item.content;
    return {
      type: 'message',
      id,
      role: 'assistant',
      status: 'completed',
      content: parts.map((part) =>
        'refusal' in part
          ? { type: 'refusal' as const, refusal: part.refusal }
          : { type: 'output_text' as const, text: part.text, annotations: [], logprobs: [] },
      ),
    };
  }
  return {
    type: 'message',
    id,
    role: item.role,
    status: 'completed',
    content:
      typeof item.content === 'string'
        ? [{ type: 'input_text', text: item.content }]
        : item.content,
  };
}

/**
 * The conversation a later response continues: the earlier turns and this input (never the
 * instructions, which OpenAI does not carry over), then the answer.
 */
export function conversationAfter(
  turns: readonly ChatMessage[],
  output: ModelOutput,
): ChatMessage[] {
  const answer: ChatMessage = {
    role: 'assistant',
    content: output.text || null,
    ...(output.toolCalls.length > 0
      ? {
          tool_calls: output.toolCalls.map((call) => ({
            id: call.id,
            type: 'function' as const,
            function: { name: call.name, arguments: call.arguments },
          })),
        }
      : {}),
  };
  return [...turns, answer];
}
