import Groq from 'groq-sdk';
import OpenAI from 'openai';
import {
  TEST_MODEL_OWNER,
  TestModelBackend,
} from '../../lambda/inference/backends/test-model-backend';
import { loadConfig } from '../../lib/config/load';
import { type LocalMode, startLocalMode } from '../../local/local-mode';
import { localClients } from '../support/local-clients';
import { expectSpecCompliance, specCheckedFetch } from '../support/spec-check';

/**
 * End to end: local mode on a real HTTP port (the same API app as in Lambda, dynalite as DynamoDB,
 * the real authorizer code, the usage-plan emulation), driven by the official `openai` and
 * `groq-sdk` clients.
 */

// A small Free key pool with the Free edge's numbers, so a burst from two customers that share a
// pool key is refused before the bucket refills (the default pool's burst is 100).
const config = loadConfig({
  env: 'dev',
  overrides: { tiers: { free: { edgePool: { keys: 4, rateLimit: 2, burstLimit: 10 } } } },
});
const MODEL = 'qwen3-8b';
const ENTERPRISE_ONLY = 'qwen3-32b';
/** The authorizer's decision cache: the revocation test moves local mode's clock past it. */
const AUTHORIZER_CACHE_MS = 2_000;
/**
 * Local mode's clock: real time, held still while the revocation test reads its cached decision (a
 * loaded machine once took longer than the TTL between the revocation and the next request), then
 * moved past the TTL without a real wait. Never backwards.
 */
const clock = { heldAt: undefined as number | undefined, aheadMs: 0 };
const now = () => new Date((clock.heldAt ?? Date.now()) + clock.aheadMs);

