import type { OpenAIBatch as Batch } from '../../lambda/openai/shapes/batches';
import type { Billing, BillingCheckout } from '../../lambda/openai/shapes/billing';
import type { OpenAIFile, OpenAIFileDeleted } from '../../lambda/openai/shapes/files';
import type { FineTuningEvent, FineTuningJob } from '../../lambda/openai/shapes/fine-tuning';
import type { ApiKey, ApiKeyList, CreatedApiKey } from '../../lambda/openai/shapes/keys';
import type { Limits } from '../../lambda/openai/shapes/limits';
import type { OpenAIModelList } from '../../lambda/openai/shapes/models';
import type { Customer as Me, PlanList as Plans } from '../../lambda/openai/shapes/plans';
import type {
  OrganizationMembership,
  SignedUpOrganization,
} from '../../lambda/openai/shapes/sign-up';
import type { DayBucket, SpendLimit, UsageList } from '../../lambda/openai/shapes/usage';
import { errorWords } from './error-words';
import { formatSeconds } from './format';

/**
 * The console's client of the Tierline API: same origin (`/v1`), the key in the Authorization
 * header only, every failure turned into an {@link ApiError} that says in words what happened and
 * what to do. No DOM: `fetch` is injected, so the unit tests run it in Node.
 */

/*
 * The API's response shapes, declared once in the server's zod schemas (`lambda/openai/shapes/`).
 * `import type` only: the imports are erased, so no zod (and no server code) enters the bundle.
 */
export type { BatchStatus, OpenAIBatch as Batch } from '../../lambda/openai/shapes/batches';
export type { Billing, BillingInvoice } from '../../lambda/openai/shapes/billing';
export type { OpenAIFile } from '../../lambda/openai/shapes/files';
export type { FineTuningEvent, FineTuningJob } from '../../lambda/openai/shapes/fine-tuning';
export type { ApiKey } from '../../lambda/openai/shapes/keys';
export type { LimitRow, Limits } from '../../lambda/openai/shapes/limits';
export type { OpenAIModel as ModelEntry } from '../../lambda/openai/shapes/models';
export type { Customer as Me, ModelPlan, Plan } from '../../lambda/openai/shapes/plans';
export type {
  OrganizationMembership,
  SignedUpOrganization,
} from '../../lambda/openai/shapes/sign-up';
export type { SpendLimit, UsageFields } from '../../lambda/openai/shapes/usage';

type OrganizationMembershipList = { object: 'list'; data: OrganizationMembership[] };

/** `GET /usage?group_by=day`, the only grouping the console asks for: buckets of days. */
export type Usage = UsageList<DayBucket>;

/** A page of an OpenAI list with `after` pagination. */
export interface Page<T> {
  data: T[];
  has_more: boolean;
  last_id?: string;
}

export interface ChatReply {
  text: string;
  /** Milliseconds from sending the request to the first content token. */
  ttftMs: number | undefined;
  totalMs: number;
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number } | undefined;
  finishReason: string | undefined;
  /** The `x-ratelimit-*` headers of the reply. */
  rateLimit: Record<string, string>;
  requestId: string | undefined;
}

/** An API failure, explained: `title` and `advice` are for people, `code`/`status` for code. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly title: string,
    readonly advice: string,
    readonly code: string | null = null,
    readonly param: string | null = null,
    readonly requestId: string | undefined = undefined,
    /** What happened, in words; the API's `message` is for programs and logs. */
    readonly sentence: string | undefined = undefined,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

interface ErrorBody {
  error?: { message?: string; type?: string; code?: string | null; param?: string | null };
}

/** Words for a failed response: what happened and what to do ({@link errorWords}). */
export function explainError(status: number, body: unknown, headers: Headers): ApiError {
  const error = (body as ErrorBody | null)?.error ?? {};
  const message = error.message ?? `The API answered HTTP ${status}.`;
  const code = error.code ?? null;
  const requestId = headers.get('x-request-id') ?? undefined;
  const retryAfter = Number(headers.get('retry-after'));
  const wait =
    Number.isFinite(retryAfter) && retryAfter > 0 ? formatSeconds(retryAfter) : undefined;
  const param = error.param ?? null;
  const words = errorWords({ status, code, type: error.type, param, message, wait, requestId });
  return new ApiError(
    status,
    message,
    words.title,
    words.advice,
    code,
    param,
    requestId,
    words.sentence,
  );
}

function networkError(cause: unknown): ApiError {
  return new ApiError(
    0,
    cause instanceof Error ? cause.message : String(cause),
    'The API cannot be reached',
    'Check your network connection and try again.',
  );
}

