import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EventStreamCodec } from '@smithy/core/event-streams';

/**
 * A stand-in for the SageMaker runtime in front of LMI's vLLM async handler (djl-serving 0.36.0,
 * LMI v18), written from their documented behaviour so the SageMaker backend can be tested over
 * real HTTP through the SDK (`endpoint` override). What it reproduces, and where it was read:
 * - The runtime API (botocore/SDK model of `sagemaker-runtime` 2017-05-13): `POST
 *   /endpoints/{name}/invocations` and `/invocations-response-stream`, the component in
 *   `X-Amzn-SageMaker-Inference-Component`, errors as REST-JSON (`x-amzn-errortype`, `{message}`),
 *   `ModelError` (424) with `OriginalStatusCode`/`OriginalMessage`, the stream as
 *   `application/vnd.amazon.eventstream` messages (`PayloadPart`, `ModelStreamError`) framed as the
 *   SDK's own `EventStreamCodec` reads them.
 * - A component with no copies answers `ValidationError` "Inference Component has no capacity to
 *   process this request..." and counts a `NoCapacityInvocationFailures` data point under the
 *   component invoked (AWS, "Scale an endpoint to zero instances"). Non-streamed invocations must
 *   finish within 60 s (InvokeEndpoint).
 * - LMI's handler (`vllm_async_service.py`): the model is served under `OPTION_SERVED_MODEL_NAME`
 *   (default `lmi`); `model` is filled in only when the body has none; an adapter comes from
 *   SageMaker's `X-Amzn-SageMaker-Adapter-Identifier` (set from the adapter component) and replaces
 *   `model`; an adapter not registered fails the request (424 "Input parsing failed"). vLLM's
 *   `_check_model` answers 404 "The model `X` does not exist." for any other name; `stream_options`
 *   without `stream` is a 400.
 * - vLLM's OpenAI chat shapes; LMI async streams them as JSON lines (no `data:`); the usage chunk
 *   (`choices: []`) comes last only with `stream_options.include_usage`.
 * - A Qwen3 model thinks first (`<think>...</think>`, then the answer) unless the body's
 *   `chat_template_kwargs` says `enable_thinking: false` (Qwen3's chat template; LMI passes the body
 *   to vLLM's `ChatCompletionRequest`, which has the field). With LMI's `OPTION_REASONING_PARSER`
 *   (vLLM's `--reasoning-parser qwen3`) the thinking leaves the content for `reasoning` (vLLM
 *   0.12.0, LMI v18's engine: `reasoning`, PR #27752), the tag tokens themselves in no delta;
 *   without it the tags stay in the content. Thinking tokens count in `completion_tokens`.
 */

export interface StandInBase {
  kind: 'base';
  endpoint: string;
  /** LMI's served model name (`OPTION_SERVED_MODEL_NAME`, `lmi` when unset). */
  servedModelName?: string;
  copies: number;
  /** The model thinks first, as Qwen3's template has it. @default false */
  thinks?: boolean;
  /** LMI's `OPTION_REASONING_PARSER`: vLLM's reasoning parser (`qwen3`). @default none */
  reasoningParser?: string;
}
export interface StandInAdapter {
  kind: 'adapter';
  /** The base component it sits on (`BaseInferenceComponentName`). */
  base: string;
  /** Whether LMI registered the adapter (its artifact loaded). */
  registered?: boolean;
}
export type StandInComponent = StandInBase | StandInAdapter;

export interface LmiStandInOptions {
  /** By inference component name. */
  components: Record<string, StandInComponent>;
  /** Time the engine takes per generated token. @default 0 */
  msPerToken?: number;
  /** InvokeEndpoint's limit on the container's answer (60 s on SageMaker). @default 60_000 */
  invokeEndpointTimeoutMs?: number;
}

export interface StandInCall {
  operation: 'InvokeEndpoint' | 'InvokeEndpointWithResponseStream';
  endpoint: string;
  component: string | undefined;
  body: Record<string, unknown>;
}

export interface LmiStandIn {
  /** The `endpoint` to give the SDK client. */
  url: string;
  calls: StandInCall[];
  /** `NoCapacityInvocationFailures` data points by component name. */
  noCapacityFailures: Map<string, number>;
  components: Record<string, StandInComponent>;
  close(): Promise<void>;
}

const NO_CAPACITY =
  'Inference Component has no capacity to process this request. ApplicationAutoScaling may be in-progress (if ' +
  'configured) or try to increase the capacity by invoking UpdateInferenceComponentRuntimeConfig API.';

