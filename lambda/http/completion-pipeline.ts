import type { Context } from 'hono';
import type { ModelConfig } from '../../lib/config/schema';
import type { Principal } from '../customers/authenticate';
import { fineTunedModelNotFound } from '../fine-tuning/adapters-service';
import type { ResolvedFineTune } from '../fine-tuning/model-resolver';
import { BackendError } from '../inference/backends/model-backend';
import {
  type ChatMessage,
  type ChatRequest,
  givenParameters,
  messagesForBackend,
} from '../inference/chat-request';
import { resolveModel } from '../inference/models';
import type { PromptTokenCounter } from '../inference/prompt-tokens';
import {
  planReasoning,
  REASONING_PARAMETERS,
  type ReasoningFormat,
  type ReasoningPlan,
  ReasoningStream,
  reasoningUpstream,
} from '../inference/reasoning';
import { checkContextWindow, promptPastWindow } from '../inference/tokens';
import type { MeteredRequest } from '../metering/request-metering';
import { MAX_REQUEST_MS } from '../metering/reservations';
import {
  BadGatewayError,
  BadRequestError,
  GatewayTimeoutError,
  HttpError,
  InternalServerError,
  type OpenAIErrorBody,
  PayloadTooLargeError,
  ServiceUnavailableError,
} from '../openai/errors';
import type { ChatCompletion, ChatCompletionChunk, Usage } from '../openai/openai-types';
import { chunkForClient, usageForClient } from '../openai/response-shapes';
import { MAX_REQUEST_BYTES } from './request-guards';
import { sseResponse } from './sse';
import type { ApiDependencies } from './types';

/**
 * What a chat completion and a Responses request share once their bodies are valid: the model
 * (a catalog model of the tier, or the caller's `ft:` model), the prompt counted with the model's
 * tokenizer, admission by the limiter with its spend reservation, the backend call (streamed or
 * not, cut at the request's maximum duration), and settlement in the ledger however it ends. Each
 * route turns its own body into a {@link ChatRequest} and says how the answer looks
 * ({@link CompletionRenderer}); the metering is this module's alone, so both are metered alike.
 */

/** Request fields Tierline handles itself; everything else of a valid request goes upstream unchanged. */
const HANDLED_HERE = new Set([
  'model',
  'stream',
  'stream_options',
  'max_tokens',
  'max_completion_tokens',
  'user',
  'n',
  ...REASONING_PARAMETERS,
]);

export async function readJsonBody(c: Context): Promise<unknown> {
  const declared = Number(c.req.header('content-length') ?? '0');
  if (declared > MAX_REQUEST_BYTES) throw new PayloadTooLargeError(MAX_REQUEST_BYTES);
  const text = await c.req.text();
  if (Buffer.byteLength(text) > MAX_REQUEST_BYTES)
    throw new PayloadTooLargeError(MAX_REQUEST_BYTES);
  try {
    return JSON.parse(text);
  } catch {
    throw new BadRequestError(
      'We could not parse the JSON body of your request. Send a JSON object with Content-Type: application/json.',
    );
  }
}

/** Maps a model backend failure to the status a client should see; never leaks internals. */
export function backendFailureToHttp(error: unknown, requestId: string): HttpError {
  if (error instanceof HttpError) return error;
  if (!(error instanceof BackendError)) return new InternalServerError(requestId);
  switch (error.kind) {
    case 'unavailable':
      return new ServiceUnavailableError(error.message, error.options.retryAfterSeconds ?? 30);
    case 'bad_request':
      return new BadRequestError(error.message);
    case 'timeout':
      return new GatewayTimeoutError(
        `The model did not answer in time. Please retry (request id ${requestId}).`,
      );
    case 'model_error':
      return new BadGatewayError(requestId);
    default:
      return new InternalServerError(requestId);
  }
}

function upstreamBody(
  request: ChatRequest,
  maxTokens: number,
  reasoning: ReasoningPlan | undefined,
): Record<string, unknown> {
  const body: Record<string, unknown> = { max_tokens: maxTokens };
  for (const [key, value] of Object.entries(request)) {
    if (!HANDLED_HERE.has(key) && value !== undefined && value !== null) body[key] = value;
  }
  body.messages = messagesForBackend(request.messages);
  return reasoningUpstream(body, reasoning);
}

/**
 * A request that got no output. When the model could not take it (no capacity, or it refused the
 * request) it did not run: the reservation is given back. Otherwise it ran (and timed out, failed,
 * or the client left): it counts against the limits and goes to the ledger, where a failure without
 * output costs nothing.
 */