const RATE_LIMIT_HEADERS = [
  'x-ratelimit-limit-requests',
  'x-ratelimit-limit-tokens',
  'x-ratelimit-remaining-requests',
  'x-ratelimit-remaining-tokens',
  'x-ratelimit-reset-requests',
  'x-ratelimit-reset-tokens',
];

const THROTTLE_RETRIES = 3;
/** Retried only when the gateway asks for at most this long a wait. */
const MAX_THROTTLE_WAIT_S = 2;

function isShortThrottle(response: Response, init: RequestInit): boolean {
  // A stream body is read once: it cannot be sent again.
  if (response.status !== 429 || init.body instanceof ReadableStream) return false;
  const seconds = Number(response.headers.get('retry-after'));
  return seconds > 0 && seconds <= MAX_THROTTLE_WAIT_S;
}

function throttleWaitMs(response: Response): number {
  return Number(response.headers.get('retry-after')) * 1000;
}

/**
 * What authenticates the console's requests: an API key, or a session's headers (a fresh access
 * token as bearer and the chosen organization in `OpenAI-Organization`), read for each request.
 */
export type Credentials = string | (() => Promise<Record<string, string>>);

export class ConsoleApi {
  constructor(
    private readonly credentials: Credentials,
    private readonly baseUrl = '/v1',
    private readonly fetchImpl: typeof fetch = (...args) => fetch(...args),
    private readonly clock: () => number = () => performance.now(),
  ) {}

  private async send(path: string, init: RequestInit = {}): Promise<Response> {
    const auth =
      typeof this.credentials === 'string'
        ? { authorization: `Bearer ${this.credentials}` }
        : await this.credentials();
    try {
      return await this.fetchImpl(`${this.baseUrl}${path}`, {
        ...init,
        headers: {
          ...auth,
          ...(init.headers as Record<string, string> | undefined),
          // A FormData body (an upload) sets its own multipart type and boundary.
          ...(typeof init.body === 'string' ? { 'content-type': 'application/json' } : {}),
        },
      });
    } catch (error) {
      if ((error as Error)?.name === 'AbortError') throw error;
      throw networkError(error);
    }
  }

  private async json<T>(path: string, init: RequestInit = {}, waitOutThrottle = false): Promise<T> {
    let response = await this.send(path, init);
    // An administration page's request throttled for a second or two (the Free plan's gateway
    // rate is 2 a second, and a page loads several lists at once) is sent again, not shown as an
    // error. Writes too: a 429 is refused before anything is done, so it cannot be done twice.
    // The shell's own requests say so instead (the sign-in keeps the key through a throttle).
    const retries = waitOutThrottle ? THROTTLE_RETRIES : 0;
    for (let retry = 0; retry < retries && isShortThrottle(response, init); retry++) {
      await new Promise((resolve) => setTimeout(resolve, throttleWaitMs(response)));
      response = await this.send(path, init);
    }
    const body = await response.json().catch(() => null);
    if (!response.ok) throw explainError(response.status, body, response.headers);
    return body as T;
  }

