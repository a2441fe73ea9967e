import OpenAI from 'openai';
import { TestModelBackend } from '../../lambda/inference/backends/test-model-backend';
import { loadConfig } from '../../lib/config/load';
import { type LocalMode, startLocalMode } from '../../local/local-mode';
import { localClients } from '../support/local-clients';
import { clearOfMinuteBoundary } from '../support/windows';

/**
 * Spend limits and limits a client can use, end to end: local mode with API Gateway's authorizer
 * decision cache ON (60 s, longer than each test), driven by the official openai client. Developer
 * prices are raised so that one small request costs about $0.02, the figures these tests use.
 */
const MODEL = 'qwen3-8b';
const USD_PER_MILLION = 1_000; // 1,000 µ$ per token
const config = loadConfig({
  env: 'dev',
  overrides: {
    tiers: {
      free: { edge: { rateLimit: 1_000, burstLimit: 1_000 } },
      developer: {
        models: {
          [MODEL]: { inputUsdPerMillion: USD_PER_MILLION, outputUsdPerMillion: USD_PER_MILLION },
        },
        edge: { rateLimit: 1_000, burstLimit: 1_000 },
      },
    },
  },
});
const ask = {
  model: MODEL,
  messages: [{ role: 'user' as const, content: 'hello' }],
  max_completion_tokens: 12,
};

