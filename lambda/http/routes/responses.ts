import { Hono } from 'hono';
import type { Principal } from '../../customers/authenticate';
import type { ChatMessage } from '../../inference/chat-request';
import { PromptTokenCounter } from '../../inference/prompt-tokens';
import { promptPastWindow } from '../../inference/tokens';
import { BadRequestError, NotFoundError } from '../../openai/errors';
import type { ResponseItem, ResponseObject } from '../../openai/shapes/responses';
import {
  conversationAfter,
  finishedResponse,
  type ModelOutput,
  outputOfCompletion,
  type ResponseFrame,
  responseFrame,
  responseIdOf,
  responseUsage,
  storedInputItems,
  unseenItemsBytes,
} from '../../responses/response-objects';
import { encodeResponseEvents, ResponseEventStream } from '../../responses/response-stream';
import type { ResponseOwner } from '../../responses/responses-repository';
import {
  chatRequestOf,
  inputItems,
  messagesOfItems,
  parseInputTokensRequest,
  parseResponsesRequest,
  type ResponsesRequest,
  responsesParamName,
} from '../../responses/responses-request';
import {
  type CompletionContext,
  type CompletionRenderer,
  fitToContext,
  readJsonBody,
  resolveChatModel,
  serveCompletion,
} from '../completion-pipeline';
import type { ApiDependencies, AppEnv } from '../types';
import { listLimit } from './request-bodies';

type ResponsesStore = NonNullable<ApiDependencies['responses']>;

const notFound = (responseId: string, param?: string) =>
  new NotFoundError(`Response with id '${responseId.slice(0, 100)}' not found.`, { param });

/**
 * Whether an id could name a stored response (`resp_` and hex, as `responseIdOf` makes them).
 * Anything else is 404 without a read: a sort key over DynamoDB's 1 KB would fail the read (a 5xx).
 */
const couldBeResponseId = (id: string) => /^resp_[0-9a-f]{1,64}$/.test(id);

/** A stored response is its organization's and its project's: another project's key finds nothing. */
const ownerOf = (principal: Principal): ResponseOwner => ({
  customerId: principal.customerId,
  projectId: principal.projectId,
});

/** The caller's stored response, or undefined; never a read for an id that cannot be one. */
function storedResponse(store: ResponsesStore, principal: Principal, responseId: string) {
  return couldBeResponseId(responseId)
    ? store.get(ownerOf(principal), responseId)
    : Promise.resolve(undefined);
}

/** The earlier conversation a `previous_response_id` continues: the caller's own, or 404. */
async function earlierTurns(
  store: ResponsesStore,
  principal: Principal,
  request: Pick<ResponsesRequest, 'previous_response_id'>,
): Promise<ChatMessage[]> {
  const previousId = request.previous_response_id;
  if (!previousId) return [];
  const previous = await storedResponse(store, principal, previousId);
  if (!previous) throw notFound(previousId, 'previous_response_id');
  return previous.conversation;
}

type SentMessages = CompletionContext['messages'];

/**
 * The turns a later response continues: those the model was sent. With `truncation: auto` the
 * oldest were dropped to fit (the pipeline's `fitToContext`: one run after the leading system
 * messages); storing them anyway grew a chain without bound, each turn reading and rewriting all
 * of it. The sent messages are the instructions (never carried over) and what was kept of `turns`.
 */
function keptTurns(turns: ChatMessage[], sent: SentMessages, instructions: boolean): ChatMessage[] {
  const dropped = turns.length + (instructions ? 1 : 0) - sent.length;
  const leading = turns.findIndex((turn) => turn.role !== 'system');
  if (dropped <= 0 || leading < 0) return turns;
  return [...turns.slice(0, leading), ...turns.slice(leading + dropped)];
}

/**
 * Which of this request's own input messages `truncation: auto` dropped (those `keptTurns` leaves
 * out, less the earlier turns a `previous_response_id` brought, which their own response stores).
 */
function droppedOwnMessages(
  turns: ChatMessage[],
  earlierTurns: number,
  sent: SentMessages,
  instructions: boolean,
): { from: number; to: number } {
  const dropped = turns.length + (instructions ? 1 : 0) - sent.length;
  const leading = turns.findIndex((turn) => turn.role !== 'system');
  if (dropped <= 0 || leading < 0) return { from: 0, to: 0 };
  return { from: Math.max(0, leading - earlierTurns), to: leading + dropped - earlierTurns };
}

/**
 * A Response's answer: the whole object, or its events; stored (`store`, OpenAI's default) once it
 * is finished, with its input items and the conversation a later response continues.
 */
