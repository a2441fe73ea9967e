import type { ChatCompletionChunk } from '../openai/openai-types';

/**
 * A stream of backend chunks (`In`) sent as the client's events (`Out`): chat completion chunks as
 * `data:` lines ending in `data: [DONE]` by default; Responses events as `event:` + `data:` with no
 * end line.
 */
export interface SseResponseOptions<In = ChatCompletionChunk, Out = ChatCompletionChunk> {
  first: IteratorResult<In>;
  rest: AsyncIterator<In>;
  /** The events the client sees for one backend chunk (possibly none). */
  transform: (chunk: In) => Out[];
  /** Events still held by `transform` when the backend stream ends. */
  flush?: () => Out[];
  /** The event sent when the stream fails after it started (chat: an OpenAI error body). */
  errorBody: (error: unknown) => unknown;
  /** One event as SSE text. @default a `data:` line */
  encode?: (event: unknown) => string;
  /** What ends a stream that completed. @default `data: [DONE]` */
  endLine?: string;
  /**
   * Called once when the stream ends ('completed', 'failed', or 'cancelled' by the client), and
   * awaited before the stream closes, so a Lambda does not freeze before the work is done.
   */
  onEnd?: (ending: 'completed' | 'failed' | 'cancelled') => Promise<void>;
  /** Aborted when the client cancels the stream. */
  abort: AbortController;
  headers?: Record<string, string>;
  /** Milliseconds chunks may wait to share a write; 0 writes each at once. @default SSE_WRITE_WINDOW_MS */
  writeWindowMs?: number;
}

const encoder = new TextEncoder();
const dataLine = (payload: unknown) => `data: ${JSON.stringify(payload)}\n\n`;

/**
 * After the first token, chunks that arrive within this many milliseconds of each other leave in
 * one write. Each write is a syscall (and, in Lambda, an HTTP chunk to the runtime): one per token
 * was the largest item of the gateway's CPU profile (`writev`, see docs/benchmarks.md). 20 ms is
 * below what a reader sees (a 50 Hz refresh) and the events stay one per chunk; the first token and
 * the end of the stream are never held.
 */
export const SSE_WRITE_WINDOW_MS = 20;

const WINDOW_CLOSED = Symbol('window closed');

/** The step, or WINDOW_CLOSED if it is not there within `ms`; the timer never outlives the race. */
async function within<T>(step: Promise<T>, ms: number): Promise<T | typeof WINDOW_CLOSED> {
  let timer: NodeJS.Timeout | undefined;
  const closed = new Promise<typeof WINDOW_CLOSED>((resolve) => {
    // A window that closed while the caller was busy is 0, not negative (Node warns and uses 1).
    timer = setTimeout(resolve, Math.max(0, ms), WINDOW_CLOSED);
  });
  try {
    return await Promise.race([step, closed]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * An OpenAI-style server-sent event stream: one `data:` line per chunk, then `data: [DONE]`.
 * Pull-based, so a slow client slows the model down instead of buffering. A failure after the first
 * byte cannot change the status any more: it becomes a `data: {"error":...}` line, which the
 * official clients raise as an error (Hono's `streamSSE` would write `event: error`, which they
 * ignore). No hop-by-hop headers: the Lambda streaming prelude must not carry them.
 */
export function sseResponse<In = ChatCompletionChunk, Out = ChatCompletionChunk>(
  options: SseResponseOptions<In, Out>,
): Response {
  const encode = options.encode ?? dataLine;
  const windowMs = options.writeWindowMs ?? SSE_WRITE_WINDOW_MS;
  let pending: IteratorResult<In> | undefined = options.first;
  /** A read of the backend still in flight when the last write's window closed: the next pull awaits it. */
  let inFlight: Promise<IteratorResult<In>> | undefined;
  let wroteFirst = false;
  let finished = false;
  // One end-of-stream run, shared: a cancel that arrives while it runs waits for it instead of
  // returning early.
  let ending: Promise<void> | undefined;
  const end = (how: 'completed' | 'failed' | 'cancelled'): Promise<void> => {
    ending ??= options.onEnd?.(how) ?? Promise.resolve();
    return ending;
  };
  const nextStep = (): Promise<IteratorResult<In>> => {
    if (pending) {
      const step = pending;
      pending = undefined;
      return Promise.resolve(step);
    }
    return options.rest.next();
  };
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      // The events of this write. A pull must enqueue something or end the stream: the stream does
      // not ask again on its own, so a backend chunk that yields no client chunk (a usage chunk
      // nobody asked for) makes us read on.
      let lines = '';
      const write = () => {
        if (lines === '') return;
        controller.enqueue(encoder.encode(lines));
        lines = '';
        wroteFirst = true;
      };
      let closesAt: number | undefined;
      try {
        while (!finished) {
          inFlight ??= nextStep();
          let step: IteratorResult<In>;
          if (closesAt === undefined) {
            step = await inFlight;
          } else {
            const raced = await within(inFlight, closesAt - performance.now());
            if (raced === WINDOW_CLOSED) break; // the read stays in flight for the next pull
            step = raced;
          }
          inFlight = undefined;
          if (step.done) {
            finished = true;
            for (const chunk of options.flush?.() ?? []) lines += encode(chunk);
            // [DONE] goes out first; the stream closes once the end-of-stream work (billing) is
            // done.
            lines += options.endLine ?? 'data: [DONE]\n\n';
            write();
            await end('completed');
            controller.close();
            return;
          }
          for (const chunk of options.transform(step.value)) lines += encode(chunk);
          if (lines !== '' && closesAt === undefined) {
            // The first token leaves at once: time to first token is what clients watch.
            if (!wroteFirst || windowMs <= 0) break;
            closesAt = performance.now() + windowMs;
          }
        }
        write();
      } catch (error) {
        finished = true;
        // Cancelled by the client: `cancel` bills it; there is nobody left to tell about an error.
        if (options.abort.signal.aborted) return;
        // What the model said before it failed still reaches the client, then the error.
        lines += encode(options.errorBody(error));
        write();
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
    headers: {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      ...options.headers,
    },
  });
}
