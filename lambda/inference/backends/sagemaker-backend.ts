import {
  InvokeEndpointCommand,
  InvokeEndpointWithResponseStreamCommand,
  type ResponseStream,
  SageMakerRuntimeClient,
} from '@aws-sdk/client-sagemaker-runtime';
import type { ChatCompletion, ChatCompletionChunk } from '../../openai/openai-types';
import { awsClientOptions } from '../../storage/aws-clients';
import { completionFromChunks } from './chunk-aggregate';
import {
  type BackendChatRequest,
  BackendError,
  type BackendErrorKind,
  type ModelBackend,
} from './model-backend';
import { endpointName, inferenceComponentName } from './sagemaker-names';
import { type ParsedPayloads, PayloadLineParser } from './sse-lines';

/** Where a model is invoked: an endpoint and one of its inference components (a base model or an adapter). */
export interface SageMakerTarget {
  endpointName: string;
  inferenceComponentName: string;
}

export interface SageMakerBackendProps {
  /** @default one client per module, created on first use */
  readonly client?: SageMakerRuntimeClient;
  /** Deployment environment, part of every SageMaker resource name. */
  readonly env: string;
  /**
   * Maps a public model id to what to invoke. Exists so a fine-tuned model can map to its adapter
   * component.
   * @default the base model's names from sagemaker-names.ts
   */
  readonly resolveTarget?: (model: string) => SageMakerTarget;
}

/** A component scaled to zero needs a new instance: SageMaker takes about 5-6 minutes to scale out. */
const SCALE_FROM_ZERO_RETRY_AFTER_SECONDS = 60;
const MODEL_NOT_READY_RETRY_AFTER_SECONDS = 30;
const SERVICE_UNAVAILABLE_RETRY_AFTER_SECONDS = 10;
const THROTTLED_RETRY_AFTER_SECONDS = 5;
/** Upstream error text is relayed to clients: keep a runaway body (a stack trace) out of the response. */
const MAX_UPSTREAM_MESSAGE_LENGTH = 500;
const JSON_CONTENT_TYPE = 'application/json';

/**
 * LMI (vLLM) honours the OpenAI chat parameters Tierline accepts. `n` is not refused here: the API
 * layer already answers 400 for `n != 1`, for every backend, so a second check would only be a
 * second opinion.
 */
const NO_UNSUPPORTED_PARAMETERS: ReadonlySet<string> = new Set();

let sharedClient: SageMakerRuntimeClient | undefined;
function defaultClient(): SageMakerRuntimeClient {
  // Created on first use, not at import: importing the module has no side effect.
  sharedClient ??= new SageMakerRuntimeClient(awsClientOptions('sagemakerRuntime'));
  return sharedClient;
}

/** Models served by SageMaker inference components running LMI (vLLM) or TGI with the OpenAI chat API. */
export class SageMakerBackend implements ModelBackend {
  private readonly client: SageMakerRuntimeClient;
  private readonly resolveTarget: (model: string) => SageMakerTarget;

  constructor(props: SageMakerBackendProps) {
    this.client = props.client ?? defaultClient();
    this.resolveTarget =
      props.resolveTarget ??
      ((model) => ({
        endpointName: endpointName(props.env, model),
        inferenceComponentName: inferenceComponentName(props.env, model),
      }));
  }

  unsupportedParameters(_model: string): ReadonlySet<string> {
    return NO_UNSUPPORTED_PARAMETERS;
  }

  /** The base model's endpoint, and its adapter component for a fine-tuned model. */
  private targetOf(request: BackendChatRequest): SageMakerTarget {
    if (!request.adapter) return this.resolveTarget(request.model);
    const base = this.resolveTarget(request.adapter.baseModel);
    return { endpointName: base.endpointName, inferenceComponentName: request.adapter.name };
  }

  /**
   * Built on the streaming call and folded into one completion: `InvokeEndpoint` gives the
   * container 60 s to answer in full (AWS API reference, InvokeEndpoint: "model containers must
   * respond to requests within 60 seconds"), which 8,192 output tokens at tens of tokens per second
   * exceed; `InvokeEndpointWithResponseStream` has no limit on the whole answer.
   */
  async complete(request: BackendChatRequest): Promise<ChatCompletion> {
    const chunks: ChatCompletionChunk[] = [];
    for await (const chunk of this.stream(request)) chunks.push(chunk);
    return completionFromChunks(chunks, request.model);
  }

