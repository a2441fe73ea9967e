import type { OpenAIErrorBody } from '../openai/errors';
import type { ChatCompletionChunk } from '../openai/openai-types';
import type {
  OutputItem,
  ResponseObject,
  ResponseStreamEvent,
  ResponseUsage,
} from '../openai/shapes/responses';
import {
  finishedResponse,
  itemIdOf,
  type ModelOutput,
  outputItems,
  type ResponseFrame,
  responseUsage,
} from './response-objects';

/** An event before its sequence number is given. */
type Unnumbered = ResponseStreamEvent extends infer E
  ? E extends ResponseStreamEvent
    ? Omit<E, 'sequence_number'>
    : never
  : never;

/** The output item being streamed now. */
type OpenItem =
  | { kind: 'reasoning'; index: number; id: string }
  | { kind: 'message'; index: number; id: string }
  | { kind: 'function_call'; index: number; id: string; call: number };

/**
 * A chat completion stream as Responses events, in OpenAI's order: `response.created`,
 * `response.in_progress`, then per output item `output_item.added`, its content part (`added`,
 * deltas, `done`) or its arguments (deltas, `done`), `output_item.done`; at the end
 * `response.completed`, or `response.incomplete` when `max_output_tokens` cut it; a failure after
 * the start is an `error` event then `response.failed`. Every event carries the next
 * `sequence_number`, from 0.
 */
export class ResponseEventStream {
  private sequence = 0;
  private open: OpenItem | undefined;
  private nextIndex = 0;
  private readonly done: OutputItem[] = [];
  private usage: ResponseUsage | null = null;
  private reasoningChunks = 0;
  readonly output: ModelOutput = { reasoning: '', text: '', toolCalls: [], finishReason: null };
  /** The response as the last event left it (stored when the stream ends). */
  latest: ResponseObject;

  constructor(
    private readonly frame: ResponseFrame,
    private readonly now: () => number = () => Math.floor(Date.now() / 1000),
  ) {
    this.latest = this.snapshot('in_progress');
  }

  private numbered(event: Unnumbered): ResponseStreamEvent {
    const sequenced = { ...event, sequence_number: this.sequence } as ResponseStreamEvent;
    this.sequence += 1;
    return sequenced;
  }

  private snapshot(status: ResponseObject['status']): ResponseObject {
    return {
      ...this.frame,
      status,
      completed_at: null,
      error: null,
      incomplete_details: null,
      output: [...this.done],
      // OpenAI's schema: an object when known, absent until then.
      ...(this.usage ? { usage: this.usage } : {}),
    };
  }

  /** `response.created` and `response.in_progress`. */
  start(): ResponseStreamEvent[] {
    const response = this.snapshot('in_progress');
    return [
      this.numbered({ type: 'response.created', response }),
      this.numbered({ type: 'response.in_progress', response }),
    ];
  }

  /** The events of one chunk as the pipeline shaped it. */
  push(chunk: ChatCompletionChunk): ResponseStreamEvent[] {
    const events: ResponseStreamEvent[] = [];
    if (chunk.usage) {
      this.usage = responseUsage(chunk.usage, this.reasoningChunks);
    }
    for (const choice of chunk.choices) {
      const delta = choice.delta;
      if (delta.reasoning) {
        this.reasoningChunks += 1;
        events.push(...this.openAs('reasoning'));
        this.output.reasoning += delta.reasoning;
        events.push(this.textDelta('response.reasoning_text.delta', delta.reasoning));
      }
      if (delta.content) {
        events.push(...this.openAs('message'));
        this.output.text += delta.content;
        events.push(this.textDelta('response.output_text.delta', delta.content));
      }
      for (const call of delta.tool_calls ?? []) events.push(...this.toolCallDelta(call));
      if (choice.finish_reason) this.output.finishReason = choice.finish_reason;
    }
    return events;
  }

  /**
   * One per token, so built whole in its final key order (no spread of a partial event): the order
   * {@link encodeResponseEvent} writes it in.
   */
  private textDelta(
    type: 'response.reasoning_text.delta' | 'response.output_text.delta',
    delta: string,
  ): ResponseStreamEvent {
    const open = this.open as OpenItem;
    const sequence_number = this.sequence++;
    const place = { item_id: open.id, output_index: open.index, content_index: 0 } as const;
    return type === 'response.output_text.delta'
      ? { type, ...place, delta, logprobs: [], sequence_number }
      : { type, ...place, delta, sequence_number };
  }

