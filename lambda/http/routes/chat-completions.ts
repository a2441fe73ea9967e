import type { Context } from 'hono';
import { Hono } from 'hono';
import type { ModelConfig } from '../../../lib/config/schema';
import type { Principal } from '../../customers/authenticate';
import { fineTunedModelNotFound } from '../../fine-tuning/adapters-service';
import type { ResolvedFineTune } from '../../fine-tuning/model-resolver';
import { BackendError } from '../../inference/backends/model-backend';
import {
  type ChatRequest,
  givenParameters,
  messagesForBackend,
  parseChatRequest,
} from '../../inference/chat-request';
import { resolveModel } from '../../inference/models';
import { PromptTokenCounter } from '../../inference/prompt-tokens';
import {
  completionWithReasoning,
  planReasoning,
  REASONING_PARAMETERS,
  type ReasoningPlan,
  ReasoningStream,
  reasoningUpstream,
} from '../../inference/reasoning';
import { checkContextWindow } from '../../inference/tokens';
import type { MeteredRequest } from '../../metering/request-metering';
import { MAX_REQUEST_MS } from '../../metering/reservations';
import {
  BadGatewayError,
  BadRequestError,
  GatewayTimeoutError,
  HttpError,
  InternalServerError,
  PayloadTooLargeError,
  ServiceUnavailableError,
} from '../../openai/errors';
import type { ChatCompletion, ChatCompletionChunk, Usage } from '../../openai/openai-types';
import { chunkForClient, completionForClient, usageForClient } from '../../openai/response-shapes';
import { MAX_REQUEST_BYTES } from '../request-guards';
import { sseResponse } from '../sse';
import type { ApiDependencies, AppEnv } from '../types';

export { MAX_REQUEST_BYTES } from '../request-guards';

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