  /** Any JSON route (the administration API's pages build on it: `admin-api.ts`). */
  request = <T>(path: string, init: RequestInit = {}) => this.json<T>(path, init, true);
  me = () => this.json<Me>('/me');
  /** The signed-in user's organizations (a session only). */
  organizations = async () =>
    (await this.json<OrganizationMembershipList>('/account/organizations')).data;
  /** The user's Free organization, made on first sign-in; its first key is in this answer only. */
  signUpOrganization = () =>
    this.json<SignedUpOrganization>('/account/organizations', { method: 'POST', body: '{}' });
  /**
   * The user's organizations, its Free one made first when it has none (`made`, whose first key
   * is shown once). The sign-up answer says all the list would of that one organization, the
   * user's own and active, so the list is not read again.
   */
  organizationsOrSignUp = async (): Promise<{
    list: OrganizationMembership[];
    made?: SignedUpOrganization;
  }> => {
    const list = await this.organizations();
    if (list.length > 0) return { list };
    const made = await this.signUpOrganization();
    const { object, id, name, tier, role } = made;
    return { list: [{ object, id, name, tier, role, status: 'active' }], made };
  };
  plans = () => this.json<Plans>('/plans');
  limits = () => this.json<Limits>('/limits');
  usage = (start: string, end: string) =>
    this.json<Usage>(
      `/usage?group_by=day&start_date=${encodeURIComponent(start)}&end_date=${encodeURIComponent(end)}`,
    );
  keys = async () => (await this.json<ApiKeyList>('/keys')).data;
  createKey = (name: string) =>
    this.json<CreatedApiKey>('/keys', {
      method: 'POST',
      body: JSON.stringify({ name }),
    });
  revokeKey = (id: string) =>
    this.json<ApiKey>(`/keys/${encodeURIComponent(id)}`, { method: 'DELETE' });
  spendLimit = () => this.json<SpendLimit>('/spend_limit');
  billing = () => this.json<Billing>('/billing');
  /** Opens the provider's page that saves a payment method; it comes back to these URLs. */
  startCheckout = (successUrl: string, cancelUrl: string) =>
    this.json<BillingCheckout>('/billing/checkout', {
      method: 'POST',
      body: JSON.stringify({ success_url: successUrl, cancel_url: cancelUrl }),
    });
  cancelSubscription = () => this.json<Billing>('/billing/cancel', { method: 'POST' });
  batches = (after?: string, limit = 20) =>
    this.json<Page<Batch>>(`/batches${query({ limit, after })}`);
  batch = (id: string) => this.json<Batch>(`/batches/${encodeURIComponent(id)}`);
  cancelBatch = (id: string) =>
    this.json<Batch>(`/batches/${encodeURIComponent(id)}/cancel`, { method: 'POST' });
  fineTuningJobs = (after?: string, limit = 20) =>
    this.json<Page<FineTuningJob>>(`/fine_tuning/jobs${query({ limit, after })}`);
  fineTuningEvents = (jobId: string, limit = 50) =>
    this.json<Page<FineTuningEvent>>(
      `/fine_tuning/jobs/${encodeURIComponent(jobId)}/events${query({ limit })}`,
    );
  models = async () => (await this.json<OpenAIModelList>('/models')).data;

  /**
   * A file's content as a Blob, fetched with the key in the Authorization header (a link to the URL
   * could not carry the key, and the key must never be put in a URL).
   */
  async fileContent(id: string): Promise<Blob> {
    const response = await this.send(`/files/${encodeURIComponent(id)}/content`);
    if (!response.ok) {
      throw explainError(
        response.status,
        await response.json().catch(() => null),
        response.headers,
      );
    }
    return response.blob();
  }
  setSpendLimit = (usd: number | null) =>
    this.json<SpendLimit>('/spend_limit', {
      method: 'PUT',
      body: JSON.stringify({ monthly_limit_usd: usd }),
    });

  files = (purpose?: string, limit = 100, after?: string) =>
    this.json<Page<OpenAIFile>>(`/files${query({ purpose, limit, after })}`);
  /** `POST /v1/files` as multipart, as the OpenAI clients send it. */
  uploadFile = (file: Blob, fileName: string, purpose: string) => {
    const form = new FormData();
    form.append('purpose', purpose);
    form.append('file', file, fileName);
    return this.json<OpenAIFile>('/files', { method: 'POST', body: form });
  };
  deleteFile = (id: string) =>
    this.json<OpenAIFileDeleted>(`/files/${encodeURIComponent(id)}`, { method: 'DELETE' });
  createBatch = (body: { input_file_id: string; endpoint: string; completion_window: string }) =>
    this.json<Batch>('/batches', { method: 'POST', body: JSON.stringify(body) });

  /** A streamed chat completion; `onText` sees each piece of content as it arrives. */
  async chat(
    request: { model: string; messages: { role: string; content: string }[] } & Record<
      string,
      unknown
    >,
    onText: (piece: string) => void,
    signal?: AbortSignal,
  ): Promise<ChatReply> {
    return this.stream(
      '/chat/completions',
      { ...request, stream: true, stream_options: { include_usage: true } },
      chatEvent,
      onText,
      signal,
    );
  }

  /**
   * A streamed `POST /v1/responses` (not stored: the console sends the whole conversation each
   * turn); its usage is read into chat's names so the page shows both alike.
   */
  async respond(
    request: { model: string; input: { role: string; content: string }[] } & Record<
      string,
      unknown
    >,
    onText: (piece: string) => void,
    signal?: AbortSignal,
  ): Promise<ChatReply> {
    return this.stream(
      '/responses',
      { ...request, stream: true, store: false },
      responsesEvent,
      onText,
      signal,
    );
  }