  async *stream(request: BackendChatRequest): AsyncGenerator<ChatCompletionChunk> {
    const target = this.targetOf(request);
    try {
      const response = await this.client.send(
        new InvokeEndpointWithResponseStreamCommand({
          EndpointName: target.endpointName,
          InferenceComponentName: target.inferenceComponentName,
          ContentType: JSON_CONTENT_TYPE,
          Accept: JSON_CONTENT_TYPE,
          Body: JSON.stringify({
            ...lmiBody(request.body),
            stream: true,
            // Always: metering needs the usage chunk even when the client did not ask for it.
            stream_options: { include_usage: true },
          }),
        }),
        { abortSignal: request.signal },
      );
      if (!response.Body)
        throw new BackendError('model_error', 'SageMaker returned a stream without a body.');

      const parser = new PayloadLineParser();
      for await (const event of response.Body) {
        const parsed = parser.push(payloadBytesOf(event));
        yield* chunksOf(parsed, request.model);
        if (parsed.done) return;
      }
      yield* chunksOf(parser.end(), request.model);
    } catch (error) {
      // Errors arrive both as thrown SDK exceptions and as events of the stream: one mapping for
      // all.
      const mapped = toBackendError(error, request);
      if (request.adapter && isNoCapacity(error)) await this.wakeBase(target, request);
      throw mapped;
    }
  }

  /**
   * A fine-tune's traffic alone must wake its base scaled to zero. The scale-from-zero alarm
   * watches the base component's `NoCapacityInvocationFailures`, a metric SageMaker records for the
   * component invoked (AWS, "Scale an endpoint to zero instances"), and an adapter component has no
   * copies of its own. So a request that found the adapter without capacity invokes the base
   * component once: with no copies it fails the same way, at once, and that failure is the data
   * point the alarm needs; no GPU runs. Its answer is ignored: the client gets the adapter's 503
   * and retry-after.
   */
  private async wakeBase(target: SageMakerTarget, request: BackendChatRequest): Promise<void> {
    if (!request.adapter) return;
    const base = this.resolveTarget(request.adapter.baseModel);
    if (base.inferenceComponentName === target.inferenceComponentName) return;
    try {
      await this.client.send(
        new InvokeEndpointCommand({
          EndpointName: base.endpointName,
          InferenceComponentName: base.inferenceComponentName,
          ContentType: JSON_CONTENT_TYPE,
          Accept: JSON_CONTENT_TYPE,
          // One token, should a copy have come up in between: far within InvokeEndpoint's 60 s.
          Body: JSON.stringify({ messages: [{ role: 'user', content: '.' }], max_tokens: 1 }),
        }),
      );
    } catch {
      // Expected (no capacity): the failure itself is the signal.
    }
  }
}

/**
 * The body LMI takes: the OpenAI chat body without `model`. LMI's vLLM handler serves the base
 * model under `OPTION_SERVED_MODEL_NAME` (default `lmi`) and fills `model` only when the body has
 * none; vLLM answers 404 "The model `X` does not exist." for any other name (djl-serving
 * `vllm_async_service.py`, `preprocess_request`; vLLM `OpenAIServing._check_model`). For an adapter
 * component SageMaker sends the adapter's identifier header, and the handler puts the adapter's
 * name in `model` itself. Leaving `model` out is right for both, whatever the served name is.
 */
function lmiBody(body: Record<string, unknown>): Record<string, unknown> {
  const { model: _model, stream_options: _streamOptions, ...rest } = body;
  return rest;
}

function isNoCapacity(error: unknown): boolean {
  return (
    isRecord(error) &&
    error.name === 'ValidationError' &&
    typeof error.message === 'string' &&
    /no capacity/i.test(error.message)
  );
}

function* chunksOf(parsed: ParsedPayloads, publicModel: string): Generator<ChatCompletionChunk> {
  // One at a time: the chunks before an error document in the same payload part still reach the
  // client.
  for (const payload of parsed.payloads) yield toChunk(parseJson(payload), publicModel);
}

