import { sseResponse } from '../../../lambda/http/sse';
import type { ChatCompletionChunk } from '../../../lambda/openai/openai-types';
import { until } from '../../support/until';

const chunk = (n: number) =>
  ({ id: `c${n}`, object: 'chat.completion.chunk', choices: [] }) as unknown as ChatCompletionChunk;

/** A backend stream the test drives: `push` hands the next chunk to a waiting read, `end` finishes it. */
function controlledSource() {
  const queue: IteratorResult<ChatCompletionChunk>[] = [];
  let waiting: ((step: IteratorResult<ChatCompletionChunk>) => void) | undefined;
  const give = (step: IteratorResult<ChatCompletionChunk>) => {
    if (waiting) {
      const resolve = waiting;
      waiting = undefined;
      resolve(step);
    } else queue.push(step);
  };
  const iterator: AsyncIterator<ChatCompletionChunk> = {
    next: () => {
      const step = queue.shift();
      return step ? Promise.resolve(step) : new Promise((resolve) => (waiting = resolve));
    },
    return: async () => ({ done: true, value: undefined }),
  };
  return {
    iterator,
    push: (n: number) => give({ done: false, value: chunk(n) }),
    end: () => give({ done: true, value: undefined }),
  };
}

/**
 * The body's writes (one string per enqueued buffer), read until the stream closes; `writes` shows
 * them as they arrive.
 */
async function writesOf(response: Response, writes: string[] = []): Promise<string[]> {
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return writes;
    writes.push(decoder.decode(value));
  }
}

const idsIn = (write: string) => [...write.matchAll(/"id":"(c\d+)"/g)].map((m) => m[1]);

function stream(
  source: ReturnType<typeof controlledSource>,
  writeWindowMs: number,
  onEnd = jest.fn(),
) {
  return sseResponse({
    first: { done: false, value: chunk(0) },
    rest: source.iterator,
    transform: (c) => [c],
    errorBody: () => ({
      error: { message: 'failed', type: 'server_error', param: null, code: null },
    }),
    abort: new AbortController(),
    onEnd,
    writeWindowMs,
  });
}

describe('the SSE stream writes chunks that arrive together in one write', () => {
  it('sends the first token alone and at once, then what arrives within the window in one write', async () => {
    const source = controlledSource();
    for (let n = 1; n <= 5; n += 1) source.push(n);
    source.end();

    const writes = await writesOf(stream(source, 60_000));

    expect(writes.map(idsIn)).toEqual([['c0'], ['c1', 'c2', 'c3', 'c4', 'c5']]);
    expect(writes.at(-1)).toMatch(/data: \[DONE\]\n\n$/);
  });

  it('writes what it holds when the window closes, without waiting for a model that has gone quiet', async () => {
    const source = controlledSource();
    source.push(1);
    source.push(2);
    const onEnd = jest.fn().mockResolvedValue(undefined);
    const written: string[] = [];
    const reading = writesOf(stream(source, 30, onEnd), written);

    // Chunks 1 and 2 leave when the 30 ms window closes, although the model sends nothing more for
    // now: waited for (a loaded machine may fire the window's timer late), not slept on.
    const seen = await until(
      async () => written.length,
      (count) => count >= 2,
    );
    expect(seen).toBe(2);
    source.push(3);
    source.end();
    const writes = await reading;

    expect(writes.map(idsIn)).toEqual([['c0'], ['c1', 'c2'], ['c3']]);
    expect(writes.at(-1)).toContain('data: [DONE]');
    expect(onEnd).toHaveBeenCalledWith('completed');
  });

  it('writes each chunk on its own with a window of 0', async () => {
    const source = controlledSource();
    for (let n = 1; n <= 3; n += 1) source.push(n);
    source.end();

    const writes = await writesOf(stream(source, 0));

    expect(writes.map(idsIn)).toEqual([['c0'], ['c1'], ['c2'], ['c3'], []]);
  });

  it('sends what the model said before it failed, then the error event', async () => {
    let calls = 0;
    const failing: AsyncIterator<ChatCompletionChunk> = {
      next: async () => {
        calls += 1;
        if (calls === 1) return { done: false, value: chunk(1) };
        throw new Error('model died');
      },
    };
    const response = sseResponse({
      first: { done: false, value: chunk(0) },
      rest: failing,
      transform: (c) => [c],
      errorBody: () => ({
        error: { message: 'model failed', type: 'server_error', param: null, code: 'model_error' },
      }),
      abort: new AbortController(),
      writeWindowMs: 60_000,
    });

    const text = (await writesOf(response)).join('');

    expect(idsIn(text)).toEqual(['c0', 'c1']);
    expect(text).toMatch(/"c1".*\n\ndata: \{"error":\{"message":"model failed"/s);
    expect(text).not.toContain('[DONE]');
  });
});
