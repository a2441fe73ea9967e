import type { ChatCompletion, ChatCompletionChunk } from '../../openai/openai-types';

/**
 * One interface for every place a model runs: SageMaker inference components in AWS, an
 * OpenAI-compatible server (vLLM, Ollama, llama.cpp) or the built-in deterministic test model in
 * local mode.
 */
export interface BackendChatRequest {
  /** The public model id from the catalog (`qwen3-14b`). */
  model: string;
  /**
   * The validated OpenAI chat request body to send upstream. `stream` and `stream_options` are set
   * by the backend itself; streaming always asks upstream for usage (metering needs it).
   */
  body: Record<string, unknown>;
  /** Aborted when the client goes away: stop generating. */
  signal?: AbortSignal;
  /**
   * A LoRA adapter to serve the request with, on its base model: `model` is then the public `ft:`
   * id. The caller has checked that the adapter is the caller's: model servers serve the base model
   * silently for an adapter name they do not know.
   */
  adapter?: AdapterTarget;
}

/** Where a fine-tuned model runs: its base model, and its adapter's name there. */
export interface AdapterTarget {
  /** Catalog id of the base model. */
  baseModel: string;
  /** The adapter inference component (SageMaker); the adapter's name on an OpenAI-compatible server (vLLM). */
  name: string;
}

export interface ModelBackend {
  /** Request body parameters this backend cannot honour for `model`: answered 400 naming the parameter. */
  unsupportedParameters(model: string): ReadonlySet<string>;
  /** A whole completion, with usage. */
  complete(request: BackendChatRequest): Promise<ChatCompletion>;
  /**
   * The completion as chunks. The last chunk carries `usage` (with `choices: []`); the caller drops
   * it when the client did not ask for usage. Errors after the first chunk are thrown from the
   * iterator.
   */
  stream(request: BackendChatRequest): AsyncIterable<ChatCompletionChunk>;
}

export type BackendErrorKind =
  /** No capacity right now (scaled to zero, scaling out, overloaded): retry later. */
  | 'unavailable'
  /** The model rejected the request (context too long, bad parameter). */
  | 'bad_request'
  /** The model failed while generating. */
  | 'model_error'
  /** The backend did not answer in time. */
  | 'timeout';

/** A failure of the model backend, classified so the API can answer an honest status. */
export class BackendError extends Error {
  constructor(
    readonly kind: BackendErrorKind,
    message: string,
    readonly options: { retryAfterSeconds?: number; upstreamStatus?: number; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'BackendError';
  }
}