async function endWithoutOutput(
  metered: MeteredRequest,
  error: unknown,
  signal: AbortSignal,
  inputTokens: number,
): Promise<void> {
  if (
    !signal.aborted &&
    error instanceof BackendError &&
    (error.kind === 'unavailable' || error.kind === 'bad_request')
  ) {
    await metered.release();
    return;
  }
  await metered.finish({
    status: signal.aborted ? 'client_disconnected' : 'failed',
    inputTokens,
    outputTokens: 0,
  });
}

/** The public name of a chat request's parameter in the route's own body (400s name it). */
export type ParamName = (chatParam: string) => string;

const sameName: ParamName = (param) => param;

/** Refuses parameters the backend cannot honour and output limits above the model's: 400 naming them. */
function checkParameters(
  deps: ApiDependencies,
  request: ChatRequest,
  model: string,
  modelMaxOutput: number,
  paramName: ParamName,
): void {
  const unsupported = deps.backend.unsupportedParameters(model);
  const refused = givenParameters(request).find((param) => unsupported.has(param));
  if (refused) {
    const param = paramName(refused);
    throw new BadRequestError(
      `'${param}' is not supported by model \`${model}\` on this deployment.`,
      { param, code: 'unsupported_parameter' },
    );
  }
  const param = paramName(
    request.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens',
  );
  const requested = request.max_completion_tokens ?? request.max_tokens;
  if (requested != null && requested > modelMaxOutput) {
    throw new BadRequestError(
      `'${param}' must be at most ${modelMaxOutput} for \`${model}\`; got ${requested}.`,
      { param, code: 'invalid_value' },
    );
  }
}

/**
 * Shapes backend chunks into what the client sees: our id and model on every chunk; usage as OpenAI
 * sends it (a last chunk with `choices: []`, only with `stream_options.include_usage`) and as Groq
 * sends it (in `x_groq.usage` of the chunk that carries the finish reason, always). The finish
 * chunk is held back until the usage arrives, which backends send right after it.
 */
export class ClientChunkShaper {
  private heldFinish: ChatCompletionChunk | undefined;
  /** What the stream told about usage: the backend's usage chunk, and the chunks that carried output. */
  readonly observed: { usage?: Usage; contentChunks: number } = { contentChunks: 0 };
  /** The reasoning as the client asked for it (hidden, parsed or raw). */
  private readonly reasoning: ReasoningStream;

  constructor(
    private readonly id: string,
    private readonly model: string,
    private readonly requestId: string,
    private readonly includeUsage: boolean,
    reasoning?: ReasoningPlan,
  ) {
    this.reasoning = new ReasoningStream(reasoning);
  }

  push(chunk: ChatCompletionChunk): ChatCompletionChunk[] {
    return this.shape(chunk).map((out) => chunkForClient(out, this.includeUsage));
  }

  private shape(upstream: ChatCompletionChunk): ChatCompletionChunk[] {
    // One generated token per chunk is how the servers we use stream; a lower bound when the stream
    // is cut. Thinking counts, shown or not: the model generated it.
    if (
      upstream.choices.some(
        (choice) =>
          choice.delta.content ||
          choice.delta.tool_calls ||
          choice.delta.reasoning ||
          (choice.delta as { reasoning_content?: unknown }).reasoning_content,
      )
    )
      this.observed.contentChunks += 1;
    const chunk = this.reasoning.push(upstream);
    if (!chunk) return [];
    const { usage: upstreamUsage, ...rest } = chunk;
    const usage = upstreamUsage ? usageForClient(upstreamUsage) : undefined;
    if (usage) this.observed.usage = usage;
    const out: ChatCompletionChunk[] = [];
    if (rest.choices.length > 0) {
      const shaped = { ...rest, id: this.id, model: this.model };
      if (this.heldFinish) out.push(this.heldFinish);
      this.heldFinish = undefined;
      if (shaped.choices.some((choice) => choice.finish_reason)) this.heldFinish = shaped;
      else out.push(shaped);
    }
    if (usage) {
      if (this.heldFinish) out.push({ ...this.heldFinish, x_groq: { id: this.requestId, usage } });
      this.heldFinish = undefined;
      if (this.includeUsage)
        out.push({ ...rest, id: this.id, model: this.model, choices: [], usage });
    }
    return out;
  }