  private async stream(
    path: string,
    body: unknown,
    read: (event: StreamEvent) => StreamStep,
    onText: (piece: string) => void,
    signal?: AbortSignal,
  ): Promise<ChatReply> {
    const started = this.clock();
    const response = await this.send(path, { method: 'POST', body: JSON.stringify(body), signal });
    if (!response.ok || !response.body) {
      throw explainError(
        response.status,
        await response.json().catch(() => null),
        response.headers,
      );
    }
    const rateLimit: Record<string, string> = {};
    for (const name of RATE_LIMIT_HEADERS) {
      const value = response.headers.get(name);
      if (value !== null) rateLimit[name] = value;
    }
    const reply: ChatReply = {
      text: '',
      ttftMs: undefined,
      totalMs: 0,
      usage: undefined,
      finishReason: undefined,
      rateLimit,
      requestId: response.headers.get('x-request-id') ?? undefined,
    };
    for await (const event of sseEvents(response.body)) {
      const step = read(event);
      if (step.error) {
        const error = explainError(500, { error: step.error }, response.headers);
        throw new ApiError(
          500,
          error.message,
          'The reply stopped with an error',
          error.advice,
          error.code,
          null,
          reply.requestId,
          'The model stopped before the reply was complete.',
        );
      }
      if (step.usage) reply.usage = step.usage;
      if (step.text) {
        reply.ttftMs ??= this.clock() - started;
        reply.text += step.text;
        onText(step.text);
      }
      if (step.finishReason) reply.finishReason = step.finishReason;
    }
    reply.totalMs = this.clock() - started;
    return reply;
  }
}

/** What one streamed event adds to a reply, whichever API sent it. */
interface StreamStep {
  text?: string;
  usage?: ChatReply['usage'];
  finishReason?: string;
  error?: { message?: string; code?: string | null };
}

function chatEvent(event: StreamEvent): StreamStep {
  const step: StreamStep = {};
  if (event.error) step.error = event.error;
  if (event.usage) step.usage = event.usage as ChatReply['usage'];
  for (const choice of event.choices ?? []) {
    const piece = choice.delta?.content;
    if (piece) step.text = (step.text ?? '') + piece;
    if (choice.finish_reason) step.finishReason = choice.finish_reason;
  }
  return step;
}

/** Responses' events: text deltas, the usage of `response.completed`, `error` and `response.failed`. */
function responsesEvent(event: StreamEvent): StreamStep {
  if (event.type === 'response.output_text.delta') return { text: event.delta };
  if (event.type === 'error') return { error: { message: event.message, code: event.code } };
  if (event.type === 'response.failed') {
    return { error: event.response?.error ?? { message: 'The response failed.' } };
  }
  if (event.type === 'response.completed' || event.type === 'response.incomplete') {
    const usage = event.response?.usage;
    return {
      finishReason:
        event.type === 'response.completed'
          ? 'stop'
          : (event.response?.incomplete_details?.reason ?? 'incomplete'),
      ...(usage
        ? {
            usage: {
              prompt_tokens: usage.input_tokens,
              completion_tokens: usage.output_tokens,
              total_tokens: usage.total_tokens,
            },
          }
        : {}),
    };
  }
  return {};
}

/** `?limit=20&after=...`, leaving out what is undefined. */
function query(params: Record<string, string | number | undefined>): string {
  const pairs = Object.entries(params).filter(
    (entry): entry is [string, string | number] => entry[1] !== undefined,
  );
  return pairs.length === 0
    ? ''
    : `?${pairs.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&')}`;
}

/** The fields the console reads of a chat chunk or a Responses event. */
interface StreamEvent {
  type?: string;
  error?: { message?: string; code?: string | null };
  usage?: ChatReply['usage'];
  choices?: { delta?: { content?: string | null }; finish_reason?: string | null }[];
  delta?: string;
  message?: string;
  code?: string | null;
  response?: {
    error?: { message?: string; code?: string | null } | null;
    usage?: { input_tokens: number; output_tokens: number; total_tokens: number };
    incomplete_details?: { reason?: string } | null;
  };
}

/** The JSON events of a `text/event-stream` body, up to `data: [DONE]`; lines may be split across reads. */
export async function* sseEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<StreamEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      buffer += decoder.decode(value, { stream: !done });
      let newline = buffer.indexOf('\n');
      while (newline >= 0) {
        const line = buffer.slice(0, newline).replace(/\r$/, '');
        buffer = buffer.slice(newline + 1);
        newline = buffer.indexOf('\n');
        if (!line.startsWith('data:')) continue;
        const data = line.slice(5).trim();
        if (data === '[DONE]') return;
        if (data) yield JSON.parse(data) as StreamEvent;
      }
      if (done) return;
    }
  } finally {
    reader.releaseLock();
  }
}