describe('spend limits and limits a client can use, seen by the openai client', () => {
  let local: LocalMode;
  // Not spec-checked: the global fetch, as the client's default.
  const clientFor = (apiKey: string) => localClients(local, fetch).openai(apiKey);
  const newCustomer = async (tier: 'free' | 'developer' | 'enterprise', name: string) => {
    const { apiKey, customer } = await local.operator.createCustomer({
      name,
      email: `${name}@limits.test`,
      tier,
    });
    // The spend limit is read and set with the customer's admin key: its inference key gets 403.
    const { key } = await local.operator.createAdminKey(customer.customerId, 'tests');
    adminKeyOf.set(apiKey as string, key);
    return { apiKey: apiKey as string, customerId: customer.customerId };
  };
  const adminKeyOf = new Map<string, string>();
  const spendView = async (apiKey: string) =>
    (await (
      await fetch(`${local.openAIBaseUrl}/spend_limit`, {
        headers: { authorization: `Bearer ${adminKeyOf.get(apiKey)}` },
      })
    ).json()) as { spent_usd: string; reserved_usd: string; monthly_limit_usd: number | null };

  beforeAll(async () => {
    local = await startLocalMode({
      config,
      port: 0,
      backend: new TestModelBackend({ replyTokens: 12, tokensPerSecond: 1_000 }),
      authorizerCacheTtlMs: 60_000,
    });
  });
  afterAll(() => local.stop());

  // Row 1: $0.059 spent without a limit, then `customers spend-limit <id> 0.02`: 3 more were
  // admitted.
  it('refuses the next request once the operator sets a limit below what was spent, cache or not', async () => {
    const { apiKey, customerId } = await newCustomer('developer', 'row1');
    const openai = clientFor(apiKey);
    // All six requests in one UTC month (it ends on a minute's end): the spend counted before
    // the limit is the month's the limit is held against.
    await clearOfMinuteBoundary(15_000);
    for (let i = 0; i < 3; i++) await openai.chat.completions.create(ask); // the authorizer decision is now cached
    const spentBefore = Number((await spendView(apiKey)).spent_usd);

    await local.operator.setSpendLimit(customerId, 0.02); // the CLI's path
    const results = await Promise.allSettled(
      [1, 2, 3].map(() => openai.chat.completions.create(ask)),
    );

    expect(spentBefore).toBeGreaterThan(0.05);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect((results[0] as PromiseRejectedResult).reason).toMatchObject({
      status: 429,
      code: 'insufficient_quota',
    });
    expect(Number((await spendView(apiKey)).spent_usd)).toBe(spentBefore);
  });

  // Row 2: `PUT /v1/spend_limit` $0.02, then 9 requests within the authorizer cache TTL: all 9
  // admitted.
  it('holds a limit set through the API for the requests within the authorizer cache TTL', async () => {
    const { apiKey } = await newCustomer('developer', 'row2');
    const openai = clientFor(apiKey);
    // The ten requests in one UTC month (it ends on a minute's end): one month's spend is held.
    await clearOfMinuteBoundary(15_000);
    await openai.chat.completions.create(ask); // cache the decision (no limit) first
    const put = await fetch(`${local.openAIBaseUrl}/spend_limit`, {
      method: 'PUT',
      headers: {
        authorization: `Bearer ${adminKeyOf.get(apiKey)}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ monthly_limit_usd: 0.1 }),
    });
    expect(put.status).toBe(200);

    const results: PromiseSettledResult<unknown>[] = [];
    for (let i = 0; i < 9; i++)
      results.push(...(await Promise.allSettled([openai.chat.completions.create(ask)])));

    const view = await spendView(apiKey);
    expect(results.filter((r) => r.status === 'rejected').length).toBeGreaterThan(0);
    expect(Number(view.spent_usd)).toBeLessThanOrEqual(0.1);
    expect(view).toMatchObject({ monthly_limit_usd: 0.1, reserved_usd: '0.000000' });
  });

  // Row 9: a custom plan with TPM 1,000 and a request without max_completion_tokens: 429 forever.
  it('admits a default request on a custom plan whose TPM cannot hold the default minimum output', async () => {
    const { apiKey, customerId } = await newCustomer('enterprise', 'row9');
    await local.operator.createCustomPlan(customerId, {
      rateLimit: 100,
      burstLimit: 100,
      models: { [MODEL]: { rpm: 100, rpd: 10_000, tpm: 1_000, tpd: 1_000_000 } },
    });
    const openai = clientFor(apiKey);

    const completion = await openai.chat.completions.create({
      model: MODEL,
      messages: ask.messages,
    });

    expect(completion.choices[0]?.message.content).toBeTruthy();
  });

  // Row 10: a 125,007-token prompt on a 32,768-token model: 200 and billed.
  it('refuses a prompt larger than the context window with 400 context_length_exceeded, before reserving', async () => {
    const { apiKey } = await newCustomer('developer', 'row10');
    const openai = clientFor(apiKey);
    const huge = 'lorem ipsum dolor sit amet '.repeat(20_000);

    const error = await openai.chat.completions
      .create({ model: MODEL, messages: [{ role: 'user', content: huge }] })
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error).toMatchObject({
      status: 400,
      code: 'context_length_exceeded',
      param: 'messages',
    });
    expect((error as Error).message).toMatch(
      /maximum context length is 32768 tokens\. However, the messages are more than 32768 tokens/,
    );
    expect(await spendView(apiKey)).toMatchObject({
      spent_usd: '0.000000',
      reserved_usd: '0.000000',
    });
  });

  // Row 11: a Free request without max_completion_tokens that used 57 tokens:
  // x-ratelimit-remaining-tokens 0.
  it('answers x-ratelimit-remaining-tokens net of the tokens used, not of the reservation', async () => {
    const { apiKey } = await newCustomer('free', 'row11');
    const openai = clientFor(apiKey);
    const tpm = config.tiers.free.models[MODEL]?.tpm as number;

    const { data, response } = await openai.chat.completions
      .create({ model: MODEL, messages: ask.messages })
      .withResponse();
    const stream = await openai.chat.completions
      .create({ model: MODEL, messages: ask.messages, stream: true })
      .withResponse();
    for await (const _chunk of stream.data) {
      // drain
    }

    const used = data.usage?.total_tokens as number;
    expect(response.headers.get('x-ratelimit-remaining-tokens')).toBe(String(tpm - used));
    // A stream's headers go out before its output: they count the prompt, not the output it may
    // generate.
    expect(Number(stream.response.headers.get('x-ratelimit-remaining-tokens'))).toBeGreaterThan(
      tpm - used - 100,
    );
  });
});