  /** At the end of the stream: a finish chunk still held (the backend sent no usage). */
  flush(): ChatCompletionChunk[] {
    const held = this.heldFinish;
    this.heldFinish = undefined;
    return held ? [chunkForClient(held, this.includeUsage)] : [];
  }
}

/**
 * The model a request runs on: a catalog model of the caller's tier, or one of the `ft:` models of
 * the caller's project (resolved to its adapter; another customer's or project's id answers 404
 * before any backend is called).
 */
export async function resolveChatModel(
  deps: ApiDependencies,
  principal: Principal,
  modelId: string,
): Promise<{ id: string; model: ModelConfig; fineTune?: ResolvedFineTune }> {
  if (modelId.startsWith('ft:')) {
    if (!deps.fineTunedModels) throw fineTunedModelNotFound(modelId);
    const fineTune = await deps.fineTunedModels.resolve(principal, modelId);
    return { id: modelId, model: fineTune.model, fineTune };
  }
  return resolveModel(deps.config, principal.tier, modelId);
}

/** What a renderer knows of the request it answers. */
export interface CompletionContext {
  requestId: string;
  /** The public model id called (a base model or a fine-tune). */
  model: string;
  /** The model whose tokenizer, limits and parameters apply (a fine-tune's base). */
  baseModel: string;
  /** The prompt tokens counted at admission. */
  inputTokens: number;
  /** The messages the model was sent: with `fitContext`, what was kept of the request's. */
  messages: readonly ChatMessage[];
  reasoning: ReasoningPlan | undefined;
}

/** How the client sees a streamed answer: its events for the shaped chat chunks. */
export interface StreamRendering {
  /** Events for one chunk as {@link ClientChunkShaper} shaped it. */
  transform(chunk: ChatCompletionChunk): unknown[];
  /** Events when the backend stream ended, after the shaper's held chunks. */
  flush(): unknown[];
  /** The event of a failure after the stream started. */
  error(body: OpenAIErrorBody): unknown;
  encode?: (event: unknown) => string;
  endLine?: string;
  /** Whether the shaper adds the usage chunk (`stream_options.include_usage`). */
  includeUsage: boolean;
  /**
   * However the stream ended, beside its billing, with the tokens billed; the stream closes once
   * both are done (a Responses stream stores its response here: a stream cut short has no usage
   * chunk, but was billed).
   */
  onEnd?(
    ending: 'completed' | 'failed' | 'cancelled',
    billed: { inputTokens: number; outputTokens: number },
  ): Promise<void>;
}

/** How a route answers: the body of a whole completion, or the events of a stream. */
export interface CompletionRenderer {
  /** 400s name the route's own parameters. */
  paramName?: ParamName;
  /** How a reasoning model's thinking comes back when the request does not say (Responses: apart). */
  reasoningFormat?: ReasoningFormat;
  /**
   * Drop the oldest turns (never the leading system messages, never the last message) until the
   * prompt fits the context window (Responses' `truncation: auto`), instead of a 400.
   */
  fitContext?: boolean;
  /**
   * Once the request is admitted, before the model is called (Responses: counts the stored input
   * the model will not see against the storage quota). Its error is the answer, and the admission
   * is given back; what it answers runs when the model then gives no answer at all.
   */
  beforeModel?(context: CompletionContext): Promise<(() => Promise<void>) | undefined>;
  /** The body of a non-streamed answer, from the backend's completion. */
  body(completion: ChatCompletion, context: CompletionContext): Promise<unknown> | unknown;
  stream(context: CompletionContext): StreamRendering;
}

/**
 * The model's rate-limit headers on an answer refused before admission (one read). A `firstCheck`
 * that fails answers instead, without them.
 */
async function withLimitHeaders<T>(
  c: Context,
  deps: ApiDependencies,
  principal: Principal,
  model: string,
  check: () => T,
  firstCheck: Promise<void> | undefined,
): Promise<T> {
  try {
    return check();
  } catch (error) {
    await firstCheck;
    for (const [name, value] of Object.entries(await deps.metering.headersFor(principal, model)))
      c.header(name, value);
    throw error;
  }
}

/** A 400 about a chat parameter, naming the route's own parameter instead. */
function renamed(error: unknown, paramName: ParamName): unknown {
  if (!(error instanceof BadRequestError) || !error.param || paramName === sameName) return error;
  const param = paramName(error.param);
  if (param === error.param) return error;
  return new BadRequestError(error.message.replaceAll(`'${error.param}'`, `'${param}'`), {
    param,
    code: error.code ?? undefined,
  });
}

