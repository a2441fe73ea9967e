import type { ChatCompletion, ChatCompletionChunk } from '../../openai/openai-types';
import { type BackendChatRequest, BackendError, type ModelBackend } from './model-backend';
import { PayloadLineParser } from './sse-lines';

export interface OpenAICompatibleBackendOptions {
  /** Base URL that ends in `/v1`, e.g. `http://localhost:11434/v1` (Ollama) or `http://localhost:8000/v1` (vLLM). */
  baseUrl: string;
  apiKey?: string;
  /** The upstream model name for a catalog model id; the id itself when absent. */
  upstreamModel?: (modelId: string) => string;
  /** Injected in tests. */
  fetch?: typeof fetch;
}

/**
 * Any OpenAI-compatible chat server (vLLM, Ollama, llama.cpp server, another gateway) as a model backend.
 * Local mode uses it when `TIERLINE_UPSTREAM_URL` is set; it is also the "direct" side of the benchmark.
 */
export class OpenAICompatibleBackend implements ModelBackend {
  private readonly fetch: typeof fetch;
  private readonly baseUrl: string;

  constructor(private readonly options: OpenAICompatibleBackendOptions) {
    this.fetch = options.fetch ?? fetch;
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
  }

  unsupportedParameters(): ReadonlySet<string> {
    // The server decides; what it cannot honour it answers with a 400, which is passed on.
    return new Set();
  }

  private async post(request: BackendChatRequest, body: Record<string, unknown>): Promise<Response> {
    let response: Response;
    try {
      response = await this.fetch(`${this.baseUrl}/chat/completions`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(this.options.apiKey ? { authorization: `Bearer ${this.options.apiKey}` } : {}),
        },
        body: JSON.stringify({
          ...request.body,
          ...body,
          // A LoRA adapter goes by its own name (vLLM `--enable-lora --lora-modules <name>=<path>`).
          model: request.adapter?.name ?? this.options.upstreamModel?.(request.model) ?? request.model,
        }),
        signal: request.signal,
      });
    } catch (error) {
      if (request.signal?.aborted) throw error;
      // The message reaches the customer: the server's address stays in the cause (for the log) only.
      throw new BackendError('unavailable', 'The model server cannot be reached right now. Please retry shortly.', {
        retryAfterSeconds: 5,
        cause: new Error(`${this.baseUrl}: ${error instanceof Error ? error.message : String(error)}`),
      });
    }
    if (!response.ok) throw await this.failure(response);
    return response;
  }

  private async failure(response: Response): Promise<BackendError> {
    const text = await response.text().catch(() => '');
    let message = text.slice(0, 500);
    try {
      const parsed = JSON.parse(text) as { error?: { message?: string } | string; message?: string };
      message = (typeof parsed.error === 'string' ? parsed.error : parsed.error?.message) ?? parsed.message ?? message;
    } catch {
      // Not JSON: keep the text.
    }
    const status = response.status;
    if (status === 429 || status === 503) {
      const retryAfter = Number(response.headers.get('retry-after') ?? '5');
      // A fixed message: a busy server's own text may name hosts or internals.
      return new BackendError('unavailable', 'The model is busy right now. Please retry shortly.', {
        retryAfterSeconds: Number.isFinite(retryAfter) ? retryAfter : 5,
        upstreamStatus: status,
      });
    }
    if (status >= 400 && status < 500) return new BackendError('bad_request', message, { upstreamStatus: status });
    return new BackendError('model_error', `${this.baseUrl} answered ${status}: ${message}`, {
      upstreamStatus: status,
    });
  }

  async complete(request: BackendChatRequest): Promise<ChatCompletion> {
    const response = await this.post(request, { stream: false });
    const completion = (await response.json()) as ChatCompletion;
    if (!completion.usage) {
      throw new BackendError('model_error', 'The model server returned no token usage; it is needed for metering.');
    }
    return { ...completion, model: request.model };
  }

  async *stream(request: BackendChatRequest): AsyncIterable<ChatCompletionChunk> {
    const response = await this.post(request, { stream: true, stream_options: { include_usage: true } });
    if (!response.body) throw new BackendError('model_error', 'The model server sent no stream.');
    const type = response.headers.get('content-type') ?? '';
    if (!type.startsWith('text/event-stream')) {
      // Some servers ignore `stream: true` and answer one JSON body. Failing here, before the first chunk,
      // lets the API answer an honest 500 instead of a 200 stream that breaks at once.
      await response.body.cancel().catch(() => undefined);
      throw new BackendError(
        'model_error',
        `The model server answered a streamed request with ${type || 'no content type'}, not text/event-stream.`,
        { upstreamStatus: response.status },
      );
    }
    const parser = new PayloadLineParser();
    const reader = response.body.getReader();
    try {
      while (true) {
        const { value, done } = await reader.read();
        const parsed = done ? parser.end() : parser.push(value);
        for (const payload of parsed.payloads) {
          const chunk = JSON.parse(payload) as ChatCompletionChunk & { error?: { message?: string } };
          if (chunk.error) throw new BackendError('model_error', chunk.error.message ?? 'The model failed mid-stream.');
          yield { ...chunk, object: 'chat.completion.chunk', model: request.model };
        }
        if (done || parsed.done) return;
      }
    } finally {
      // Stops the upstream request when the consumer stops early (client went away).
      await reader.cancel().catch(() => undefined);
    }
  }
}
