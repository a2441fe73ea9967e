import type { IncomingMessage } from 'node:http';
import * as http from 'node:http';
import * as https from 'node:https';
import type { ChatCompletion, ChatCompletionChunk } from '../../openai/openai-types';
import { type BackendChatRequest, BackendError, type ModelBackend } from './model-backend';
import { PayloadLineParser } from './sse-lines';

export interface OpenAICompatibleBackendOptions {
  /** Base URL that ends in `/v1`, e.g. `http://localhost:11434/v1` (Ollama) or `http://localhost:8000/v1` (vLLM). */
  baseUrl: string;
  apiKey?: string;
  /** The upstream model name for a catalog model id; the id itself when absent. */
  upstreamModel?: (modelId: string) => string;
  /**
   * How long the server may send nothing (no answer yet, or a stream gone quiet) before the request
   * is given up with a 504 and its connection closed. `fetch` (undici) had this built in, 300 s for
   * headers and for body gaps; `node:http` waits forever, and so would a request on a wedged
   * server. @default 300_000
   */
  idleTimeoutMs?: number;
}

/** Reads a whole (error or JSON) body as text. */
async function textOf(response: IncomingMessage): Promise<string> {
  response.setEncoding('utf8');
  let text = '';
  for await (const part of response) text += part;
  return text;
}

/**
 * What is read of an error answer's body: enough for any server's JSON error, and a bound on a body
 * that is huge or never ends (its connection is closed instead of drained).
 */
const ERROR_BODY_BYTES = 64 * 1024;

/** The first `limit` bytes of a body as text; a body longer than that is not read further, and destroyed. */
async function beginningOf(response: IncomingMessage, limit: number): Promise<string> {
  const parts: Buffer[] = [];
  let length = 0;
  for await (const part of response as AsyncIterable<Buffer>) {
    parts.push(part);
    length += part.length;
    // Leaving the loop destroys the response, and its connection with it.
    if (length >= limit) break;
  }
  return Buffer.concat(parts).subarray(0, limit).toString('utf8');
}

/**
 * Any OpenAI-compatible chat server (vLLM, Ollama, llama.cpp server, another gateway) as a model
 * backend. Local mode uses it when `TIERLINE_UPSTREAM_URL` is set; it is also the "direct" side of
 * the benchmark.
 *
 * It speaks `node:http(s)` on kept-alive connections rather than `fetch`: measured with a bare
 * proxy under `bench:gateway` (c=16), a streamed request cost 10.4 ms of CPU through `fetch`
 * (undici's WHATWG streams, a Request and Headers object per call) and 4.5 ms through `node:http`,
 * on the same machine.
 */
export class OpenAICompatibleBackend implements ModelBackend {
  private readonly url: URL;
  private readonly transport: typeof http | typeof https;
  private readonly agent: http.Agent;

  constructor(private readonly options: OpenAICompatibleBackendOptions) {
    this.url = new URL(`${options.baseUrl.replace(/\/+$/, '')}/chat/completions`);
    this.transport = this.url.protocol === 'https:' ? https : http;
    this.agent = new this.transport.Agent({ keepAlive: true });
  }

  unsupportedParameters(): ReadonlySet<string> {
    // The server decides; what it cannot honour it answers with a 400, which is passed on.
    return new Set();
  }

  /** The server's base URL, as errors for the log name it (never the customer's message). */
  private get baseUrl(): string {
    return this.url.href.replace(/\/chat\/completions$/, '');
  }