function responsesRenderer(
  deps: ApiDependencies,
  store: ResponsesStore,
  request: ResponsesRequest,
  frame: ResponseFrame,
  turns: ChatMessage[],
  earlierTurns: number,
  principal: Principal,
  reasoningTokens: Pick<PromptTokenCounter, 'countText'>,
): CompletionRenderer {
  const now = () => Math.floor((deps.now?.() ?? new Date()).getTime() / 1000);
  const owner = ownerOf(principal);
  let counted = false;
  const save = async (response: ResponseObject, output: ModelOutput, sent: SentMessages) => {
    if (request.store === false) return;
    // False when the client deleted the response while it streamed: it stays deleted (and what
    // was counted for it is given back).
    await store.put(
      owner,
      {
        response,
        inputItems: storedInputItems(request, frame.id),
        conversation: conversationAfter(
          keptTurns(turns, sent, Boolean(request.instructions)),
          output,
        ),
      },
      { counted },
    );
  };
  return {
    paramName: responsesParamName,
    reasoningFormat: 'parsed',
    fitContext: request.truncation === 'auto',
    // Decided before the model runs, so a refusal costs no tokens; a request that dropped nothing
    // and sent no reasoning item back does no work here (a small response's store stays one PutItem).
    beforeModel: async ({ messages }) => {
      if (request.store === false) return undefined;
      // The input the model will not see, as stored: kept 30 days and never paid for.
      const bytes = unseenItemsBytes(
        request,
        frame.id,
        droppedOwnMessages(turns, earlierTurns, messages, Boolean(request.instructions)),
      );
      if (bytes === 0) return undefined;
      const quotaBytes = deps.config.tiers[principal.tier].storageQuotaBytes;
      // A duplicate of this request counted them already: the first keeps or gives them back.
      counted = await store.countStoredInput(owner, frame.id, bytes, quotaBytes);
      return counted ? () => store.releaseStoredInput(owner, frame.id) : undefined;
    },
    body: async (completion, { baseModel, requestId, messages }) => {
      const output = outputOfCompletion(completion);
      // The backend says how many output tokens, not how many were thinking: counted here.
      const thinking = output.reasoning
        ? await reasoningTokens.countText(baseModel, output.reasoning)
        : 0;
      const response = finishedResponse(
        frame,
        output,
        responseUsage(completion.usage, thinking),
        now(),
      );
      // Billed already: a store that fails loses the stored copy, not the answer (a 5xx here would
      // have the client retry, and pay, again).
      await save(response, output, messages).catch((error: unknown) =>
        deps.logError?.('storing a response failed', { requestId, error }),
      );
      return response;
    },
    stream: ({ requestId, messages }) => {
      const events = new ResponseEventStream(frame, now);
      let started = false;
      const begin = () => {
        if (started) return [];
        started = true;
        return events.start();
      };
      return {
        transform: (chunk) => [...begin(), ...events.push(chunk)],
        flush: () => [...begin(), ...events.finish()],
        error: (body) => [...begin(), ...events.fail(body)],
        encode: encodeResponseEvents,
        endLine: '',
        includeUsage: true,
        onEnd: async (ending, billed) => {
          if (ending === 'cancelled') events.cancel();
          events.settle(billed);
          // Billed already; a store that fails loses the stored copy, not the answer.
          await save(events.latest, events.output, messages).catch((error: unknown) =>
            deps.logError?.('storing a response failed', { requestId, error }),
          );
        },
      };
    },
  };
}

function parseOrder(raw: string | undefined): 'asc' | 'desc' {
  if (raw === undefined || raw === 'desc') return 'desc';
  if (raw === 'asc') return 'asc';
  throw new BadRequestError("'order' must be 'asc' or 'desc'.", {
    param: 'order',
    code: 'invalid_value',
  });
}

/** One page of input items, after the item `after` in the order asked for. */
export function inputItemsPage(
  items: readonly ResponseItem[],
  query: { after?: string; limit?: string; order?: string },
) {
  const limit = listLimit(query.limit);
  const ordered = parseOrder(query.order) === 'asc' ? [...items] : [...items].reverse();
  let start = 0;
  if (query.after !== undefined) {
    const at = ordered.findIndex((item) => item.id === query.after);
    if (at < 0) {
      throw new BadRequestError(
        `'after' must be the id of an input item of this response; got '${query.after.slice(0, 100)}'.`,
        { param: 'after', code: 'invalid_value' },
      );
    }
    start = at + 1;
  }
  const data = ordered.slice(start, start + limit);
  return {
    object: 'list' as const,
    data,
    has_more: start + limit < ordered.length,
    first_id: data[0]?.id ?? null,
    last_id: data.at(-1)?.id ?? null,
  };
}

