import type { Context } from 'hono';
import { Hono } from 'hono';
import { BackendError } from '../../adapters/backends/model-backend';
import { type ChatRequest, givenParameters, parseChatRequest } from '../../domain/chat-request';
import {
  BadRequestError,
  GatewayTimeoutError,
  HttpError,
  InternalServerError,
  PayloadTooLargeError,
  ServiceUnavailableError,
} from '../../domain/errors';
import { resolveModel } from '../../domain/models';
import type { ChatCompletionChunk } from '../../domain/openai-types';
import { sseResponse } from '../sse';
import type { ApiDependencies, AppEnv } from '../types';

/** Lambda accepts at most 6 MB per synchronous request; local mode enforces the same. */
export const MAX_REQUEST_BYTES = 6 * 1024 * 1024;

/** Request fields Tierline handles itself; everything else of a valid request goes upstream unchanged. */
const HANDLED_HERE = new Set(['model', 'stream', 'stream_options', 'max_tokens', 'max_completion_tokens', 'user', 'n']);

async function readJsonBody(c: Context): Promise<unknown> {
  const declared = Number(c.req.header('content-length') ?? '0');
  if (declared > MAX_REQUEST_BYTES) throw new PayloadTooLargeError(MAX_REQUEST_BYTES);
  const text = await c.req.text();
  if (Buffer.byteLength(text) > MAX_REQUEST_BYTES) throw new PayloadTooLargeError(MAX_REQUEST_BYTES);
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
      return new GatewayTimeoutError(`The model did not answer in time. Please retry (request id ${requestId}).`);
    default:
      return new InternalServerError(requestId);
  }
}

function upstreamBody(request: ChatRequest, maxTokens: number): Record<string, unknown> {
  const body: Record<string, unknown> = { max_tokens: maxTokens };
  for (const [key, value] of Object.entries(request)) {
    if (!HANDLED_HERE.has(key) && value !== undefined && value !== null) body[key] = value;
  }
  return body;
}

/**
 * Shapes backend chunks into what the client sees: our id and model on every chunk; usage as OpenAI sends it
 * (a last chunk with `choices: []`, only with `stream_options.include_usage`) and as Groq sends it (in
 * `x_groq.usage` of the chunk that carries the finish reason, always). The finish chunk is held back until
 * the usage arrives, which backends send right after it.
 */
export class ClientChunkShaper {
  private heldFinish: ChatCompletionChunk | undefined;

  constructor(
    private readonly id: string,
    private readonly model: string,
    private readonly requestId: string,
    private readonly includeUsage: boolean,
  ) {}

  push(chunk: ChatCompletionChunk): ChatCompletionChunk[] {
    const { usage, ...rest } = chunk;
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
      if (this.includeUsage) out.push({ ...rest, id: this.id, model: this.model, choices: [], usage });
    }
    return out;
  }

  /** At the end of the stream: a finish chunk still held (the backend sent no usage). */
  flush(): ChatCompletionChunk[] {
    const held = this.heldFinish;
    this.heldFinish = undefined;
    return held ? [held] : [];
  }
}

/** `POST /chat/completions`, streamed (SSE) or not. */
export function chatCompletionRoutes(deps: ApiDependencies): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();

  routes.post('/chat/completions', async (c) => {
    const principal = c.get('principal');
    const requestId = c.get('requestId');
    const request = parseChatRequest(await readJsonBody(c));
    const { id: model, model: modelConfig } = resolveModel(deps.config, principal.tier, request.model);

    const unsupported = deps.backend.unsupportedParameters(model);
    const refused = givenParameters(request).find((param) => unsupported.has(param));
    if (refused) {
      throw new BadRequestError(
        `'${refused}' is not supported by model \`${model}\` on this deployment.`,
        refused,
        'unsupported_parameter',
      );
    }
    const maxTokensParam = request.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens';
    const maxTokens = request.max_completion_tokens ?? request.max_tokens ?? modelConfig.maxOutputTokens;
    if (maxTokens > modelConfig.maxOutputTokens) {
      throw new BadRequestError(
        `'${maxTokensParam}' must be at most ${modelConfig.maxOutputTokens} for \`${model}\`; got ${maxTokens}.`,
        maxTokensParam,
        'invalid_value',
      );
    }

    const completionId = `chatcmpl-${requestId}`;
    const abort = new AbortController();
    // The client went away: stop the model too (local mode; Lambda keeps running to the end).
    c.req.raw.signal.addEventListener('abort', () => abort.abort(), { once: true });
    const backendRequest = { model, body: upstreamBody(request, maxTokens), signal: abort.signal };

    if (!request.stream) {
      try {
        const completion = await deps.backend.complete(backendRequest);
        return c.json({ ...completion, id: completionId, model, x_groq: { id: requestId } });
      } catch (error) {
        throw backendFailureToHttp(error, requestId);
      }
    }

    const includeUsage = request.stream_options?.include_usage === true;
    const chunks = deps.backend.stream(backendRequest)[Symbol.asyncIterator]();
    // Wait for the first chunk before answering, so a model that cannot serve gets an honest status (503...)
    // instead of a 200 stream that fails at once.
    let first: IteratorResult<ChatCompletionChunk>;
    try {
      first = await chunks.next();
    } catch (error) {
      throw backendFailureToHttp(error, requestId);
    }
    const shaper = new ClientChunkShaper(completionId, model, requestId, includeUsage);
    return sseResponse({
      first,
      rest: chunks,
      transform: (chunk) => shaper.push(chunk),
      flush: () => shaper.flush(),
      errorBody: (error) => {
        if (!(error instanceof BackendError || error instanceof HttpError)) {
          deps.logError?.('stream failed', { requestId, error });
        }
        return backendFailureToHttp(error, requestId).toBody();
      },
      abort,
      headers: { 'x-request-id': requestId },
    });
  });

  return routes;
}