async function readJsonBody(c: Context): Promise<unknown> {
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

/** Refuses parameters the backend cannot honour and output limits above the model's: 400 naming them. */
function checkParameters(
  deps: ApiDependencies,
  request: ChatRequest,
  model: string,
  modelMaxOutput: number,
): void {
  const unsupported = deps.backend.unsupportedParameters(model);
  const refused = givenParameters(request).find((param) => unsupported.has(param));
  if (refused) {
    throw new BadRequestError(
      `'${refused}' is not supported by model \`${model}\` on this deployment.`,
      {
        param: refused,
        code: 'unsupported_parameter',
      },
    );
  }
  const param = request.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens';
  const requested = request.max_completion_tokens ?? request.max_tokens;
  if (requested != null && requested > modelMaxOutput) {
    throw new BadRequestError(
      `'${param}' must be at most ${modelMaxOutput} for \`${model}\`; got ${requested}.`,
      {
        param,
        code: 'invalid_value',
      },
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
 * The model a chat completion runs on: a catalog model of the caller's tier, or one of the caller's
 * own `ft:` models (resolved to its adapter; anyone else's id answers 404 before any backend is
 * called).
 */
async function resolveChatModel(
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

/** A chat completion checked and priced: what the model call and the metering need. */
interface PlannedChat {
  request: ChatRequest;
  /** The id the client asked for (a catalog model or an `ft:` model). */
  model: string;
  modelConfig: ModelConfig;
  fineTune: ResolvedFineTune | undefined;
  /** A fine-tune runs on its base model: that model's tokenizer, parameters, limits and headers. */
  baseModel: string;
  clientMaxTokens: number | undefined;
  inputTokens: number;
  outputRoom: number;
  reasoning: ReasoningPlan | undefined;
}

/** Reads and checks the request, resolves its model and counts its prompt; 4xx before any metering. */
async function planChatCompletion(
  c: Context<AppEnv>,
  deps: ApiDependencies,
  promptTokens: Pick<PromptTokenCounter, 'count'>,
): Promise<PlannedChat> {
  const principal = c.get('principal');
  const request = parseChatRequest(await readJsonBody(c));
  const {
    id: model,
    model: modelConfig,
    fineTune,
  } = await resolveChatModel(deps, principal, request.model);
  // A fine-tune runs on its base model: that model's tokenizer, parameters, limits and headers.
  const baseModel = fineTune?.baseModel ?? model;
  const clientMaxTokens = request.max_completion_tokens ?? request.max_tokens ?? undefined;
  // With the model's tokenizer: admitted usage never passes a token limit by more than the
  // count's error.
  const inputTokens = await promptTokens.count(baseModel, request.messages, {
    tools: request.tools ?? undefined,
  });
  let outputRoom: number;
  let reasoning: ReasoningPlan | undefined;
  try {
    checkParameters(deps, request, baseModel, modelConfig.maxOutputTokens);
    reasoning = planReasoning(request, modelConfig, model);
    outputRoom = checkContextWindow(model, modelConfig.contextWindow, inputTokens, clientMaxTokens);
  } catch (error) {
    // Every answer about a model carries its rate-limit headers, with true values (one read
    // here).
    for (const [name, value] of Object.entries(
      await deps.metering.headersFor(principal, baseModel),
    ))
      c.header(name, value);
    throw error;
  }
  return {
    request,
    model,
    modelConfig,
    fineTune,
    baseModel,
    clientMaxTokens,
    inputTokens,
    outputRoom,
    reasoning,
  };
}

/** How long the model may run, and the signal that stops it; `failure` names a cut as a 504. */
interface ChatDeadline {
  signal: AbortSignal;
  /** Aborted when the request reached its maximum duration. */
  reached: AbortSignal;
  cutAt: ReturnType<typeof setTimeout>;
  failure: (error: unknown) => HttpError;
}

function chatDeadline(
  deps: ApiDependencies,
  metered: MeteredRequest,
  abort: AbortController,
  requestId: string,
): ChatDeadline {
  // The model may generate what was reserved, and no more: admitted usage never passes a token
  // limit. A server shutting down (local mode) stops every model call, so each request is billed
  // before it exits. A request reaching its maximum duration is cut there and billed what was
  // sent (issue 20 row 7: in local mode, which has no Lambda timeout, one ran on past the
  // reconciler's deadline, which had already billed it as input only, and got every token).
  // Lambda stops the function at the same bound (lambda-streaming.ts).
  const maxDurationMs = metered.maxDurationMs ?? MAX_REQUEST_MS;
  const deadline = new AbortController();
  const cutAt = setTimeout(() => deadline.abort(), maxDurationMs);
  cutAt.unref?.();
  const signal = AbortSignal.any(
    [abort.signal, deadline.signal, deps.shutdownSignal].filter(
      (s): s is AbortSignal => s !== undefined,
    ),
  );
  const failure = (error: unknown): HttpError =>
    deadline.signal.aborted
      ? new GatewayTimeoutError(
          `The request reached its maximum duration (${Math.round(maxDurationMs / 1000)} s) and was cut; what was sent is billed (request id ${requestId}).`,
        )
      : backendFailureToHttp(error, requestId);
  return { signal, reached: deadline.signal, cutAt, failure };
}

/** What one admitted chat completion carries from the checks to its answer. */
interface AdmittedChat {
  planned: PlannedChat;
  metered: MeteredRequest;
  requestId: string;
  completionId: string;
  abort: AbortController;
  deadline: ChatDeadline;
  backendRequest: Parameters<ApiDependencies['backend']['complete']>[0];
}

/** A non-streamed answer: the model runs to its end and is billed for what it generated. */
async function answerCompletion(
  c: Context<AppEnv>,
  deps: ApiDependencies,
  chat: AdmittedChat,
): Promise<Response> {
  const { planned, metered, deadline } = chat;
  let completion: ChatCompletion;
  try {
    completion = await deps.backend.complete(chat.backendRequest);
  } catch (error) {
    await endWithoutOutput(metered, error, chat.abort.signal, planned.inputTokens);
    throw deadline.failure(error);
  } finally {
    clearTimeout(deadline.cutAt);
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
  return c.json({
    ...completionForClient(completionWithReasoning(completion, planned.reasoning)),
    id: chat.completionId,
    model: planned.model,
    x_groq: { id: chat.requestId },
  });
}

/** A streamed answer (SSE), billed whatever way the stream ends. */
async function answerStream(deps: ApiDependencies, chat: AdmittedChat): Promise<Response> {
  const { planned, metered, deadline, requestId } = chat;
  const includeUsage = planned.request.stream_options?.include_usage === true;
  const chunks = deps.backend.stream(chat.backendRequest)[Symbol.asyncIterator]();
  // Wait for the first chunk before answering, so a model that cannot serve gets an honest status
  // (503...) instead of a 200 stream that fails at once.
  let first: IteratorResult<ChatCompletionChunk>;
  try {
    first = await chunks.next();
  } catch (error) {
    clearTimeout(deadline.cutAt);
    await endWithoutOutput(metered, error, chat.abort.signal, planned.inputTokens);
    throw deadline.failure(error);
  }
  const shaper = new ClientChunkShaper(
    chat.completionId,
    planned.model,
    requestId,
    includeUsage,
    planned.reasoning,
  );
  return sseResponse({
    first,
    rest: chunks,
    transform: (chunk) => shaper.push(chunk),
    flush: () => shaper.flush(),
    errorBody: (error) => {
      if (deps.shutdownSignal?.aborted) {
        return new ServiceUnavailableError(
          'The server is shutting down; what was generated is billed.',
          5,
        ).toBody();
      }
      if (
        !deadline.reached.aborted &&
        !(error instanceof BackendError || error instanceof HttpError)
      ) {
        deps.logError?.('stream failed', { requestId, error });
      }
      return deadline.failure(error).toBody();
    },
    // Billed whatever way the stream ends; when the client left, for the tokens generated until
    // then.
    onEnd: (ending) => {
      clearTimeout(deadline.cutAt);
      const { usage, contentChunks } = shaper.observed;
      return metered.finish({
        status:
          ending === 'completed'
            ? 'completed'
            : ending === 'cancelled'
              ? 'client_disconnected'
              : 'failed',
        inputTokens: usage?.prompt_tokens ?? planned.inputTokens,
        outputTokens: usage?.completion_tokens ?? contentChunks,
      });
    },
    abort: chat.abort,
    headers: { 'x-request-id': requestId, ...metered.headers },
  });
}

/** `POST /chat/completions`, streamed (SSE) or not. */
export function chatCompletionRoutes(deps: ApiDependencies): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  const promptTokens = deps.promptTokens ?? new PromptTokenCounter(deps.config);

  routes.post('/chat/completions', async (c) => {
    const principal = c.get('principal');
    const requestId = c.get('requestId');
    const planned = await planChatCompletion(c, deps, promptTokens);
    const { request, model, modelConfig, fineTune, baseModel, clientMaxTokens } = planned;

    const metered = await deps.metering.admit({
      requestId,
      principal,
      model,
      fineTune: fineTune ? { baseModel, premiumPercent: fineTune.premiumPercent } : undefined,
      inputTokens: planned.inputTokens,
      outputTokens:
        clientMaxTokens !== undefined
          ? { fixed: clientMaxTokens }
          : { upTo: Math.min(modelConfig.maxOutputTokens, planned.outputRoom) },
    });
    for (const [name, value] of Object.entries(metered.headers)) c.header(name, value);

    const abort = new AbortController();
    const client = c.req.raw.signal;
    // The client went away (maybe before we got here): stop a stream's model too (local mode;
    // Lambda keeps running to the end). A non-streamed request runs to its end instead and is
    // billed for what the model generated: a backend cut mid-answer cannot tell how much that was.
    if (request.stream) {
      if (client.aborted) abort.abort();
      else client.addEventListener('abort', () => abort.abort(), { once: true });
    }
    const deadline = chatDeadline(deps, metered, abort, requestId);
    const chat: AdmittedChat = {
      planned,
      metered,
      requestId,
      completionId: `chatcmpl-${requestId}`,
      abort,
      deadline,
      backendRequest: {
        model,
        body: upstreamBody(request, metered.outputAllowance, planned.reasoning),
        signal: deadline.signal,
        adapter: fineTune ? { baseModel, name: fineTune.adapterName } : undefined,
      },
    };
    return request.stream ? answerStream(deps, chat) : answerCompletion(c, deps, chat);
  });

  return routes;
}
