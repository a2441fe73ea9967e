import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import OpenAI from 'openai';
import { TestModelBackend } from '../../lambda/inference/backends/test-model-backend';
import { PromptTokenCounter } from '../../lambda/inference/prompt-tokens';
import { loadConfig } from '../../lib/config/load';
import { LOCAL_METERING_TABLE, type LocalMode, startLocalMode } from '../../local/local-mode';
import { localModeDocumentClient } from '../support/dynalite';
import { localClients } from '../support/local-clients';
import { expectSpecCompliance, specCheckedFetch } from '../support/spec-check';
import { clearOfMinuteBoundary } from '../support/windows';

/**
 * Metering end to end: local mode (dynalite) driven by the official openai client. Small limits for
 * the free 8B model make every limit reachable in a few requests; the edge throttle is raised out
 * of the way.
 */
const MODEL = 'qwen3-8b';
const LIMITS = { rpm: 4, rpd: 100, tpm: 2_000, tpd: 100_000 };
const config = loadConfig({
  env: 'dev',
  overrides: {
    tiers: {
      free: {
        models: { [MODEL]: LIMITS },
        edge: { rateLimit: 1_000, burstLimit: 1_000 },
      },
    },
  },
});
const counter = new PromptTokenCounter(config);
const ask = (content = 'hello') => ({
  model: MODEL,
  messages: [{ role: 'user' as const, content }],
});

async function eventually<T>(read: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await read();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error('timed out waiting');
}

