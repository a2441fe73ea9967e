import OpenAI from 'openai';
import type { SmokeContext, SmokeStep } from './step';

/** The rate-limit headers every answer carries (OpenAI's and Groq's names). */
export const RATE_LIMIT_HEADERS = [
  'x-ratelimit-limit-requests',
  'x-ratelimit-limit-tokens',
  'x-ratelimit-remaining-requests',
  'x-ratelimit-remaining-tokens',
  'x-ratelimit-reset-requests',
  'x-ratelimit-reset-tokens',
];

function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

function requireModel(context: SmokeContext): string {
  check(context.model, 'no model to call (the models step found none; pass --model)');
  return context.model;
}

/** A plain request with the step's time limit; the SDKs have their own. */
function request(context: SmokeContext, path: string, init: RequestInit = {}): Promise<Response> {
  return context.fetch(`${context.root}${path}`, {
    ...init,
    signal: AbortSignal.timeout(context.requestTimeoutMs),
  });
}

/**
 * Runs `call` again while the model answers 503 (a component scaled to zero answers 503 +
 * retry-after while a copy starts, about 5-6 minutes), up to the capacity timeout.
 */
async function withCapacity<T>(context: SmokeContext, call: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + context.capacityTimeoutMs;
  for (;;) {
    try {
      return await call();
    } catch (error) {
      if (!(error instanceof OpenAI.APIError) || error.status !== 503 || Date.now() >= deadline)
        throw error;
      const retryAfter = Number(error.headers?.get('retry-after') ?? 10);
      const wait = Math.min(
        Math.max(1, Number.isFinite(retryAfter) ? retryAfter : 10) * 1000,
        deadline - Date.now(),
      );
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, wait)));
    }
  }
}

interface Usage {
  prompt_tokens?: number;
  completion_tokens?: number;
  total_tokens?: number;
}

function checkUsage(usage: Usage | null | undefined, where: string): string {
  check(usage, `${where}: no usage`);
  const {
    prompt_tokens: prompt = 0,
    completion_tokens: completion = 0,
    total_tokens: total,
  } = usage;
  check(
    prompt > 0 && completion > 0,
    `${where}: usage counts no tokens (${JSON.stringify(usage)})`,
  );
  check(
    total === prompt + completion,
    `${where}: total_tokens ${total} is not ${prompt} + ${completion}`,
  );
  return `${prompt} + ${completion} tokens`;
}

const PROMPT = [{ role: 'user' as const, content: 'Say hello to the Tierline smoke test.' }];