  private async post(
    request: BackendChatRequest,
    body: Record<string, unknown>,
  ): Promise<IncomingMessage> {
    const payload = JSON.stringify({
      ...request.body,
      ...body,
      // A LoRA adapter goes by its own name (vLLM `--enable-lora --lora-modules <name>=<path>`).
      model: request.adapter?.name ?? this.options.upstreamModel?.(request.model) ?? request.model,
    });
    let response: IncomingMessage;
    try {
      response = await new Promise<IncomingMessage>((resolve, reject) => {
        let answer: IncomingMessage | undefined;
        const idleMs = this.options.idleTimeoutMs ?? 300_000;
        const outgoing = this.transport.request(this.url, {
          method: 'POST',
          agent: this.agent,
          signal: request.signal,
          timeout: idleMs,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(payload),
            ...(this.options.apiKey ? { authorization: `Bearer ${this.options.apiKey}` } : {}),
          },
        });
        // Destroying closes the connection (never reused) and, through the error, ends a stream
        // being read.
        outgoing.once('timeout', () => {
          const stalled = new BackendError('timeout', 'The model server stopped answering.', {
            cause: new Error(`${this.baseUrl}: nothing for ${idleMs} ms`),
          });
          if (answer) answer.destroy(stalled);
          else outgoing.destroy(stalled);
        });
        outgoing.once('response', (incoming) => {
          answer = incoming;
          resolve(incoming);
        });
        outgoing.once('error', reject);
        outgoing.end(payload);
      });
    } catch (error) {
      if (request.signal?.aborted || error instanceof BackendError) throw error;
      // The message reaches the customer: the server's address stays in the cause (for the log)
      // only.
      throw new BackendError(
        'unavailable',
        'The model server cannot be reached right now. Please retry shortly.',
        {
          retryAfterSeconds: 5,
          cause: new Error(
            `${this.baseUrl}: ${error instanceof Error ? error.message : String(error)}`,
          ),
        },
      );
    }
    const status = response.statusCode ?? 0;
    if (status < 200 || status > 299) throw await this.failure(response, status);
    return response;
  }

  private async failure(response: IncomingMessage, status: number): Promise<BackendError> {
    const text = await beginningOf(response, ERROR_BODY_BYTES).catch(() => '');
    let message = text.slice(0, 500);
    try {
      const parsed = JSON.parse(text) as {
        error?: { message?: string } | string;
        message?: string;
      };
      message =
        (typeof parsed.error === 'string' ? parsed.error : parsed.error?.message) ??
        parsed.message ??
        message;
    } catch {
      // Not JSON: keep the text.
    }
    if (status === 429 || status === 503) {
      const retryAfter = Number(response.headers['retry-after'] ?? '5');
      // A fixed message: a busy server's own text may name hosts or internals.
      return new BackendError('unavailable', 'The model is busy right now. Please retry shortly.', {
        retryAfterSeconds: Number.isFinite(retryAfter) ? retryAfter : 5,
        upstreamStatus: status,
      });
    }
    if (status >= 400 && status < 500)
      return new BackendError('bad_request', message, { upstreamStatus: status });
    return new BackendError('model_error', `${this.baseUrl} answered ${status}: ${message}`, {
      upstreamStatus: status,
    });
  }

  async complete(request: BackendChatRequest): Promise<ChatCompletion> {
    const response = await this.post(request, { stream: false });
    let completion: ChatCompletion;
    try {
      completion = JSON.parse(await textOf(response)) as ChatCompletion;
    } catch (error) {
      if (request.signal?.aborted || error instanceof BackendError) throw error;
      throw new BackendError(
        'model_error',
        'The model server answered with a body that is not JSON.',
        {
          cause: error,
        },
      );
    }
    if (!completion.usage) {
      throw new BackendError(
        'model_error',
        'The model server returned no token usage; it is needed for metering.',
      );
    }
    return { ...completion, model: request.model };
  }

  async *stream(request: BackendChatRequest): AsyncIterable<ChatCompletionChunk> {
    const response = await this.post(request, {
      stream: true,
      stream_options: { include_usage: true },
    });
    const type = response.headers['content-type'] ?? '';
    if (!type.startsWith('text/event-stream')) {
      // Some servers ignore `stream: true` and answer one JSON body. Failing here, before the first
      // chunk, lets the API answer an honest 502 instead of a 200 stream that breaks at once.
      response.destroy();
      throw new BackendError(
        'model_error',
        `The model server answered a streamed request with ${type || 'no content type'}, not text/event-stream.`,
        { upstreamStatus: response.statusCode },
      );
    }
    const parser = new PayloadLineParser();
    // Iterated by hand: leaving a `for await` over the response (at the end marker) would destroy
    // it, and with it a connection the pool could reuse.
    const body = (response as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    let finished = false;
    try {
      while (!finished) {
        const next = await body.next();
        const parsed = next.done ? parser.end() : parser.push(next.value);
        for (const payload of parsed.payloads) yield this.chunkOf(request, payload);
        finished = next.done === true || parsed.done;
      }
    } finally {
      // Done: read what is left (the chunked body's end) so that the connection goes back to the
      // pool. Stopped early (the client went away, the stream failed): close it, which stops the
      // upstream's generation.
      if (finished) response.resume();
      else response.destroy();
    }
  }

  private chunkOf(request: BackendChatRequest, payload: string): ChatCompletionChunk {
    const chunk = JSON.parse(payload) as ChatCompletionChunk & { error?: { message?: string } };
    if (chunk.error)
      throw new BackendError('model_error', chunk.error.message ?? 'The model failed mid-stream.');
    return { ...chunk, object: 'chat.completion.chunk', model: request.model };
  }
}