describe('metering seen by the openai client', () => {
  // Every answer below is checked against OpenAI's and Tierline's published schemas.
  const spec = specCheckedFetch();
  afterEach(() => expectSpecCompliance(spec));

  let local: LocalMode;
  let doc: DynamoDBDocumentClient;
  const clientFor = (apiKey: string) => localClients(local, spec.fetch).openai(apiKey);
  const newCustomer = async (tier: 'free' | 'developer', name: string) =>
    local.operator.createCustomer({ name, email: `${name}@metering.test`, tier });

  beforeAll(async () => {
    local = await startLocalMode({
      config,
      port: 0,
      // Usage counted upstream with the same tokenizer as admission, as a real model server does.
      backend: new TestModelBackend({
        replyTokens: 12,
        tokensPerSecond: 200,
        promptTokens: (model, messages) => counter.count(model, messages),
      }),
      // No authorizer decision cache: a spend limit set through the API applies to the next
      // request.
      authorizerCacheTtlMs: 0,
    });
    doc = localModeDocumentClient(local.dynamoEndpoint);
  });
  afterAll(async () => {
    doc.destroy();
    await local.stop();
  });

  it('sends the six x-ratelimit headers with true values', async () => {
    const { apiKey } = await newCustomer('free', 'headers');
    const openai = clientFor(apiKey as string);

    // Both requests in one fixed UTC minute (the limiter's token window): across a boundary the
    // second would see only its own reservation.
    await clearOfMinuteBoundary(10_000);
    const first = await openai.chat.completions.create(ask()).withResponse();
    const second = await openai.chat.completions.create(ask()).withResponse();

    const headers = second.response.headers;
    expect(headers.get('x-ratelimit-limit-requests')).toBe(String(LIMITS.rpd));
    expect(headers.get('x-ratelimit-limit-tokens')).toBe(String(LIMITS.tpm));
    expect(first.response.headers.get('x-ratelimit-remaining-requests')).toBe(
      String(LIMITS.rpd - 1),
    );
    expect(headers.get('x-ratelimit-remaining-requests')).toBe(String(LIMITS.rpd - 2));
    // After the first request settled, the minute holds its actual tokens plus the second's
    // reservation.
    const firstTokens = first.data.usage?.total_tokens ?? 0;
    expect(Number(headers.get('x-ratelimit-remaining-tokens'))).toBeLessThan(
      LIMITS.tpm - firstTokens,
    );
    expect(headers.get('x-ratelimit-reset-requests')).toMatch(/^(\d+h)?(\d+m)?[\d.]+m?s$/);
    expect(headers.get('x-ratelimit-reset-tokens')).toMatch(/^[\d.]+m?s$/);
  });

  it('answers the request past the RPM limit with 429 rate_limit_exceeded, a Groq-style message and retry-after', async () => {
    const { apiKey, customer } = await newCustomer('free', 'rpm');
    const openai = clientFor(apiKey as string);
    // The RPM counter is keyed by the UTC minute: start the run early in a minute, so a slow
    // machine does not carry it into the next one (where the limit has, rightly, room again).
    await clearOfMinuteBoundary(30_000);
    for (let i = 0; i < LIMITS.rpm; i += 1) await openai.chat.completions.create(ask());

    const error = await openai.chat.completions.create(ask()).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    const rateLimited = error as InstanceType<typeof OpenAI.RateLimitError>;
    expect(rateLimited.code).toBe('rate_limit_exceeded');
    expect(rateLimited.type).toBe('requests');
    expect(rateLimited.message).toContain(
      `Rate limit reached for model \`${MODEL}\` in organization \`${customer.customerId}\` on requests per minute (RPM): Limit ${LIMITS.rpm}, Used ${LIMITS.rpm}, Requested 1.`,
    );
    expect(rateLimited.message).toMatch(/Please try again in [\d.]+m?s\.$/);
    expect(Number(rateLimited.headers?.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(rateLimited.headers?.get('x-ratelimit-remaining-requests')).toBe(
      String(LIMITS.rpd - LIMITS.rpm),
    );
  }, 70_000);

  it('refuses a request larger than the TPM limit itself with 413', async () => {
    const { apiKey } = await newCustomer('free', 'toolarge');

    const error = await clientFor(apiKey as string)
      .chat.completions.create({ ...ask(), max_completion_tokens: LIMITS.tpm + 1 })
      .catch((e: InstanceType<typeof OpenAI.APIError>) => e);

    expect(error).toMatchObject({ status: 413, code: 'rate_limit_exceeded' });
    expect((error as Error).message).toContain('Request too large');
  });

  it('lets a default request use the tokens left in the minute, so admitted usage never passes TPM', async () => {
    const { apiKey } = await newCustomer('free', 'cap');
    const openai = clientFor(apiKey as string);
    // Both requests in one UTC minute: the second is held to what the first left of it.
    await clearOfMinuteBoundary(10_000);
    const stream = await openai.chat.completions.create({
      ...ask(),
      max_completion_tokens: 500,
      stream: true,
    });
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next(); // the first request holds 500+ tokens of the minute while it streams

    const capped = await openai.chat.completions.create(ask()).withResponse();

    // Admitted with the output allowance shrunk to what the minute had left; the headers count what
    // it used, beside the first request's reservation, which still holds the minute.
    expect(capped.data.choices[0]?.message.content).toBeTruthy();
    const remaining = Number(capped.response.headers.get('x-ratelimit-remaining-tokens'));
    expect(remaining).toBeGreaterThan(0);
    expect(remaining).toBeLessThanOrEqual(
      LIMITS.tpm - 500 - (capped.data.usage?.total_tokens ?? 0),
    );
    await iterator.return?.();
  });

  it('answers 429 on TPM rather than a truncated answer when less than the minimum output is left', async () => {
    const { apiKey } = await newCustomer('free', 'nofit');
    const openai = clientFor(apiKey as string);
    // Both requests in one UTC minute: the second is held to what the first left of it.
    await clearOfMinuteBoundary(10_000);
    const stream = await openai.chat.completions.create({
      ...ask(),
      max_completion_tokens: 1_900,
      stream: true,
    });
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next();

    const error = await openai.chat.completions.create(ask()).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect((error as Error).message).toContain('on tokens per minute (TPM): Limit 2000');
    expect((error as InstanceType<typeof OpenAI.RateLimitError>).type).toBe('tokens');
    await iterator.return?.();
  });

  it('writes one ledger record with the tokens streamed so far when the client disconnects, and releases the rest', async () => {
    const { apiKey, customer } = await newCustomer('free', 'disconnect');
    const openai = clientFor(apiKey as string);
    // Both requests in one UTC minute: the next one's headers count the cut stream's tokens.
    await clearOfMinuteBoundary(15_000);
    const stream = await openai.chat.completions.create({ ...ask(), stream: true });
    let received = 0;
    let requestId = '';

    for await (const chunk of stream) {
      requestId = chunk.id.replace(/^chatcmpl-/, '');
      received += 1;
      if (received === 4) break;
    }

    const record = await eventually(async () => {
      const { Item } = await doc.send(
        new GetCommand({
          TableName: LOCAL_METERING_TABLE,
          Key: { pk: `REQ#${requestId}`, sk: 'REQ' },
        }),
      );
      return Item;
    });
    expect(record).toMatchObject({
      customerId: customer.customerId,
      model: MODEL,
      status: 'client_disconnected',
    });
    expect(record.outputTokens).toBeGreaterThanOrEqual(4);
    // The record is written before the holds are settled (so a crash in between is billed once, by
    // the reconciler): the next request may arrive while the cut stream's hold is still being
    // settled.
    const next = await eventually(async () => {
      try {
        return await openai.chat.completions.create(ask()).withResponse();
      } catch (error) {
        if (error instanceof OpenAI.RateLimitError) return undefined;
        throw error;
      }
    });
    // The reservation of the cut stream was settled down to what it used.
    const usedThisMinute =
      LIMITS.tpm - Number(next.response.headers.get('x-ratelimit-remaining-tokens'));
    const nextReservation = usedThisMinute - (record.inputTokens + record.outputTokens);
    expect(nextReservation).toBeGreaterThan(0);
    expect(nextReservation).toBeLessThanOrEqual(
      LIMITS.tpm - record.inputTokens - record.outputTokens,
    );
  });

  it('blocks at the monthly spend limit with insufficient_quota and publishes 50/75/90% alerts once each', async () => {
    const { apiKey, customer } = await newCustomer('developer', 'spender');
    const openai = clientFor(apiKey as string);
    const { key: adminKey } = await local.operator.createAdminKey(customer.customerId, 'tests');
    const setLimit = await spec.fetch(`${local.openAIBaseUrl}/spend_limit`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ monthly_limit_usd: 0.00001 }), // 10 micro-USD: a handful of tiny requests
    });
    expect(setLimit.status).toBe(200);

    // Every request in one UTC month (it ends on a minute's end): they add up to one month's spend.
    await clearOfMinuteBoundary(15_000);
    let blocked: unknown;
    for (let i = 0; i < 20 && !blocked; i += 1) {
      await openai.chat.completions
        .create({ ...ask('x'), max_completion_tokens: 12 })
        .catch((e: unknown) => {
          blocked = e;
        });
    }

    expect(blocked).toBeInstanceOf(OpenAI.RateLimitError);
    expect(blocked).toMatchObject({ status: 429, code: 'insufficient_quota' });
    expect((blocked as Error).message).toContain('monthly spend limit of $0.000010');
    const alerts = local.events.filter((event) => event.customerId === customer.customerId);
    expect(alerts.map((a) => a.thresholdPercent)).toEqual([50, 75, 90]);
    const view = (await (
      await spec.fetch(`${local.openAIBaseUrl}/spend_limit`, {
        headers: { authorization: `Bearer ${adminKey}` },
      })
    ).json()) as { spent_usd: string };
    expect(view).toMatchObject({
      object: 'spend_limit',
      monthly_limit_usd: 0.00001,
      available: true,
    });
    expect(Number(view.spent_usd)).toBeLessThanOrEqual(0.00001);
  });

  it('reports usage per model and per day from the aggregates', async () => {
    const { apiKey } = await newCustomer('free', 'usage');
    const openai = clientFor(apiKey as string);
    // Both requests and the reads in one UTC day (it ends on a minute's end): one day's line.
    await clearOfMinuteBoundary(10_000);
    const completions = [
      await openai.chat.completions.create(ask()),
      await openai.chat.completions.create(ask()),
    ];

    const byModel = (await openai.get('/usage', { query: { group_by: 'model' } })) as {
      data: { model: string; requests: number; input_tokens: number; output_tokens: number }[];
    };
    const byDay = (await openai.get('/usage')) as { data: { date: string; requests: number }[] };

    expect(byModel.data).toEqual([
      expect.objectContaining({
        model: MODEL,
        requests: 2,
        input_tokens: completions.reduce((sum, c) => sum + (c.usage?.prompt_tokens ?? 0), 0),
        output_tokens: completions.reduce((sum, c) => sum + (c.usage?.completion_tokens ?? 0), 0),
      }),
    ]);
    expect(byDay.data).toEqual([
      expect.objectContaining({ date: new Date().toISOString().slice(0, 10), requests: 2 }),
    ]);
  });
});
