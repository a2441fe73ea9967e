import type { OpenAIBatch as Batch } from '../../lambda/openai/shapes/batches';
import type { Billing, BillingCheckout } from '../../lambda/openai/shapes/billing';
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
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

interface ErrorBody {
  error?: { message?: string; type?: string; code?: string | null; param?: string | null };
}

/** Words for a failed response: what happened and what to do. */
export function explainError(status: number, body: unknown, headers: Headers): ApiError {
  const error = (body as ErrorBody | null)?.error ?? {};
  const message = error.message ?? `The API answered HTTP ${status}.`;
  const code = error.code ?? null;
  const requestId = headers.get('x-request-id') ?? undefined;
  const retryAfter = Number(headers.get('retry-after'));
  const wait =
    Number.isFinite(retryAfter) && retryAfter > 0 ? formatSeconds(retryAfter) : undefined;
  const make = (title: string, advice: string) =>
    new ApiError(status, message, title, advice, code, error.param ?? null, requestId);
  if (status === 401) {
    return make(
      'This API key is not accepted',
      'It may be mistyped, revoked or replaced. Check the key, sign in with another one, or ask your operator for a new key.',
    );
  }
  if (code === 'insufficient_quota') {
    return make(
      'Your monthly spend limit is reached',
      'Raise or remove the limit on the Spend limit page, or wait for the next month.',
    );
  }
  if (status === 429) {
    return make(
      'Rate limit reached',
      wait
        ? `Try again in ${wait}. Your plan's limits are on the Plan page.`
        : 'Wait a moment and try again.',
    );
  }
  if (status === 413)
    return make('Request too large for your limits', 'Shorten the prompt or lower max tokens.');
  if (status === 403 && code === 'insufficient_permissions') {
    return make(
      'This key cannot do this',
      'API keys run models; keys and the spend limit are managed with an admin key (tl_admin_…), which an owner or your operator creates. Sign in with the key meant for this.',
    );
  }
  if (status === 403) {
    return make(
      'Not available on your plan',
      'The Plan page shows what your plan includes and how to upgrade.',
    );
  }
  if (status === 404) return make('Not found', 'It may have been removed. Reload the page.');
  if (status >= 400 && status < 500)
    return make('The request was not accepted', 'Correct the highlighted field and try again.');
  if (status === 503) {
    return make(
      'The model is starting or busy',
      wait
        ? `Try again in ${wait}.`
        : 'Try again in a few minutes: a model that was idle takes minutes to start.',
    );
  }
  return make(
    'The service had a problem',
    `Try again in a moment. If it keeps happening, tell your operator the request id${requestId ? ` ${requestId}` : ''}.`,
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
          ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
      });
    } catch (error) {
      if ((error as Error)?.name === 'AbortError') throw error;
      throw networkError(error);
    }
  }

  private async json<T>(path: string, init: RequestInit = {}): Promise<T> {
    const response = await this.send(path, init);
    const body = await response.json().catch(() => null);
    if (!response.ok) throw explainError(response.status, body, response.headers);
    return body as T;
  }

  me = () => this.json<Me>('/me');
  /** The signed-in user's organizations (a session only). */
  organizations = async () =>
    (await this.json<OrganizationMembershipList>('/account/organizations')).data;
  /** The user's Free organization, made on first sign-in; its first key is in this answer only. */
  signUpOrganization = () =>
    this.json<SignedUpOrganization>('/account/organizations', { method: 'POST', body: '{}' });
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

  /** A streamed chat completion; `onText` sees each piece of content as it arrives. */
  async chat(
    request: {
      model: string;
      messages: { role: string; content: string }[];
      max_completion_tokens?: number;
    },
    onText: (piece: string) => void,
    signal?: AbortSignal,
  ): Promise<ChatReply> {
    const started = this.clock();
    const response = await this.send('/chat/completions', {
      method: 'POST',
      body: JSON.stringify({ ...request, stream: true, stream_options: { include_usage: true } }),
      signal,
    });
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
      if (event.error) {
        const error = explainError(500, event, response.headers);
        throw new ApiError(
          500,
          error.message,
          'The reply stopped with an error',
          error.advice,
          error.code,
        );
      }
      if (event.usage) reply.usage = event.usage;
      for (const choice of event.choices ?? []) {
        const piece = choice.delta?.content;
        if (piece) {
          reply.ttftMs ??= this.clock() - started;
          reply.text += piece;
          onText(piece);
        }
        if (choice.finish_reason) reply.finishReason = choice.finish_reason;
      }
    }
    reply.totalMs = this.clock() - started;
    return reply;
  }
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

interface ChunkEvent {
  error?: { message?: string; code?: string | null };
  usage?: ChatReply['usage'];
  choices?: { delta?: { content?: string | null }; finish_reason?: string | null }[];
}

/** The JSON events of a `text/event-stream` body, up to `data: [DONE]`; lines may be split across reads. */
export async function* sseEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<ChunkEvent> {
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
        if (data) yield JSON.parse(data) as ChunkEvent;
      }
      if (done) return;
    }
  } finally {
    reader.releaseLock();
  }
}
