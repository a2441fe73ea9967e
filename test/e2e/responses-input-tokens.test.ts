import OpenAI from 'openai';
import { TestModelBackend } from '../../lambda/inference/backends/test-model-backend';
import { PromptTokenCounter, tokenizer } from '../../lambda/inference/prompt-tokens';
import { loadConfig } from '../../lib/config/load';
import { type LocalMode, startLocalMode } from '../../local/local-mode';
import { expectSpecCompliance, specCheckedFetch } from '../support/spec-check';
import { clearOfMinuteBoundary } from '../support/windows';

/**
 * `POST /v1/responses/input_tokens` metered over real HTTP with the official openai client: each
 * count is a request against the model's RPM (headers on every answer, 429 once spent), takes no
 * tokens, and an input past the context window is refused without counting all of it.
 */
const MODEL = 'qwen3-8b';
const LIMITS = { rpm: 3, rpd: 1_000, tpm: 20_000, tpd: 100_000 };
const config = loadConfig({
  env: 'dev',
  overrides: {
    tiers: { free: { models: { [MODEL]: LIMITS }, edge: { rateLimit: 1_000, burstLimit: 1_000 } } },
  },
});
const counter = new PromptTokenCounter(config);
const contextWindow = config.models[MODEL]?.contextWindow as number;

/**
 * The characters the model's tokenizer was given while `work` ran: server and client share this
 * process and its loaded tokenizer, so this shows how much of an input the gateway counted (a
 * measure of work that does not depend on the machine's load, as CPU time does).
 */
async function charactersCountedDuring<T>(work: () => Promise<T>): Promise<[T, number]> {
  const loaded = await tokenizer(config.models[MODEL]?.tokenizer ?? 'qwen3');
  const encode = loaded.encode.bind(loaded);
  let characters = 0;
  const spy = jest.spyOn(loaded, 'encode').mockImplementation((text, options) => {
    characters += text.length;
    return encode(text, options);
  });
  try {
    return [await work(), characters];
  } finally {
    spy.mockRestore();
  }
}