export async function startLmiStandIn(options: LmiStandInOptions): Promise<LmiStandIn> {
  const state: LmiStandIn = {
    url: '',
    calls: [],
    noCapacityFailures: new Map(),
    components: options.components,
    close: async () => undefined,
  };
  const server: Server = createServer((req, res) => {
    readBody(req)
      .then((raw) => handle(state, options, req, res, raw))
      .catch((error: unknown) => {
        if (!res.headersSent) awsError(res, 500, 'InternalFailure', String(error));
        else res.destroy();
      });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return state;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of req) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

function awsError(
  res: ServerResponse,
  status: number,
  type: string,
  message: string,
  extra: object = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', 'x-amzn-errortype': type });
  res.end(JSON.stringify({ message, ...extra }));
}

/** What SageMaker answers when the container answered a non-2xx status. */
function modelError(
  res: ServerResponse,
  component: string,
  containerStatus: number,
  containerBody: string,
): void {
  awsError(
    res,
    424,
    'ModelError',
    `Received client error (${containerStatus}) from primary with message "${containerBody}". See ` +
      `https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#logEventViewer:group=/aws/sagemaker/InferenceComponents/${component} in account 123456789012 for more information.`,
    {
      OriginalStatusCode: containerStatus,
      OriginalMessage: containerBody,
      LogStreamArn: `arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/InferenceComponents/${component}`,
    },
  );
}

interface Served {
  model: string;
}

async function handle(
  state: LmiStandIn,
  options: LmiStandInOptions,
  req: IncomingMessage,
  res: ServerResponse,
  raw: Buffer,
): Promise<void> {
  const match = /^\/endpoints\/([^/]+)\/(invocations|invocations-response-stream)$/.exec(
    req.url ?? '',
  );
  if (req.method !== 'POST' || !match)
    return awsError(res, 404, 'UnknownOperationException', 'Unknown operation');
  const endpoint = decodeURIComponent(match[1] ?? '');
  const streamed = match[2] === 'invocations-response-stream';
  const componentName = req.headers['x-amzn-sagemaker-inference-component'];
  const component = typeof componentName === 'string' ? componentName : undefined;
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
  } catch {
    body = {};
  }
  state.calls.push({
    operation: streamed ? 'InvokeEndpointWithResponseStream' : 'InvokeEndpoint',
    endpoint,
    component,
    body,
  });

  const found = component ? state.components[component] : undefined;
  const base = found?.kind === 'adapter' ? state.components[found.base] : found;
  if (!component || !found || base?.kind !== 'base' || base.endpoint !== endpoint) {
    return awsError(
      res,
      400,
      'ValidationError',
      `Inference Component Name header is required or the inference component ${component} was not found on endpoint ${endpoint}.`,
    );
  }
  if (base.copies === 0) {
    state.noCapacityFailures.set(component, (state.noCapacityFailures.get(component) ?? 0) + 1);
    return awsError(res, 400, 'ValidationError', NO_CAPACITY);
  }

  // djl-serving's handler: the adapter from SageMaker's header, else the body's model, else the
  // served name.
  const servedName = base.servedModelName ?? 'lmi';
  if (found.kind === 'adapter' && found.registered === false) {
    const error = `Input parsing failed: LoRA adapter ${component} not found in registry. Available adapters: []`;
    return modelError(res, component, 424, JSON.stringify({ error, code: 424 }));
  }
  const served: Served = { model: found.kind === 'adapter' ? component : servedName };
  const requested =
    found.kind === 'adapter' ? component : ((body.model as string | undefined) ?? servedName);
  if (requested !== servedName && found.kind === 'base') {
    // vLLM's OpenAIServing._check_model, as its ErrorResponse serialises.
    const error = {
      error: {
        message: `The model \`${requested}\` does not exist.`,
        type: 'NotFoundError',
        param: 'model',
        code: 404,
      },
    };
    return modelError(res, component, 404, JSON.stringify(error));
  }
  if (body.stream_options !== undefined && body.stream !== true) {
    const error = {
      error: {
        message: 'Stream options can only be defined when `stream=True`.',
        type: 'BadRequestError',
        param: null,
        code: 400,
      },
    };
    return modelError(res, component, 400, JSON.stringify(error));
  }
  if (!Array.isArray(body.messages)) {
    const error = JSON.stringify({
      error: 'Input parsing failed: invalid payload. must contain prompt, inputs, or messages',
      code: 424,
    });
    return modelError(res, component, 424, error);
  }

  const generation = generate(body, base.thinks === true, base.reasoningParser !== undefined);
  const msPerToken = options.msPerToken ?? 0;
  if (!streamed) {
    const limit = options.invokeEndpointTimeoutMs ?? 60_000;
    const needed = msPerToken * generation.tokens.length;
    if (needed > limit) {
      await sleep(limit);
      return modelError(
        res,
        component,
        0,
        'Your invocation timed out while waiting for a response from container primary. Review the latency metrics for each container in Amazon CloudWatch, resolve the issue, and try again.',
      );
    }
    await sleep(needed);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(completionBody(served, generation, body.stream === true)));
    return;
  }
  res.writeHead(200, {
    'content-type': 'application/vnd.amazon.eventstream',
    'x-amzn-sagemaker-content-type': 'application/jsonlines',
  });
  for (const line of streamLines(served, generation, body)) {
    await sleep(msPerToken);
    res.write(eventMessage('PayloadPart', new TextEncoder().encode(`${JSON.stringify(line)}\n`)));
  }
  res.end();
}

const codec = new EventStreamCodec(
  (bytes: Uint8Array) => new TextDecoder().decode(bytes),
  (text: string) => new TextEncoder().encode(text),
);