  private toolCallDelta(
    call: NonNullable<ChatCompletionChunk['choices'][number]['delta']['tool_calls']>[number],
  ): ResponseStreamEvent[] {
    const events: ResponseStreamEvent[] = [];
    const open = this.open;
    if (!(open?.kind === 'function_call' && open.call === call.index)) {
      events.push(...this.close());
      const index = this.nextIndex++;
      const id = itemIdOf('fc', this.frame.id, 2 + this.output.toolCalls.length);
      this.output.toolCalls.push({
        id: call.id ?? `call_${id.slice(3)}`,
        name: call.function?.name ?? '',
        arguments: '',
      });
      this.open = { kind: 'function_call', index, id, call: call.index };
      events.push(
        this.numbered({
          type: 'response.output_item.added',
          output_index: index,
          item: { ...this.currentCall(id), status: 'in_progress' },
        }),
      );
    }
    const current = this.output.toolCalls.at(-1) as ModelOutput['toolCalls'][number];
    if (call.function?.name && !current.name) current.name = call.function.name;
    const args = call.function?.arguments;
    if (args) {
      current.arguments += args;
      const item = this.open as OpenItem;
      events.push(
        this.numbered({
          type: 'response.function_call_arguments.delta',
          item_id: item.id,
          output_index: item.index,
          delta: args,
        }),
      );
    }
    return events;
  }

  private currentCall(id: string) {
    const call = this.output.toolCalls.at(-1) as ModelOutput['toolCalls'][number];
    return {
      type: 'function_call' as const,
      id,
      call_id: call.id,
      name: call.name,
      arguments: call.arguments,
    };
  }

  /** Opens a reasoning or message item (closing the one before) unless it is open already. */
  private openAs(kind: 'reasoning' | 'message'): ResponseStreamEvent[] {
    if (this.open?.kind === kind) return [];
    const events = this.close();
    const index = this.nextIndex++;
    const id = itemIdOf(
      kind === 'reasoning' ? 'rs' : 'msg',
      this.frame.id,
      kind === 'reasoning' ? 0 : 1,
    );
    this.open = { kind, index, id };
    const item: OutputItem =
      kind === 'reasoning'
        ? { type: 'reasoning', id, summary: [], content: [], status: 'in_progress' }
        : { type: 'message', id, role: 'assistant', status: 'in_progress', content: [] };
    const part =
      kind === 'reasoning'
        ? { type: 'reasoning_text' as const, text: '' }
        : { type: 'output_text' as const, text: '', annotations: [], logprobs: [] };
    events.push(this.numbered({ type: 'response.output_item.added', output_index: index, item }));
    events.push(
      this.numbered({
        type: 'response.content_part.added',
        item_id: id,
        output_index: index,
        content_index: 0,
        part,
      }),
    );
    return events;
  }

  /** The `done` events of the item open now. */
  private close(status: 'completed' | 'incomplete' = 'completed'): ResponseStreamEvent[] {
    const open = this.open;
    if (!open) return [];
    this.open = undefined;
    const [item] =
      open.kind === 'function_call'
        ? [{ ...this.currentCall(open.id), status }]
        : outputItems(
            this.frame.id,
            open.kind === 'reasoning'
              ? { reasoning: this.output.reasoning, text: '', toolCalls: [], finishReason: null }
              : { reasoning: '', text: this.output.text, toolCalls: [], finishReason: null },
            status,
          );
    const done = item as OutputItem;
    this.done.push(done);
    const place = { item_id: open.id, output_index: open.index };
    const events: ResponseStreamEvent[] = [];
    if (open.kind === 'function_call') {
      const call = this.currentCall(open.id);
      events.push(
        this.numbered({
          type: 'response.function_call_arguments.done',
          ...place,
          name: call.name,
          arguments: call.arguments,
        }),
      );
    } else if (open.kind === 'reasoning') {
      const text = this.output.reasoning;
      events.push(
        this.numbered({ type: 'response.reasoning_text.done', ...place, content_index: 0, text }),
        this.numbered({
          type: 'response.content_part.done',
          ...place,
          content_index: 0,
          part: { type: 'reasoning_text', text },
        }),
      );
    } else {
      const text = this.output.text;
      events.push(
        this.numbered({
          type: 'response.output_text.done',
          ...place,
          content_index: 0,
          text,
          logprobs: [],
        }),
        this.numbered({
          type: 'response.content_part.done',
          ...place,
          content_index: 0,
          part: { type: 'output_text', text, annotations: [], logprobs: [] },
        }),
      );
    }
    events.push(
      this.numbered({ type: 'response.output_item.done', output_index: open.index, item: done }),
    );
    return events;
  }

