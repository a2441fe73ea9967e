import OpenAI from 'openai';
import { TestModelBackend } from '../../lambda/inference/backends/test-model-backend';
import { PromptTokenCounter } from '../../lambda/inference/prompt-tokens';
import { loadConfig } from '../../lib/config/load';
import { type LocalMode, startLocalMode } from '../../local/local-mode';

/**
 * Prompts of 2,000 rare CJK characters, 1,000 emoji and "0 1 2 ..." on the 6,000-TPM Free model, 10
 * at once, against an upstream that counts with the real tokenizer: a characters/4 estimate
 * admitted 10x, 6.7x and 3.4x the TPM. Counted with the model's tokenizer at admission, the minute
 * holds what it allows.
 */
const MODEL = 'qwen3-8b';
const config = loadConfig({
  env: 'dev',
  overrides: { tiers: { free: { edge: { rateLimit: 1_000, burstLimit: 1_000 } } } },
});
const TPM = config.tiers.free.models[MODEL]?.tpm as number;
const counter = new PromptTokenCounter(config);
const digits = Array.from({ length: 1_000 }, (_, i) => String(i % 10)).join(' ');

describe('prompt tokens counted with the real tokenizer at admission', () => {
  let local: LocalMode;
  // One minute for the whole test: the clock stands still, so no request lands in a fresh minute.
  const now = new Date('2026-06-01T10:00:05.000Z');

  beforeAll(async () => {
    await counter.warmUp();
    local = await startLocalMode({
      config,
      port: 0,
      now: () => now,
      backend: new TestModelBackend({
        replyTokens: 5,
        promptTokens: (model, messages) => counter.count(model, messages),
      }),
    });
  }, 60_000);
  afterAll(() => local.stop());

  it.each([
    ['2,000 rare CJK characters', '龘'.repeat(2_000)],
    ['1,000 emoji', '😀'.repeat(1_000)],
    ['"0 1 2 ..." digits', digits],
  ])('admits no more than the TPM of %s, 10 at once', async (label, content) => {
    const { apiKey } = await local.operator.createCustomer({
      name: label,
      email: `${label.length}-${content.length}@tokens.test`,
      tier: 'free',
    });
    const openai = new OpenAI({
      apiKey: apiKey as string,
      baseURL: local.openAIBaseUrl,
      maxRetries: 0,
    });
    const real = await counter.count(MODEL, [{ role: 'user', content }]);

    const results = await Promise.allSettled(
      Array.from({ length: 10 }, () =>
        openai.chat.completions.create({
          model: MODEL,
          messages: [{ role: 'user', content }],
          max_completion_tokens: 5,
        }),
      ),
    );

    const admitted = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const used = admitted.reduce((sum, c) => sum + (c.usage?.total_tokens ?? 0), 0);
    expect(real).toBeGreaterThan(content.length / 4 + 500); // far above the old characters/4 estimate
    expect(admitted.length).toBe(Math.floor(TPM / (real + 5)));
    expect(used).toBeLessThanOrEqual(TPM);
    for (const r of results) {
      if (r.status === 'rejected')
        expect(r.reason).toMatchObject({ status: 429, code: 'rate_limit_exceeded' });
    }
  });
});