export const apiSteps: SmokeStep[] = [
  {
    name: 'plans',
    run: async (context) => {
      // Public: no key.
      const answer = await request(context, '/v1/plans');
      check(answer.status === 200, `GET /v1/plans answered ${answer.status}`);
      const body = (await answer.json()) as { object?: string; data?: { id?: string }[] };
      check(
        body.object === 'list' && Array.isArray(body.data) && body.data.length > 0,
        'GET /v1/plans lists no plan',
      );
      return `${body.data.length} plans: ${body.data.map((p) => p.id).join(', ')}`;
    },
  },
  {
    name: 'models',
    run: async (context) => {
      const models = [];
      for await (const model of context.openai.models.list()) models.push(model);
      check(models.length > 0, 'GET /v1/models lists no model for this key');
      if (context.model) {
        check(
          models.some((m) => m.id === context.model),
          `--model ${context.model} is not among ${models.map((m) => m.id).join(', ')}`,
        );
      } else {
        context.model = models.find((m) => !m.id.startsWith('ft:'))?.id ?? models[0]?.id;
      }
      const groqModels = await context.groq.models.list();
      check(
        groqModels.data.length === models.length,
        `groq-sdk lists ${groqModels.data.length} models, openai ${models.length}`,
      );
      return `${models.length} models (openai and groq-sdk); calling ${context.model}`;
    },
  },
  {
    name: 'chat',
    run: async (context) => {
      const model = requireModel(context);
      const { data, response } = await withCapacity(context, () =>
        context.openai.chat.completions
          .create({ model, messages: PROMPT, max_completion_tokens: 16 })
          .withResponse(),
      );
      context.chatHeaders = response.headers;
      const content = data.choices[0]?.message.content;
      check(typeof content === 'string' && content.length > 0, 'the completion has no content');
      check(data.choices[0]?.finish_reason, 'the completion has no finish_reason');
      return `openai: ${checkUsage(data.usage, 'the completion')}, finish_reason ${data.choices[0]?.finish_reason}`;
    },
  },
  {
    name: 'chat-stream',
    run: async (context) => {
      const model = requireModel(context);
      const stream = await withCapacity(context, () =>
        context.groq.chat.completions.create({
          model,
          messages: PROMPT,
          max_completion_tokens: 16,
          stream: true,
          // groq-sdk 1.6's types lack `stream_options`; the request field is what the API reads.
          ...({ stream_options: { include_usage: true } } as object),
        }),
      );
      let content = '';
      let chunks = 0;
      let usage: Usage | undefined;
      for await (const chunk of stream) {
        chunks += 1;
        content += chunk.choices[0]?.delta.content ?? '';
        // The usage-only chunk (choices: []) is OpenAI's shape, outside groq-sdk's chunk type.
        usage = (chunk as { usage?: Usage }).usage ?? usage;
      }
      check(content.length > 0, `the stream carried no content in ${chunks} chunks`);
      return `groq-sdk: ${chunks} chunks, ${checkUsage(usage, 'the stream')}`;
    },
  },
  {
    name: 'rate-limit-headers',
    run: async (context) => {
      const headers = context.chatHeaders;
      check(headers, 'no chat answer to read headers from');
      const missing = RATE_LIMIT_HEADERS.filter((name) => !headers.has(name));
      check(missing.length === 0, `missing on the chat answer: ${missing.join(', ')}`);
      return `requests ${headers.get('x-ratelimit-remaining-requests')}/${headers.get('x-ratelimit-limit-requests')}, tokens ${headers.get('x-ratelimit-remaining-tokens')}/${headers.get('x-ratelimit-limit-tokens')}`;
    },
  },
  {
    name: 'wrong-key',
    run: async (context) => {
      const stranger = context.openai.withOptions({
        apiKey: 'tl_smoke_test_wrong_key_0000000000000000',
      });
      try {
        await stranger.models.list();
      } catch (error) {
        check(
          error instanceof OpenAI.APIError,
          `a wrong key failed without an answer: ${String(error)}`,
        );
        check(error.status === 401, `a wrong key answered ${error.status}, not 401`);
        check(
          error.error && typeof error.message === 'string',
          'the 401 has no OpenAI-shaped error body',
        );
        return `401 ${error.code ?? error.type ?? ''}`.trim();
      }
      throw new Error('a wrong key was let in');
    },
  },
  {
    name: 'cors-preflight',
    run: async (context) => {
      const answer = await request(context, '/v1/chat/completions', {
        method: 'OPTIONS',
        headers: {
          Origin: context.origin,
          'Access-Control-Request-Method': 'POST',
          'Access-Control-Request-Headers': 'authorization,content-type',
        },
      });
      check(
        answer.status === 200 || answer.status === 204,
        `the preflight answered ${answer.status}`,
      );
      const origin = answer.headers.get('access-control-allow-origin');
      check(
        origin === '*' || origin === context.origin,
        `Access-Control-Allow-Origin is ${origin} for ${context.origin} (pass --origin with one the deployment allows)`,
      );
      const methods = (answer.headers.get('access-control-allow-methods') ?? '').toUpperCase();
      check(methods.includes('POST'), `Access-Control-Allow-Methods "${methods}" lacks POST`);
      // `*` never covers Authorization (Fetch standard): it must be named.
      const allowed = (answer.headers.get('access-control-allow-headers') ?? '').toLowerCase();
      check(
        allowed.includes('authorization'),
        `Access-Control-Allow-Headers "${allowed}" lacks Authorization`,
      );
      return `${answer.status}, origin ${origin}, methods ${methods}`;
    },
  },
  {
    name: 'usage',
    run: async (context) => {
      const answer = await request(context, '/v1/usage?group_by=model', {
        headers: { Authorization: `Bearer ${context.key}` },
      });
      check(answer.status === 200, `GET /v1/usage answered ${answer.status}`);
      const body = (await answer.json()) as {
        object?: string;
        total?: { requests?: unknown; cost_usd?: unknown };
      };
      check(
        body.object === 'list' && typeof body.total?.requests === 'number',
        `GET /v1/usage is not a usage list: ${JSON.stringify(body).slice(0, 200)}`,
      );
      // In AWS the aggregates follow the ledger through the table's stream: this month's figures
      // may lag.
      return `this month: ${body.total.requests} requests, $${String(body.total.cost_usd)}`;
    },
  },
];