/**
 * The request with its oldest turns dropped until the prompt and the output it asks for fit the
 * context window: the leading system messages and the last message stay, and the kept turns never
 * start at a tool answer (its call would be gone). Fewer turns never count more tokens, so the
 * first start that fits is found by bisection: each try counts the whole prompt with the model's
 * tokenizer (what is sent is what was counted), and trying one drop at a time made 4,000 short
 * messages cost minutes of CPU before admission.
 */
export async function fitToContext(
  promptTokens: Pick<PromptTokenCounter, 'countUpTo'>,
  request: ChatRequest,
  baseModel: string,
  modelConfig: ModelConfig,
  model: string,
): Promise<ChatRequest> {
  const clientMaxTokens = request.max_completion_tokens ?? request.max_tokens ?? undefined;
  const all = request.messages;
  const leading = all.findIndex((message) => message.role !== 'system');
  const keptFrom = (start: number) => [...all.slice(0, leading), ...all.slice(start)];
  /** Undefined when `messages` fit, else the 400 saying by how much they do not. */
  const overflow = async (messages: ChatMessage[]) => {
    const extras = { tools: request.tools ?? undefined };
    // Only whether it fits matters: counting stops past the window (a 4 MB turn cost seconds).
    const tokens = await promptTokens.countUpTo(
      baseModel,
      messages,
      extras,
      modelConfig.contextWindow,
    );
    try {
      checkContextWindow(model, modelConfig.contextWindow, tokens, clientMaxTokens);
      return undefined;
    } catch (error) {
      return error;
    }
  };
  const whole = await overflow(all);
  if (!whole) return request;
  if (leading < 0 || all.length - leading <= 1) throw whole;
  const starts: number[] = [];
  for (let at = leading + 1; at < all.length; at += 1)
    if (all[at]?.role !== 'tool' || at === all.length - 1) starts.push(at);
  let low = 0;
  let high = starts.length - 1;
  const shortest = await overflow(keptFrom(starts[high] as number));
  if (shortest) throw shortest;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (await overflow(keptFrom(starts[middle] as number))) low = middle + 1;
    else high = middle;
  }
  return { ...request, messages: keptFrom(starts[low] as number) };
}

/**
 * The admission, with a check that ran beside it: when the check fails its error is the answer
 * (before any refusal of the admission), and a reservation made meanwhile is given back.
 */
async function admitAlongside(
  admission: Promise<MeteredRequest>,
  firstCheck: Promise<void> | undefined,
): Promise<MeteredRequest> {
  if (!firstCheck) return admission;
  const [admitted, checked] = await Promise.allSettled([admission, firstCheck]);
  if (checked.status === 'rejected') {
    if (admitted.status === 'fulfilled') await admitted.value.release();
    throw checked.reason;
  }
  if (admitted.status === 'rejected') throw admitted.reason;
  return admitted.value;
}

/**
 * The renderer's work before the model ({@link CompletionRenderer.beforeModel}): a refusal gives
 * the admission back. Answers what to run when the model gives no answer (never throws).
 */
async function beforeModel(
  deps: ApiDependencies,
  renderer: CompletionRenderer,
  context: CompletionContext,
  metered: MeteredRequest,
): Promise<() => Promise<void>> {
  let undo: (() => Promise<void>) | undefined;
  try {
    undo = await renderer.beforeModel?.(context);
  } catch (error) {
    await metered.release();
    throw error;
  }
  return async () => {
    await undo?.().catch((error: unknown) =>
      deps.logError?.('undoing the work before the model failed', {
        requestId: context.requestId,
        error,
      }),
    );
  };
}

/**
 * Runs a valid request from its model to the ledger; the answer is drawn by `renderer`.
 * `firstCheck` (still running) must pass before the model is called, and its failure answers before
 * any other refusal; it runs beside the token count and the admission.
 */