/** The bytes of a payload event; error events become the SDK exception they carry, mapped like a throw. */
function payloadBytesOf(event: ResponseStream): Uint8Array {
  if (event.PayloadPart) return event.PayloadPart.Bytes ?? new Uint8Array();
  if (event.ModelStreamError) throw event.ModelStreamError;
  if (event.InternalStreamFailure) throw event.InternalStreamFailure;
  // An event type newer than this SDK: nothing we can read, and no reason to fail the stream.
  return new Uint8Array();
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new BackendError('model_error', `The model returned invalid JSON: ${truncate(text)}`, {
      cause: error,
    });
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Throws for the error documents containers send with a 200: OpenAI's `{error}` and vLLM's `{object: 'error'}`. */
function throwIfErrorDocument(document: Record<string, unknown>): void {
  if (document.error === undefined && document.object !== 'error') return;
  const status = statusOfErrorDocument(document);
  throw new BackendError(
    kindForUpstreamStatus(status),
    `The model failed: ${upstreamMessage(document)}`,
    {
      upstreamStatus: status,
    },
  );
}

function statusOfErrorDocument(document: Record<string, unknown>): number | undefined {
  const candidates = [document.code, isRecord(document.error) ? document.error.code : undefined];
  return candidates.find((candidate): candidate is number => typeof candidate === 'number');
}

function toChunk(document: unknown, publicModel: string): ChatCompletionChunk {
  if (!isRecord(document))
    throw new BackendError('model_error', 'The model streamed a non-object chunk.');
  throwIfErrorDocument(document);
  if (!Array.isArray(document.choices)) {
    throw new BackendError('model_error', 'The model streamed a chunk without choices.');
  }
  return {
    ...(document as unknown as ChatCompletionChunk),
    object: 'chat.completion.chunk',
    model: publicModel,
  };
}

/** The kind an HTTP status of the model container means. */
function kindForUpstreamStatus(status: number | undefined): BackendErrorKind {
  if (status === 429 || status === 503) return 'unavailable';
  if (status === 408) return 'timeout';
  if (status !== undefined && status >= 400 && status < 500) return 'bad_request';
  return 'model_error';
}

function retryAfterForStatus(status: number | undefined): number | undefined {
  if (status === 429) return THROTTLED_RETRY_AFTER_SECONDS;
  if (status === 503) return SERVICE_UNAVAILABLE_RETRY_AFTER_SECONDS;
  return undefined;
}

interface SdkErrorFields {
  name?: unknown;
  message?: unknown;
  code?: unknown;
  ErrorCode?: unknown;
  OriginalStatusCode?: unknown;
  OriginalMessage?: unknown;
  $metadata?: { httpStatusCode?: unknown };
}

/**
 * Classifies whatever the SDK threw. Matched by `name`, not `instanceof`, so errors the SDK builds
 * from an unmodelled code (ThrottlingException) are classified too.
 */
export function toBackendError(
  error: unknown,
  request: Pick<BackendChatRequest, 'model' | 'signal'>,
): Error {
  if (error instanceof BackendError) return error;
  const fields: SdkErrorFields = isRecord(error) ? error : {};
  const name = typeof fields.name === 'string' ? fields.name : '';
  // The caller aborted (the client went away): it knows why, and no status is owed to anyone.
  if (name === 'AbortError' || request.signal?.aborted)
    return error instanceof Error ? error : new Error(name);

  const message = typeof fields.message === 'string' ? fields.message : String(error);
  const httpStatus =
    typeof fields.$metadata?.httpStatusCode === 'number'
      ? fields.$metadata.httpStatusCode
      : undefined;
  const model = request.model;
  const cause = error;

  if (name === 'ModelError') {
    const originalStatus =
      typeof fields.OriginalStatusCode === 'number' ? fields.OriginalStatusCode : undefined;
    const originalMessage = upstreamMessage(fields.OriginalMessage ?? message);
    // SageMaker answers with a ModelError when the container misses the 60 s invocation deadline.
    if (/timed out/i.test(message) || /timed out/i.test(originalMessage)) {
      return new BackendError('timeout', `Model ${model} did not answer in time.`, {
        upstreamStatus: originalStatus,
        cause,
      });
    }
    const kind = kindForUpstreamStatus(originalStatus);
    return new BackendError(
      kind,
      kind === 'bad_request' ? originalMessage : `Model ${model} failed: ${originalMessage}`,
      {
        upstreamStatus: originalStatus,
        retryAfterSeconds: retryAfterForStatus(originalStatus),
        cause,
      },
    );
  }
  if (name === 'ValidationError' && /no capacity/i.test(message)) {
    return new BackendError(
      'unavailable',
      `Model ${model} has no capacity right now (it scales out from zero on demand, which takes about 5-6 minutes). Retry in ${SCALE_FROM_ZERO_RETRY_AFTER_SECONDS} seconds.`,
      { retryAfterSeconds: SCALE_FROM_ZERO_RETRY_AFTER_SECONDS, upstreamStatus: httpStatus, cause },
    );
  }
  if (name === 'ValidationError' && /not found|does not exist|could not find/i.test(message)) {
    // The GPU stack can be torn down to stop its cost: the names are deterministic, so the API
    // stays up.
    return new BackendError('unavailable', `Model ${model} is not deployed right now.`, {
      upstreamStatus: httpStatus,
      cause,
    });
  }
  if (name === 'ModelNotReadyException') {
    return new BackendError('unavailable', `Model ${model} is loading. Retry shortly.`, {
      retryAfterSeconds: MODEL_NOT_READY_RETRY_AFTER_SECONDS,
      upstreamStatus: httpStatus,
      cause,
    });
  }
  if (name === 'ThrottlingException' || httpStatus === 429) {
    return new BackendError(
      'unavailable',
      `Model ${model} is receiving too many requests. Retry shortly.`,
      {
        retryAfterSeconds: THROTTLED_RETRY_AFTER_SECONDS,
        upstreamStatus: httpStatus,
        cause,
      },
    );
  }
  if (name === 'ServiceUnavailable' || name === 'InternalStreamFailure' || httpStatus === 503) {
    return new BackendError(
      'unavailable',
      `Model ${model} is temporarily unavailable. Retry shortly.`,
      {
        retryAfterSeconds: SERVICE_UNAVAILABLE_RETRY_AFTER_SECONDS,
        upstreamStatus: httpStatus,
        cause,
      },
    );
  }
  if (isTimeout(name, fields)) {
    return new BackendError('timeout', `Model ${model} did not answer in time.`, {
      upstreamStatus: httpStatus,
      cause,
    });
  }
  return new BackendError(
    'model_error',
    `Model ${model} failed (${name || 'unknown error'}): ${upstreamMessage(message)}`,
    {
      upstreamStatus: httpStatus,
      cause,
    },
  );
}

function isTimeout(name: string, fields: SdkErrorFields): boolean {
  return (
    name === 'TimeoutError' ||
    name === 'RequestTimeout' ||
    name === 'RequestTimeoutException' ||
    fields.code === 'ETIMEDOUT' ||
    // A stream cut because the model exceeded SageMaker's invocation time.
    (name === 'ModelStreamError' && fields.ErrorCode === 'ModelInvocationTimeExceeded')
  );
}

/**
 * A message fit for a client: the `message` of a JSON error body when there is one, without ARNs or
 * account ids (SageMaker puts both in its error texts), and short.
 */
export function upstreamMessage(raw: unknown): string {
  const text = messageOfErrorBody(raw);
  return truncate(redactAwsIdentifiers(text));
}

function messageOfErrorBody(raw: unknown): string {
  let document: unknown = raw;
  if (typeof raw === 'string') {
    try {
      document = JSON.parse(raw);
    } catch {
      return raw;
    }
  }
  if (!isRecord(document)) return typeof raw === 'string' ? raw : JSON.stringify(raw);
  if (typeof document.message === 'string') return document.message;
  if (typeof document.error === 'string') return document.error;
  if (isRecord(document.error) && typeof document.error.message === 'string')
    return document.error.message;
  return JSON.stringify(document);
}

export function redactAwsIdentifiers(text: string): string {
  return text
    .replace(/arn:aws[a-z-]*:[^\s"'`,;()<>]*/g, '[arn]')
    .replace(/(?<!\d)\d{12}(?!\d)/g, '[account]');
}

function truncate(text: string): string {
  return text.length <= MAX_UPSTREAM_MESSAGE_LENGTH
    ? text
    : `${text.slice(0, MAX_UPSTREAM_MESSAGE_LENGTH)}…`;
}