  /** At the end of the backend stream: the open item closed, then the response's last event. */
  finish(): ResponseStreamEvent[] {
    const cut = this.output.finishReason === 'length';
    // A model that said nothing still answers one (empty) message, as a completion does.
    const events =
      this.done.length === 0 && !this.open ? this.openAs('message') : ([] as ResponseStreamEvent[]);
    events.push(...this.close(cut ? 'incomplete' : 'completed'));
    const usage =
      this.usage ?? responseUsage({ prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 }, 0);
    const finished = finishedResponse(this.frame, this.output, usage, this.now());
    this.latest = { ...finished, output: [...this.done] };
    events.push(
      this.numbered({
        type: cut ? 'response.incomplete' : 'response.completed',
        response: this.latest,
      }),
    );
    return events;
  }

  /** A failure after the stream started: OpenAI's `error` event, then `response.failed`. */
  fail(body: OpenAIErrorBody): ResponseStreamEvent[] {
    const events = this.close('incomplete');
    const { message, code, param } = body.error;
    this.latest = { ...this.snapshot('failed'), error: { code: 'server_error', message } };
    events.push(
      this.numbered({ type: 'error', code: code ?? null, message, param: param ?? null }),
      this.numbered({ type: 'response.failed', response: this.latest }),
    );
    return events;
  }

  /** The client left: what was streamed, stored as cancelled. */
  cancel(): void {
    this.close('incomplete');
    this.latest = this.snapshot('cancelled');
  }

  /**
   * The tokens billed, on a stored response that ended without the backend's usage (the client
   * left, or the model failed mid-stream): the customer sees what the ledger charged.
   */
  settle(billed: { inputTokens: number; outputTokens: number }): void {
    if (this.latest.usage) return;
    const { inputTokens, outputTokens } = billed;
    const usage = responseUsage(
      {
        prompt_tokens: inputTokens,
        completion_tokens: outputTokens,
        total_tokens: inputTokens + outputTokens,
      },
      Math.min(this.reasoningChunks, outputTokens),
    );
    this.latest = { ...this.latest, usage };
  }
}

/**
 * A per-token delta event as JSON, the same text `JSON.stringify` writes for it (the tests hold
 * them equal), from its fields instead of a walk of the object: one of these per token was the
 * largest Responses-only item of the gateway's CPU profile at concurrency 64. Only the delta and
 * the ids are escaped (`JSON.stringify` of a string); numbers are written as JSON writes them.
 * Undefined for an event of another shape (extra fields, logprobs), which the caller writes whole.
 */
function deltaJson(event: ResponseStreamEvent): string | undefined {
  switch (event.type) {
    case 'response.output_text.delta': {
      const keys = Object.keys(event);
      if (keys.length !== 7 || event.logprobs.length !== 0 || keys[6] !== 'sequence_number')
        return undefined;
      return `{"type":"response.output_text.delta","item_id":${JSON.stringify(event.item_id)},"output_index":${event.output_index},"content_index":${event.content_index},"delta":${JSON.stringify(event.delta)},"logprobs":[],"sequence_number":${event.sequence_number}}`;
    }
    case 'response.reasoning_text.delta': {
      const keys = Object.keys(event);
      if (keys.length !== 6 || keys[5] !== 'sequence_number') return undefined;
      return `{"type":"response.reasoning_text.delta","item_id":${JSON.stringify(event.item_id)},"output_index":${event.output_index},"content_index":${event.content_index},"delta":${JSON.stringify(event.delta)},"sequence_number":${event.sequence_number}}`;
    }
    case 'response.function_call_arguments.delta': {
      const keys = Object.keys(event);
      if (keys.length !== 5 || keys[4] !== 'sequence_number') return undefined;
      return `{"type":"response.function_call_arguments.delta","item_id":${JSON.stringify(event.item_id)},"output_index":${event.output_index},"delta":${JSON.stringify(event.delta)},"sequence_number":${event.sequence_number}}`;
    }
    default:
      return undefined;
  }
}

/** One event as SSE: its type as `event:`, the event as `data:` (OpenAI's framing). */
export function encodeResponseEvent(event: ResponseStreamEvent): string {
  return `event: ${event.type}\ndata: ${deltaJson(event) ?? JSON.stringify(event)}\n\n`;
}

/** Events (one or a list) as SSE, each as {@link encodeResponseEvent} writes it. */
export function encodeResponseEvents(events: unknown): string {
  if (!Array.isArray(events)) return encodeResponseEvent(events as ResponseStreamEvent);
  return (events as ResponseStreamEvent[]).map(encodeResponseEvent).join('');
}