export async function serveCompletion(
  c: Context,
  deps: ApiDependencies,
  promptTokens: Pick<PromptTokenCounter, 'countUpTo'>,
  valid: ChatRequest,
  renderer: CompletionRenderer,
  firstCheck?: Promise<void>,
): Promise<Response> {
  const principal: Principal = c.get('principal');
  const requestId: string = c.get('requestId');
  const paramName = renderer.paramName ?? sameName;
  const {
    id: model,
    model: modelConfig,
    fineTune,
  } = await resolveChatModel(deps, principal, valid.model);
  // A fine-tune runs on its base model: that model's tokenizer, parameters, limits and headers.
  const baseModel = fineTune?.baseModel ?? model;
  const request = renderer.fitContext
    ? await fitToContext(promptTokens, valid, baseModel, modelConfig, model)
    : valid;
  const clientMaxTokens = request.max_completion_tokens ?? request.max_tokens ?? undefined;
  // With the model's tokenizer: admitted usage never passes a token limit by more than the count's
  // error. Counting stops past the context window: a prompt over it is refused whatever its size,
  // and a 5 MiB body took up to 23 s of CPU to count whole, before any limit was checked.
  const extras = { tools: request.tools ?? undefined };
  const inputTokens = await promptTokens.countUpTo(
    baseModel,
    request.messages,
    extras,
    modelConfig.contextWindow,
  );
  const asked =
    modelConfig.reasoning && renderer.reasoningFormat && request.reasoning_format == null
      ? { ...request, reasoning_format: renderer.reasoningFormat }
      : request;
  // Every answer about a model carries its rate-limit headers, with true values.
  const { reasoning, outputRoom } = await withLimitHeaders(
    c,
    deps,
    principal,
    baseModel,
    () => {
      checkParameters(deps, request, baseModel, modelConfig.maxOutputTokens, paramName);
      try {
        if (inputTokens > modelConfig.contextWindow)
          throw promptPastWindow(model, modelConfig.contextWindow);
        return {
          reasoning: planReasoning(asked, modelConfig, model),
          outputRoom: checkContextWindow(
            model,
            modelConfig.contextWindow,
            inputTokens,
            clientMaxTokens,
          ),
        };
      } catch (error) {
        throw renamed(error, paramName);
      }
    },
    firstCheck,
  );

  const admission = deps.metering.admit({
    requestId,
    principal,
    model,
    fineTune: fineTune ? { baseModel, premiumPercent: fineTune.premiumPercent } : undefined,
    inputTokens,
    outputTokens:
      clientMaxTokens !== undefined
        ? { fixed: clientMaxTokens }
        : { upTo: Math.min(modelConfig.maxOutputTokens, outputRoom) },
  });
  const metered = await admitAlongside(admission, firstCheck);
  for (const [name, value] of Object.entries(metered.headers)) c.header(name, value);

  const context: CompletionContext = {
    requestId,
    model,
    baseModel,
    inputTokens,
    messages: request.messages,
    reasoning,
  };
  const noAnswer = await beforeModel(deps, renderer, context, metered);
  const call = { ...modelCall(c, deps, request, metered), noAnswer };
  const backendRequest = {
    model,
    body: upstreamBody(request, metered.outputAllowance, reasoning),
    signal: call.signal,
    adapter: fineTune ? { baseModel, name: fineTune.adapterName } : undefined,
  };

  if (!request.stream) {
    let completion: ChatCompletion;
    try {
      completion = await deps.backend.complete(backendRequest);
    } catch (error) {
      await call.noAnswer();
      await endWithoutOutput(metered, error, call.clientGone, inputTokens);
      throw call.failure(error);
    } finally {
      call.done();
    }
    await metered.finish({
      status: c.req.raw.signal.aborted ? 'client_disconnected' : 'completed',
      inputTokens: completion.usage.prompt_tokens,
      outputTokens: completion.usage.completion_tokens,
    });
    for (const [name, value] of Object.entries(
      metered.headersAfter(completion.usage.prompt_tokens + completion.usage.completion_tokens),
    ))
      c.header(name, value);
    return c.json((await renderer.body(completion, context)) as object);
  }
  return streamCompletion(deps, call, metered, backendRequest, renderer.stream(context), context);
}

/** The signals and bounds of one model call (see {@link modelCall}). */
interface ModelCall {
  signal: AbortSignal;
  /** Aborted when the client went away (a stream's model stops with it). */
  clientGone: AbortSignal;
  abort: AbortController;
  deadline: AbortSignal;
  failure(error: unknown): HttpError;
  /** Clears the maximum-duration timer. */
  done(): void;
}

/**
 * The model call's signal: the client gone (streams only), the request's maximum duration, the
 * server shutting down.
 */