/** One event of SageMaker's response stream, framed as the AWS event stream encoding. */
export function eventMessage(eventType: string, body: Uint8Array): Uint8Array {
  return codec.encode({
    headers: {
      ':event-type': { type: 'string', value: eventType },
      ':message-type': { type: 'string', value: 'event' },
      ':content-type': { type: 'string', value: 'application/octet-stream' },
    },
    body,
  });
}

type TokenKind = 'tag' | 'reasoning' | 'content';

interface Generation {
  promptTokens: number;
  tokens: string[];
  /** What each token is to vLLM's reasoning parser: a `<think>` tag, thinking, or answer. */
  kinds: TokenKind[];
  finishReason: 'stop' | 'length';
  /** The container runs a reasoning parser: thinking goes to `reasoning`, tags to nothing. */
  parsed: boolean;
}

function words(text: string): string[] {
  return text.split(/\s+/).filter((w) => w.length > 0);
}

function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content))
    return content.map((p) => (p as { text?: string }).text ?? '').join(' ');
  return '';
}

/**
 * Deterministic: the answer repeats the last user message, word by word, after the thinking of a
 * model that thinks; cut at `max_tokens`.
 */
function generate(body: Record<string, unknown>, thinks: boolean, parsed: boolean): Generation {
  const messages = body.messages as { role: string; content: unknown }[];
  const promptTokens = messages.reduce(
    (sum, m) => sum + words(contentText(m.content)).length + 4,
    0,
  );
  const lastUser = [...messages].reverse().find((m) => m.role === 'user');
  const kwargs = body.chat_template_kwargs as { enable_thinking?: unknown } | undefined;
  const thinking: [string, TokenKind][] =
    thinks && kwargs?.enable_thinking !== false
      ? [
          ['<think>', 'tag'],
          ['\nLet', 'reasoning'],
          [' me', 'reasoning'],
          [' repeat', 'reasoning'],
          [' it.\n', 'reasoning'],
          ['</think>', 'tag'],
          ['\n\n', 'content'],
        ]
      : [];
  const answer: [string, TokenKind][] = [
    ...thinking,
    ...words(`You said: ${contentText(lastUser?.content)}`).map((w, i): [string, TokenKind] => [
      i === 0 ? w : ` ${w}`,
      'content',
    ]),
  ];
  const max = (body.max_completion_tokens ?? body.max_tokens) as number | undefined;
  const cut = max !== undefined && max < answer.length;
  const kept = cut ? answer.slice(0, max) : answer;
  return {
    promptTokens,
    tokens: kept.map(([t]) => t),
    kinds: kept.map(([, k]) => k),
    finishReason: cut ? 'length' : 'stop',
    parsed,
  };
}

/** Tokens [from, to) as vLLM answers them: split by the reasoning parser, or all content. */
function split(g: Generation, from: number, to: number): { reasoning?: string; content?: string } {
  if (!g.parsed) return { content: g.tokens.slice(from, to).join('') };
  const of = (kind: TokenKind) =>
    g.tokens
      .slice(from, to)
      .filter((_, i) => g.kinds[from + i] === kind)
      .join('');
  const reasoning = of('reasoning');
  const content = of('content');
  return { ...(reasoning ? { reasoning } : {}), ...(content ? { content } : {}) };
}

function usageOf(g: Generation) {
  return {
    prompt_tokens: g.promptTokens,
    total_tokens: g.promptTokens + g.tokens.length,
    completion_tokens: g.tokens.length,
    prompt_tokens_details: null,
  };
}

const CREATED = 1_767_225_600;

function completionBody(served: Served, g: Generation, _stream: boolean) {
  return {
    id: `chatcmpl-${randomUUID().replaceAll('-', '')}`,
    object: 'chat.completion',
    created: CREATED,
    model: served.model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          reasoning: null,
          content: null,
          ...split(g, 0, g.tokens.length),
          tool_calls: [],
        },
        logprobs: null,
        finish_reason: g.finishReason,
        stop_reason: null,
      },
    ],
    usage: usageOf(g),
    prompt_logprobs: null,
  };
}

function* streamLines(served: Served, g: Generation, body: Record<string, unknown>) {
  const id = `chatcmpl-${randomUUID().replaceAll('-', '')}`;
  const head = { id, object: 'chat.completion.chunk', created: CREATED, model: served.model };
  yield {
    ...head,
    choices: [
      { index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null },
    ],
  };
  for (const i of g.tokens.keys()) {
    const last = i === g.tokens.length - 1;
    const delta = split(g, i, i + 1);
    // The parser sends no delta for a tag token (but the finish reason goes out all the same).
    if (delta.reasoning === undefined && delta.content === undefined && !last) continue;
    yield {
      ...head,
      choices: [
        {
          index: 0,
          delta,
          logprobs: null,
          finish_reason: last ? g.finishReason : null,
          stop_reason: null,
        },
      ],
    };
  }
  const options = body.stream_options as { include_usage?: boolean } | undefined;
  if (options?.include_usage) yield { ...head, choices: [], usage: usageOf(g) };
}

function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}