describe('official clients against local mode', () => {
  // Every answer below is checked against OpenAI's and Tierline's published schemas.
  const spec = specCheckedFetch();
  afterEach(() => expectSpecCompliance(spec));

  let local: LocalMode;
  let keys: Record<string, string>;
  let openai: OpenAI;
  let groq: Groq;

  beforeAll(async () => {
    local = await startLocalMode({
      config,
      port: 0,
      backend: new TestModelBackend({ replyTokens: 12 }),
      authorizerCacheTtlMs: AUTHORIZER_CACHE_MS,
      now,
    });
    const clients = localClients(local, spec.fetch);
    keys = { ...clients.keys };
    openai = clients.openai(clients.keys.developer);
    groq = clients.groq(clients.keys.developer);
  });
  afterAll(() => local.stop());

  describe('openai', () => {
    it('answers a chat completion with usage', async () => {
      const completion = await openai.chat.completions.create({
        model: MODEL,
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'Hello there' },
        ],
      });

      expect(completion.object).toBe('chat.completion');
      expect(completion.id).toMatch(/^chatcmpl-/);
      expect(completion.model).toBe(MODEL);
      expect(completion.choices[0]?.message.content).toContain('You said: "Hello there"');
      expect(completion.choices[0]?.finish_reason).toBe('stop');
      expect(completion.usage?.completion_tokens).toBe(12);
      expect(completion.usage?.total_tokens).toBe(
        (completion.usage?.prompt_tokens ?? 0) + (completion.usage?.completion_tokens ?? 0),
      );
    });

    it('streams chunks, then a usage chunk with no choices when include_usage is set, then ends', async () => {
      const stream = await openai.chat.completions.create({
        model: MODEL,
        messages: [{ role: 'user', content: 'Stream please' }],
        stream: true,
        stream_options: { include_usage: true },
      });
      const chunks = [];
      for await (const chunk of stream) chunks.push(chunk);

      const content = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
      const last = chunks.at(-1);
      expect(content).toContain('You said: "Stream please"');
      expect(chunks[0]?.choices[0]?.delta.role).toBe('assistant');
      expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
      expect(last?.choices).toEqual([]);
      expect(last?.usage?.completion_tokens).toBe(12);
      expect(chunks.at(-2)?.choices[0]?.finish_reason).toBe('stop');
    });

    it('sends no usage chunk when the client did not ask for it', async () => {
      const stream = await openai.chat.completions.create({
        model: MODEL,
        messages: [{ role: 'user', content: 'x' }],
        stream: true,
      });
      const chunks = [];
      for await (const chunk of stream) chunks.push(chunk);

      expect(chunks.every((c) => c.choices.length === 1 && !c.usage)).toBe(true);
    });

    it('honours max_completion_tokens and stop', async () => {
      const short = await openai.chat.completions.create({
        model: MODEL,
        messages: [{ role: 'user', content: 'x' }],
        max_completion_tokens: 3,
      });
      const stopped = await openai.chat.completions.create({
        model: MODEL,
        messages: [{ role: 'user', content: 'x' }],
        stop: ['test'],
      });

      expect(short.choices[0]?.message.content).toBe("Hello from Tierline's");
      expect(short.choices[0]?.finish_reason).toBe('length');
      expect(stopped.choices[0]?.message.content).toBe("Hello from Tierline's built-in ");
      expect(stopped.choices[0]?.finish_reason).toBe('stop');
    });

    it('lists the models of the caller tier, named as the test model, and retrieves one', async () => {
      const models = [];
      for await (const model of openai.models.list()) models.push(model);
      const one = await openai.models.retrieve(MODEL);

      // Chat models and speech-to-text models (Groq lists its Whisper models too).
      expect(models.map((m) => m.id).sort()).toEqual(
        [
          ...Object.keys(config.tiers.developer.models),
          ...Object.keys(config.tiers.developer.speechToText),
        ].sort(),
      );
      expect(models.every((m) => m.owned_by === TEST_MODEL_OWNER)).toBe(true);
      expect(one).toMatchObject({
        id: MODEL,
        object: 'model',
        context_window: config.models[MODEL]?.contextWindow,
      });
    });

    it('raises AuthenticationError for a bad key', async () => {
      const stranger = new OpenAI({
        apiKey: 'tl_not-a-real-key',
        baseURL: local.openAIBaseUrl,
        maxRetries: 0,
        fetch: spec.fetch,
      });

      const attempt = stranger.chat.completions.create({
        model: MODEL,
        messages: [{ role: 'user', content: 'x' }],
      });

      await expect(attempt).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
      await expect(attempt).rejects.toMatchObject({ status: 401, code: 'invalid_api_key' });
    });

    it('raises BadRequestError naming the parameter for a bad body', async () => {
      const attempt = openai.chat.completions.create({
        model: MODEL,
        messages: [{ role: 'user', content: 'x' }],
        temperature: 7,
      });

      await expect(attempt).rejects.toBeInstanceOf(OpenAI.BadRequestError);
      await expect(attempt).rejects.toMatchObject({
        status: 400,
        param: 'temperature',
        type: 'invalid_request_error',
      });
    });

    it('refuses a parameter the backend cannot honour, naming it', async () => {
      const attempt = openai.chat.completions.create({
        model: MODEL,
        messages: [{ role: 'user', content: 'x' }],
        tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }],
      });

      await expect(attempt).rejects.toMatchObject({
        status: 400,
        param: 'tools',
        code: 'unsupported_parameter',
      });
    });

    it('refuses max_completion_tokens above the model maximum', async () => {
      const attempt = openai.chat.completions.create({
        model: MODEL,
        messages: [{ role: 'user', content: 'x' }],
        max_completion_tokens: 1_000_000,
      });

      await expect(attempt).rejects.toMatchObject({ status: 400, param: 'max_completion_tokens' });
    });

    it('raises NotFoundError for an unknown model', async () => {
      const attempt = openai.chat.completions.create({
        model: 'gpt-9',
        messages: [{ role: 'user', content: 'x' }],
      });

      await expect(attempt).rejects.toBeInstanceOf(OpenAI.NotFoundError);
      await expect(attempt).rejects.toMatchObject({ code: 'model_not_found', param: 'model' });
    });

    it('raises PermissionDeniedError when a Free key asks for an Enterprise-only model', async () => {
      const free = new OpenAI({
        apiKey: keys.free,
        baseURL: local.openAIBaseUrl,
        maxRetries: 0,
        fetch: spec.fetch,
      });

      const attempt = free.chat.completions.create({
        model: ENTERPRISE_ONLY,
        messages: [{ role: 'user', content: 'x' }],
      });

      await expect(attempt).rejects.toBeInstanceOf(OpenAI.PermissionDeniedError);
      await expect(attempt).rejects.toMatchObject({
        status: 403,
        code: 'model_not_available_on_tier',
      });
    });
  });

  describe('groq-sdk', () => {
    it('answers a chat completion through /openai/v1', async () => {
      const completion = await groq.chat.completions.create({
        model: MODEL,
        messages: [{ role: 'user', content: 'Hi Groq' }],
      });

      expect(completion.choices[0]?.message.content).toContain('You said: "Hi Groq"');
      expect(completion.usage?.completion_tokens).toBe(12);
    });

    it('streams usage where groq-sdk reads it (x_groq.usage on the finish chunk), without include_usage', async () => {
      const stream = await groq.chat.completions.create({
        model: MODEL,
        messages: [{ role: 'user', content: 'Stream Groq' }],
        stream: true,
      });
      const chunks = [];
      for await (const chunk of stream) chunks.push(chunk);

      const finish = chunks.at(-1);
      expect(finish?.choices[0]?.finish_reason).toBe('stop');
      expect(finish?.x_groq?.usage).toMatchObject({ completion_tokens: 12 });
      expect(chunks.every((c) => c.choices.length === 1)).toBe(true);
    });

    it('streams with include_usage', async () => {
      const stream = await groq.chat.completions.create({
        model: MODEL,
        messages: [{ role: 'user', content: 'Stream Groq' }],
        stream: true,
        // groq-sdk 1.6's types lack `stream_options`; the request field is what matters.
        ...({ stream_options: { include_usage: true } } as object),
      });
      let content = '';
      let usage: unknown;
      for await (const chunk of stream) {
        content += chunk.choices[0]?.delta.content ?? '';
        // The usage-only chunk is OpenAI's shape, outside groq-sdk's chunk type.
        const openAIUsage = (chunk as { usage?: unknown }).usage;
        if (openAIUsage) usage = openAIUsage;
      }

      expect(content).toContain('You said: "Stream Groq"');
      expect(usage).toMatchObject({ completion_tokens: 12 });
    });

    it('lists models', async () => {
      const models = await groq.models.list();

      expect(models.data.map((m) => m.id).sort()).toEqual(
        [
          ...Object.keys(config.tiers.developer.models),
          ...Object.keys(config.tiers.developer.speechToText),
        ].sort(),
      );
    });

    it('raises its AuthenticationError, BadRequestError, NotFoundError and PermissionDeniedError', async () => {
      const stranger = new Groq({
        apiKey: 'tl_nope',
        baseURL: local.url,
        maxRetries: 0,
        fetch: spec.fetch,
      });
      const free = new Groq({
        apiKey: keys.free,
        baseURL: local.url,
        maxRetries: 0,
        fetch: spec.fetch,
      });
      const message = [{ role: 'user' as const, content: 'x' }];

      await expect(
        stranger.chat.completions.create({ model: MODEL, messages: message }),
      ).rejects.toBeInstanceOf(Groq.AuthenticationError);
      await expect(
        groq.chat.completions.create({
          model: MODEL,
          messages: [{ role: 'user', content: 42 as unknown as string }],
        }),
      ).rejects.toMatchObject({ status: 400, error: { error: { param: 'messages[0].content' } } });
      await expect(
        groq.chat.completions.create({ model: 'nope', messages: message }),
      ).rejects.toBeInstanceOf(Groq.NotFoundError);
      await expect(
        free.chat.completions.create({ model: ENTERPRISE_ONLY, messages: message }),
      ).rejects.toBeInstanceOf(Groq.PermissionDeniedError);
    });
  });

  describe('plain HTTP', () => {
    it('publishes the plans without a key', async () => {
      const response = await spec.fetch(`${local.openAIBaseUrl}/plans`);
      const plans = (await response.json()) as { data: { id: string }[] };

      expect(response.status).toBe(200);
      expect(plans.data.map((p) => p.id)).toEqual(['free', 'developer', 'enterprise']);
    });

    it('answers a body that is not JSON with 400 and a too large body with 413, in the OpenAI shape', async () => {
      const post = (body: string) =>
        spec.fetch(`${local.openAIBaseUrl}/chat/completions`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${keys.developer}`,
            'content-type': 'application/json',
          },
          body,
        });

      const notJson = await post('{"model":');
      const tooLarge = await post(
        JSON.stringify({
          model: MODEL,
          messages: [{ role: 'user', content: 'x'.repeat(7 * 1024 * 1024) }],
        }),
      );

      expect(notJson.status).toBe(400);
      expect(((await notJson.json()) as { error: { type: string } }).error.type).toBe(
        'invalid_request_error',
      );
      expect(tooLarge.status).toBe(413);
      expect(((await tooLarge.json()) as { error: { code: string } }).error.code).toBe(
        'request_too_large',
      );
    });

    it('answers an unknown route with 404 unknown_url', async () => {
      const response = await spec.fetch(`${local.openAIBaseUrl}/nope`, {
        headers: { authorization: `Bearer ${keys.developer}` },
      });

      expect(response.status).toBe(404);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe(
        'unknown_url',
      );
    });
  });

  describe('usage plan emulation', () => {
    /** Free customers until two share a pool key that the demo Free customer (other tests') does not. */
    const twoOnOnePoolKey = async () => {
      const demo = local.demoCustomers.find((d) => d.tier === 'free');
      const demoKey = (await local.operator.getCustomer(demo?.customerId ?? '')).sharedUsageKey;
      const byKey = new Map<string, string[]>();
      for (let i = 0; i < 40; i += 1) {
        const { apiKey, customer } = await local.operator.createCustomer({
          name: `Burst ${i}`,
          email: `burst${i}@test.local`,
          tier: 'free',
        });
        const shared = customer.sharedUsageKey ?? '';
        if (shared === demoKey || !apiKey) continue;
        byKey.set(shared, [...(byKey.get(shared) ?? []), apiKey]);
        const group = [...byKey.values()].find((keys) => keys.length >= 2);
        const other = [...byKey.values()].find((keys) => keys !== group)?.[0];
        if (group && other) return { group, other };
      }
      throw new Error('no two of 40 Free customers share a pool key of 4');
    };

    it("throttles a pool key beyond its plan's burst, across the Free customers on it, with 429 and retry-after", async () => {
      const { group, other } = await twoOnOnePoolKey();
      const clients = group.map(
        (apiKey) =>
          new OpenAI({ apiKey, baseURL: local.openAIBaseUrl, maxRetries: 0, fetch: spec.fetch }),
      );
      const pool = config.tiers.free.edgePool;
      if (!pool) throw new Error('this test needs a Free key pool');
      const { burstLimit: burst, rateLimit } = pool;

      const started = Date.now();
      // Alternating between the two customers: they draw on one bucket.
      const results = await Promise.allSettled(
        Array.from({ length: burst + 5 }, (_, i) => clients[i % 2]?.models.list()),
      );
      const elapsedSeconds = (Date.now() - started) / 1000;

      // A token bucket: the burst at once, plus what the rate refilled while the requests were
      // arriving (none on an idle machine; a loaded one spreads them over a second or more).
      const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      const accepted = results.length - rejected.length;
      expect(accepted).toBeGreaterThanOrEqual(burst);
      expect(accepted).toBeLessThanOrEqual(burst + Math.ceil(rateLimit * elapsedSeconds));
      expect(rejected.length).toBeGreaterThan(0);
      expect(rejected[0]?.reason).toBeInstanceOf(OpenAI.RateLimitError);
      expect(rejected[0]?.reason).toMatchObject({ status: 429, code: 'rate_limit_exceeded' });
      expect(rejected[0]?.reason.headers.get('retry-after')).toMatch(/^\d+$/);
      // A Free customer on another pool key has a bucket of its group's own.
      const elsewhere = new OpenAI({
        apiKey: other,
        baseURL: local.openAIBaseUrl,
        maxRetries: 0,
        fetch: spec.fetch,
      });
      await expect(elsewhere.models.list()).resolves.toBeDefined();
    });

    it('stops a revoked key once the cached authorizer decision expires, as API Gateway does', async () => {
      // Developer: a key of its own, whose bucket the burst above (on a Free pool key) left full.
      const { apiKey, customer } = await local.operator.createCustomer({
        name: 'Gone',
        email: 'gone@test.local',
        tier: 'developer',
      });
      const client = new OpenAI({
        apiKey,
        baseURL: local.openAIBaseUrl,
        maxRetries: 0,
        fetch: spec.fetch,
      });
      clock.heldAt = Date.now();
      try {
        await client.models.list();

        await local.operator.revoke(customer.customerId);
        // Within the TTL however long the revocation took: the clock has not moved.
        await expect(client.models.list()).resolves.toBeDefined();
        clock.heldAt += AUTHORIZER_CACHE_MS;
        await expect(client.models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
      } finally {
        clock.aheadMs = Math.max(0, clock.heldAt - Date.now());
        clock.heldAt = undefined;
      }
    });
  });
});
