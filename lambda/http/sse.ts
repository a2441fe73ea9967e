import type { OpenAIErrorBody } from '../openai/errors';
import type { ChatCompletionChunk } from '../openai/openai-types';

export interface SseResponseOptions {
  first: IteratorResult<ChatCompletionChunk>;
  rest: AsyncIterator<ChatCompletionChunk>;
  /** The chunks the client sees for one backend chunk (possibly none). */
  transform: (chunk: ChatCompletionChunk) => ChatCompletionChunk[];
  /** Chunks still held by `transform` when the backend stream ends. */
  flush?: () => ChatCompletionChunk[];
  /** The OpenAI error body sent as a `data:` line when the stream fails after it started. */
  errorBody: (error: unknown) => OpenAIErrorBody;
  /**
   * Called once when the stream ends ('completed', 'failed', or 'cancelled' by the client), and awaited
   * before the stream closes, so a Lambda does not freeze before the work is done.
   */
  onEnd?: (ending: 'completed' | 'failed' | 'cancelled') => Promise<void>;
  /** Aborted when the client cancels the stream. */
  abort: AbortController;
  headers?: Record<string, string>;
}

const encoder = new TextEncoder();
const dataLine = (payload: unknown) => encoder.encode(`data: ${JSON.stringify(payload)}\n\n`);

/**
 * An OpenAI-style server-sent event stream: one `data:` line per chunk, then `data: [DONE]`. Pull-based, so a
 * slow client slows the model down instead of buffering. A failure after the first byte cannot change the
 * status any more: it becomes a `data: {"error":...}` line, which the official clients raise as an error
 * (Hono's `streamSSE` would write `event: error`, which they ignore). No hop-by-hop headers: the Lambda
 * streaming prelude must not carry them.
 */
export function sseResponse(options: SseResponseOptions): Response {
  let pending: IteratorResult<ChatCompletionChunk> | undefined = options.first;
  let finished = false;
  // One end-of-stream run, shared: a cancel that arrives while it runs waits for it instead of returning early.
  let ending: Promise<void> | undefined;
  const end = (how: 'completed' | 'failed' | 'cancelled'): Promise<void> => {
    ending ??= options.onEnd?.(how) ?? Promise.resolve();
    return ending;
  };
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      // A pull must enqueue something or end the stream: the stream does not ask again on its own, so a
      // backend chunk that yields no client chunk (a usage chunk nobody asked for) makes us read on.
      try {
        while (!finished) {
          const step = pending ?? (await options.rest.next());
          pending = undefined;
          if (step.done) {
            finished = true;
            for (const chunk of options.flush?.() ?? []) controller.enqueue(dataLine(chunk));
            // [DONE] goes out first; the stream closes once the end-of-stream work (billing) is done.
            controller.enqueue(encoder.encode('data: [DONE]\n\n'));
            await end('completed');
            controller.close();
            return;
          }
          const chunks = options.transform(step.value);
          for (const chunk of chunks) controller.enqueue(dataLine(chunk));
          if (chunks.length > 0) return;
        }
      } catch (error) {
        finished = true;
        // Cancelled by the client: `cancel` bills it; there is nobody left to tell about an error.
        if (options.abort.signal.aborted) return;
        controller.enqueue(dataLine(options.errorBody(error)));
        await end('failed');
        controller.close();
      }
    },
    async cancel() {
      finished = true;
      options.abort.abort();
      await options.rest.return?.().catch(() => undefined);
      await end('cancelled');
    },
  });
  return new Response(body, {
    status: 200,
    headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', ...options.headers },
  });
}
