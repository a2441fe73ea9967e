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
          model: this.options.upstreamModel?.(request.model) ?? request.model,
        }),
        signal: request.signal,
      });
    } catch (error) {
      if (request.signal?.aborted) throw error;
      throw new BackendError('unavailable', `The model server at ${this.baseUrl} cannot be reached.`, {
        retryAfterSeconds: 5,
        cause: error,
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
      return new BackendError('unavailable', message || 'The model server is busy.', {
        retryAfterSeconds: Number.isFinite(retryAfter) ? retryAfter : 5,
        upstreamStatus: status,
      });
    }
    if (status >= 400 && status < 500) return new BackendError('bad_request', message, { upstreamStatus: status });
    return new BackendError('model_error', message, { upstreamStatus: status });
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