function modelCall(
  c: Context,
  deps: ApiDependencies,
  request: ChatRequest,
  metered: MeteredRequest,
): ModelCall {
  const requestId: string = c.get('requestId');
  const abort = new AbortController();
  const client = c.req.raw.signal;
  // The client went away (maybe before we got here): stop a stream's model too (local mode; Lambda
  // keeps running to the end). A non-streamed request runs to its end instead and is billed for
  // what the model generated: a backend cut mid-answer cannot tell how much that was.
  if (request.stream) {
    if (client.aborted) abort.abort();
    else client.addEventListener('abort', () => abort.abort(), { once: true });
  }
  // The model may generate what was reserved, and no more: admitted usage never passes a token
  // limit. A server shutting down (local mode) stops every model call, so each request is billed
  // before it exits. A request reaching its maximum duration is cut there and billed what was sent
  // (issue 20 row 7: in local mode, which has no Lambda timeout, one ran on past the reconciler's
  // deadline, which had already billed it as input only, and got every token). Lambda stops the
  // function at the same bound (lambda-streaming.ts).
  const maxDurationMs = metered.maxDurationMs ?? MAX_REQUEST_MS;
  const deadline = new AbortController();
  const cutAt = setTimeout(() => deadline.abort(), maxDurationMs);
  cutAt.unref?.();
  const signal = AbortSignal.any(
    [abort.signal, deadline.signal, deps.shutdownSignal].filter(
      (s): s is AbortSignal => s !== undefined,
    ),
  );
  return {
    signal,
    clientGone: abort.signal,
    abort,
    deadline: deadline.signal,
    failure: (error) =>
      deadline.signal.aborted
        ? new GatewayTimeoutError(
            `The request reached its maximum duration (${Math.round(maxDurationMs / 1000)} s) and was cut; what was sent is billed (request id ${requestId}).`,
          )
        : backendFailureToHttp(error, requestId),
    done: () => clearTimeout(cutAt),
  };
}

async function streamCompletion(
  deps: ApiDependencies,
  call: ModelCall & { noAnswer: () => Promise<void> },
  metered: MeteredRequest,
  backendRequest: Parameters<ApiDependencies['backend']['stream']>[0],
  rendering: StreamRendering,
  context: CompletionContext,
): Promise<Response> {
  const { requestId, model, inputTokens, reasoning } = context;
  const chunks = deps.backend.stream(backendRequest)[Symbol.asyncIterator]();
  // Wait for the first chunk before answering, so a model that cannot serve gets an honest status
  // (503...) instead of a 200 stream that fails at once.
  let first: IteratorResult<ChatCompletionChunk>;
  try {
    first = await chunks.next();
  } catch (error) {
    call.done();
    await call.noAnswer();
    await endWithoutOutput(metered, error, call.clientGone, inputTokens);
    throw call.failure(error);
  }
  const shaper = new ClientChunkShaper(
    `chatcmpl-${requestId}`,
    model,
    requestId,
    rendering.includeUsage,
    reasoning,
  );
  return sseResponse({
    first,
    rest: chunks,
    transform: (chunk) => shaper.push(chunk).flatMap((shaped) => rendering.transform(shaped)),
    flush: () => [
      ...shaper.flush().flatMap((shaped) => rendering.transform(shaped)),
      ...rendering.flush(),
    ],
    errorBody: (error) => {
      if (deps.shutdownSignal?.aborted) {
        return rendering.error(
          new ServiceUnavailableError(
            'The server is shutting down; what was generated is billed.',
            5,
          ).toBody(),
        );
      }
      if (!call.deadline.aborted && !(error instanceof BackendError || error instanceof HttpError))
        deps.logError?.('stream failed', { requestId, error });
      return rendering.error(call.failure(error).toBody());
    },
    encode: rendering.encode,
    endLine: rendering.endLine,
    // Billed whatever way the stream ends; when the client left, for the tokens generated until
    // then.
    onEnd: async (ending) => {
      call.done();
      const { usage, contentChunks } = shaper.observed;
      const billed = {
        inputTokens: usage?.prompt_tokens ?? inputTokens,
        outputTokens: usage?.completion_tokens ?? contentChunks,
      };
      // The renderer's end work (a Responses stream's stored copy) needs only the tokens billed:
      // the two writes run side by side, and the stream closes (the Lambda returns) once both are
      // done.
      const [finished, rendered] = await Promise.allSettled([
        metered.finish({
          status:
            ending === 'completed'
              ? 'completed'
              : ending === 'cancelled'
                ? 'client_disconnected'
                : 'failed',
          ...billed,
        }),
        rendering.onEnd?.(ending, billed),
      ]);
      if (finished.status === 'rejected') throw finished.reason;
      if (rendered.status === 'rejected') throw rendered.reason;
    },
    abort: call.abort,
    headers: { 'x-request-id': requestId, ...metered.headers },
  });
}