/**
 * OpenAI's Responses API on the chat pipeline: `POST /responses` (streamed or not; the same models,
 * limits, spend reservation and ledger as chat completions), the stored responses (get, delete,
 * input items) and `POST /responses/input_tokens`. Every stored response is read in the caller's
 * own partition: another customer's id is 404 on every route.
 */
export function responsesRoutes(
  deps: ApiDependencies,
  store: ResponsesStore,
  options: { stored: boolean },
): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  const tokenizers = new PromptTokenCounter(deps.config);
  const promptTokens = deps.promptTokens ?? tokenizers;

  routes.post('/responses', async (c) => {
    // The active-customer check (app.ts) runs beside the work below and the admission: an inactive
    // customer is answered its 401 before anything else about the request, as on other routes.
    const activeCustomer = c.get('activeCustomer');
    try {
      const request = parseResponsesRequest(await readJsonBody(c));
      const principal = c.get('principal');
      const earlier = await earlierTurns(store, principal, request);
      const turns = [...earlier, ...messagesOfItems(inputItems(request))];
      const createdAt = Math.floor((deps.now?.() ?? new Date()).getTime() / 1000);
      const frame = responseFrame(request, {
        responseId: responseIdOf(c.get('requestId')),
        model: request.model,
        createdAt,
      });
      const renderer = responsesRenderer(
        deps,
        store,
        request,
        frame,
        turns,
        earlier.length,
        principal,
        tokenizers,
      );
      const chat = chatRequestOf(request, earlier);
      return await serveCompletion(c, deps, promptTokens, chat, renderer, activeCustomer);
    } catch (error) {
      await activeCustomer;
      throw error;
    }
  });

  // Groq's base path serves creation only (the document's `x-v1-only` operations are not deployed
  // there).
  if (!options.stored) return routes;

  routes.post('/responses/input_tokens', async (c) => {
    const request = parseInputTokensRequest(await readJsonBody(c));
    const principal = c.get('principal');
    const { id, model, fineTune } = await resolveChatModel(deps, principal, request.model);
    const baseModel = fineTune?.baseModel ?? id;
    // Counting costs the gateway CPU in proportion to the input: each count is a request against
    // the model's RPM and RPD (OpenAI's spec gives this operation a 429), before any counting.
    const headers = await deps.metering.countRequest(principal, baseModel);
    for (const [name, value] of Object.entries(headers)) c.header(name, value);
    const earlier = await earlierTurns(store, principal, request);
    const whole = chatRequestOf(request, earlier);
    // What `POST /responses` would send: with `truncation: auto`, the newest turns that fit.
    const chat =
      request.truncation === 'auto'
        ? await fitToContext(promptTokens, whole, baseModel, model, id)
        : whole;
    const input_tokens = await promptTokens.countUpTo(
      baseModel,
      chat.messages,
      { tools: chat.tools ?? undefined },
      model.contextWindow,
    );
    if (input_tokens > model.contextWindow)
      throw promptPastWindow(id, model.contextWindow, 'input');
    return c.json({ object: 'response.input_tokens' as const, input_tokens });
  });

  routes.get('/responses/:response_id', async (c) => {
    const responseId = c.req.param('response_id');
    if (c.req.query('stream') === 'true') {
      throw new BadRequestError("'stream' is not supported: a stored response is read whole.", {
        param: 'stream',
        code: 'unsupported_parameter',
      });
    }
    const stored = await storedResponse(store, c.get('principal'), responseId);
    if (!stored) throw notFound(responseId);
    return c.json(stored.response);
  });

  routes.delete('/responses/:response_id', async (c) => {
    const responseId = c.req.param('response_id');
    const deleted =
      couldBeResponseId(responseId) &&
      (await store.delete(ownerOf(c.get('principal')), responseId));
    if (!deleted) throw notFound(responseId);
    return c.json({ id: responseId, object: 'response' as const, deleted: true as const });
  });

  routes.get('/responses/:response_id/input_items', async (c) => {
    const responseId = c.req.param('response_id');
    const stored = await storedResponse(store, c.get('principal'), responseId);
    if (!stored) throw notFound(responseId);
    return c.json(
      inputItemsPage(stored.inputItems, {
        after: c.req.query('after'),
        limit: c.req.query('limit'),
        order: c.req.query('order'),
      }),
    );
  });

  return routes;
}
