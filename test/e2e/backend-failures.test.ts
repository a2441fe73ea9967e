import OpenAI from 'openai';
import {
  type BackendChatRequest,
  BackendError,
  type ModelBackend,
} from '../../lambda/inference/backends/model-backend';
import { TestModelBackend } from '../../lambda/inference/backends/test-model-backend';
import type { ChatCompletionChunk } from '../../lambda/openai/openai-types';
import { loadConfig } from '../../lib/config/load';
import { type LocalMode, startLocalMode } from '../../local/local-mode';
import { localClients } from '../support/local-clients';
import { expectSpecCompliance, specCheckedFetch } from '../support/spec-check';
import { until } from '../support/until';

type ApiError = InstanceType<typeof OpenAI.APIError>;

/** Runs `request`, which must fail, and returns the client's error. */
async function failureOf(request: Promise<unknown>): Promise<ApiError> {
  try {
    await request;
  } catch (error) {
    return error as ApiError;
  }
  throw new Error('expected the request to fail');
}

/** A backend whose behaviour each test sets: how the API answers model failures and client disconnects. */
class ScriptedBackend implements ModelBackend {
  readonly paced = new TestModelBackend({ tokensPerSecond: 50, replyTokens: 200 });
  mode: 'ok' | 'unavailable' | 'fail-mid-stream' | 'bad-request' | 'model-error' = 'ok';
  lastSignal?: AbortSignal;

  unsupportedParameters(): ReadonlySet<string> {
    return new Set();
  }

  async complete(request: BackendChatRequest) {
    this.fail();
    return this.paced.complete(request);
  }

  async *stream(request: BackendChatRequest): AsyncIterable<ChatCompletionChunk> {
    this.lastSignal = request.signal;
    this.fail();
    let sent = 0;
    for await (const chunk of this.paced.stream(request)) {
      if (this.mode === 'fail-mid-stream' && sent === 2)
        throw new BackendError('model_error', 'CUDA out of memory on host i-0abc');
      sent += 1;
      yield chunk;
    }
  }

  private fail(): void {
    if (this.mode === 'unavailable') {
      throw new BackendError(
        'unavailable',
        'Model llama is scaling up from zero; retry in about 5 minutes.',
        {
          retryAfterSeconds: 60,
        },
      );
    }
    if (this.mode === 'bad-request')
      throw new BackendError('bad_request', 'This model supports at most 131072 tokens.');
    if (this.mode === 'model-error') throw new BackendError('model_error', 'secret stack trace');
  }
}

describe('model failures and disconnects, seen by the openai client', () => {
  // Every answer below is checked against OpenAI's and Tierline's published schemas.
  const spec = specCheckedFetch();
  afterEach(() => expectSpecCompliance(spec));

  const backend = new ScriptedBackend();
  let local: LocalMode;
  let openai: OpenAI;
  const ask = { model: 'qwen3-8b', messages: [{ role: 'user' as const, content: 'x' }] };

  beforeAll(async () => {
    local = await startLocalMode({ config: loadConfig({ env: 'dev' }), port: 0, backend });
    const clients = localClients(local, spec.fetch);
    openai = clients.openai(clients.keys.enterprise);
  });
  afterAll(() => local.stop());
  beforeEach(() => {
    backend.mode = 'ok';
  });

  it('answers 503 with retry-after when the model has no capacity, streamed or not', async () => {
    backend.mode = 'unavailable';

    for (const stream of [false, true]) {
      const attempt = openai.chat.completions.create({ ...ask, stream });
      await expect(attempt).rejects.toBeInstanceOf(OpenAI.InternalServerError);
      await expect(attempt).rejects.toMatchObject({ status: 503, code: 'model_unavailable' });
      const error = await failureOf(attempt);
      expect(error.headers?.get('retry-after')).toBe('60');
      expect(error.headers?.get('x-request-id')).toBeTruthy();
    }
  });

  it("passes the model's complaint about the request on as a 400", async () => {
    backend.mode = 'bad-request';

    await expect(openai.chat.completions.create(ask)).rejects.toMatchObject({
      status: 400,
      message: expect.stringContaining('at most 131072 tokens'),
    });
  });

  it('answers a model failure with a 502 that quotes the request id and hides internals', async () => {
    backend.mode = 'model-error';

    const error = await failureOf(openai.chat.completions.create(ask));

    expect(error).toBeInstanceOf(OpenAI.InternalServerError);
    expect(error.status).toBe(502);
    expect((error.error as { code?: string }).code).toBe('model_error');
    expect(error.message).toContain(error.headers?.get('x-request-id') ?? 'missing');
    expect(error.message).not.toContain('secret');
  });

  it('ends a stream that fails after it started with an OpenAI error event the client raises', async () => {
    backend.mode = 'fail-mid-stream';
    const stream = await openai.chat.completions.create({ ...ask, stream: true });
    const received: string[] = [];

    const consume = async () => {
      for await (const chunk of stream) received.push(chunk.choices[0]?.delta.content ?? '');
    };

    await expect(consume()).rejects.toBeInstanceOf(OpenAI.APIError);
    expect(received.length).toBe(2);
  });

  it('ends a Responses stream that fails after it started with an error event, then response.failed', async () => {
    backend.mode = 'fail-mid-stream';
    const stream = await openai.responses.create({ model: 'qwen3-8b', input: 'x', stream: true });
    const types: string[] = [];
    let failure: unknown;
    try {
      for await (const event of stream) types.push(event.type);
    } catch (error) {
      failure = error;
    }

    // The openai client raises the `error` event (an SSE `event: error`) as an APIError; the spec
    // check reads the whole stream, which ends with `response.failed` after it.
    expect(failure).toBeInstanceOf(OpenAI.APIError);
    expect((failure as ApiError).message).toContain('request id');
    expect((failure as ApiError).message).not.toContain('CUDA');
    expect(types.slice(0, 4)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
    ]);
    expect(types.filter((t) => t === 'response.output_text.delta')).toHaveLength(2);
    // What was said is closed (incomplete) before the error.
    expect(types.slice(-3)).toEqual([
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
    ]);
  });

  it('answers a Responses request the model cannot take with 503 before any event', async () => {
    backend.mode = 'unavailable';
    const error = await failureOf(
      openai.responses.create({ model: 'qwen3-8b', input: 'x', stream: true }),
    );
    expect(error.status).toBe(503);
    expect(error.headers?.get('retry-after')).toBe('60');
  });

  it('stops the model when the client goes away mid-stream', async () => {
    const stream = await openai.chat.completions.create({ ...ask, stream: true });
    let received = 0;

    for await (const _chunk of stream) {
      received += 1;
      if (received === 3) break; // the SDK aborts the HTTP request
    }

    // The API notices the client left when its socket closes: waited for, not slept on.
    const aborted = await until(
      async () => backend.lastSignal?.aborted,
      (isAborted) => isAborted === true,
    );
    expect(aborted).toBe(true);
  });
});