describe('input token counts, metered', () => {
  const spec = specCheckedFetch();
  afterEach(() => expectSpecCompliance(spec));

  let local: LocalMode;
  const client = async (name: string) => {
    const { apiKey } = await local.operator.createCustomer({
      name,
      email: `${name}@input-tokens.test`,
      tier: 'free',
    });
    return new OpenAI({ apiKey, baseURL: local.openAIBaseUrl, maxRetries: 0, fetch: spec.fetch });
  };

  beforeAll(async () => {
    local = await startLocalMode({
      config,
      port: 0,
      backend: new TestModelBackend({
        replyTokens: 12,
        tokensPerSecond: 500,
        promptTokens: (model, messages) => counter.count(model, messages),
      }),
      authorizerCacheTtlMs: 0,
    });
  });
  afterAll(() => local.stop());

  it("costs a request of the model's RPM and no tokens, and answers 429 once the RPM is spent", async () => {
    const openai = await client('counter');
    // The RPM counts in fixed UTC minutes: four requests across a boundary would all be admitted.
    await clearOfMinuteBoundary(10_000);
    const remaining: string[] = [];
    for (let i = 0; i < LIMITS.rpm; i++) {
      const { data, response } = await openai.responses.inputTokens
        .count({ model: MODEL, input: 'Tell me a joke.' })
        .withResponse();
      expect(data.input_tokens).toBe(
        await counter.count(MODEL, [{ role: 'user', content: 'Tell me a joke.' }]),
      );
      remaining.push(response.headers.get('x-ratelimit-remaining-requests') as string);
      expect(response.headers.get('x-ratelimit-remaining-tokens')).toBe(String(LIMITS.tpm));
    }
    expect(remaining).toEqual(['999', '998', '997']);

    const refused = await openai.responses.inputTokens
      .count({ model: MODEL, input: 'Tell me a joke.' })
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(OpenAI.RateLimitError);
    const error = refused as InstanceType<typeof OpenAI.RateLimitError>;
    expect(error.code).toBe('rate_limit_exceeded');
    expect(error.type).toBe('requests');
    expect(Number(error.headers?.get('retry-after'))).toBeGreaterThan(0);
    expect(error.headers?.get('x-ratelimit-remaining-requests')).toBe('997');
  });

  it('shares the RPM with responses: a count spends what a create would have had', async () => {
    const openai = await client('sharer');
    await clearOfMinuteBoundary(10_000);
    for (let i = 0; i < LIMITS.rpm; i++)
      await openai.responses.inputTokens.count({ model: MODEL, input: 'hi' });

    await expect(openai.responses.create({ model: MODEL, input: 'hi' })).rejects.toBeInstanceOf(
      OpenAI.RateLimitError,
    );
  });

  it('refuses an input past the context window with a 400 naming input, without counting it all', async () => {
    const openai = await client('huge');
    // About 800,000 tokens in 4 MB: counting all of it took seconds of the gateway's CPU.
    const input = 'The quick brown fox jumps over the lazy dog. '.repeat(90_000);

    const [refused, counted] = await charactersCountedDuring(() =>
      openai.responses.inputTokens.count({ model: MODEL, input }).catch((error: unknown) => error),
    );

    expect(refused).toBeInstanceOf(OpenAI.BadRequestError);
    const error = refused as InstanceType<typeof OpenAI.BadRequestError>;
    expect(error.code).toBe('context_length_exceeded');
    expect(error.param).toBe('input');
    expect(error.message).toContain(`maximum context length is ${contextWindow} tokens`);
    // Still a request counted, with its headers.
    expect(error.headers?.get('x-ratelimit-remaining-requests')).toBe('999');
    // Counting stopped soon past the window (a few characters a token), far short of the input
    // (counting all of it took about 2 s of CPU).
    expect(counted).toBeLessThan(input.length / 4);
  });

  it('counts what a create would send with truncation auto: the newest turns that fit', async () => {
    const openai = await client('truncating');
    const input = [
      // About 50,000 tokens: past the window alone.
      {
        role: 'user' as const,
        content: 'The quick brown fox jumps over the lazy dog. '.repeat(5_000),
      },
      { role: 'assistant' as const, content: 'Noted.' },
      { role: 'user' as const, content: 'Tell me a joke.' },
    ];

    const counted = await openai.responses.inputTokens.count({
      model: MODEL,
      input,
      truncation: 'auto',
    });
    const created = await openai.responses.create({ model: MODEL, input, truncation: 'auto' });

    expect(counted.input_tokens).toBeLessThanOrEqual(contextWindow);
    expect(counted.input_tokens).toBe(created.usage?.input_tokens);
    // The long first turn was dropped; the newer two fit.
    expect(counted.input_tokens).toBe(await counter.count(MODEL, input.slice(1)));
  });

  it('refuses a chat prompt past the context window without counting all of it', async () => {
    const openai = await client('chatter');
    // 4 MB without a space: one pre-token, which took 23 s of CPU to count whole.
    const content = 'abcdefghij'.repeat(400_000);

    const [refused, counted] = await charactersCountedDuring(() =>
      openai.chat.completions
        .create({ model: MODEL, messages: [{ role: 'user', content }] })
        .catch((error: unknown) => error),
    );

    expect(refused).toBeInstanceOf(OpenAI.BadRequestError);
    expect(refused).toMatchObject({ code: 'context_length_exceeded', param: 'messages' });
    expect((refused as Error).message).toContain(
      `However, the messages are more than ${contextWindow} tokens`,
    );
    // Refused before admission: no request of the RPM spent, and the headers say so.
    const headers = (refused as InstanceType<typeof OpenAI.BadRequestError>).headers;
    expect(headers?.get('x-ratelimit-remaining-requests')).toBe('1000');
    // Counting stopped soon past the window, far short of the 4 MB (23 s of CPU counted whole).
    expect(counted).toBeLessThan(content.length / 4);
  });
});
