import OpenAI from 'openai';
import { runCli } from '../../cli/main';
import { TestModelBackend } from '../../lambda/inference/backends/test-model-backend';
import { formatUsd } from '../../lambda/metering/pricing';
import { loadConfig } from '../../lib/config/load';
import { defaultCostInputs, parseCostInputs } from '../../lib/costs/inputs';
import { usageCost } from '../../lib/costs/model';
import { type LocalMode, startLocalMode } from '../../local/local-mode';
import { clearOfUtcDayEnd } from '../support/windows';

const MODEL = 'qwen3-8b';
const config = loadConfig({ env: 'dev' });

describe('tierline billing (revenue per tier and month beside the cost to serve, against local mode)', () => {
  let local: LocalMode;
  let month: string;

  async function cli(...argv: string[]) {
    let out = '';
    let err = '';
    const code = await runCli(argv, {
      out: (t) => (out += t),
      err: (t) => (err += t),
      connect: async () => local.operator,
    });
    return { code, out, err };
  }

  beforeAll(async () => {
    // The requests and every reading of their month in one UTC day (the file runs for
    // seconds to tens of seconds; the CLI's default month is the real clock's).
    await clearOfUtcDayEnd(120_000);
    month = new Date().toISOString().slice(0, 7);
    local = await startLocalMode({
      config,
      port: 0,
      backend: new TestModelBackend({ replyTokens: 6 }),
    });
    for (const tier of ['free', 'developer'] as const) {
      const { apiKey } = await local.operator.createCustomer({
        name: `Billing ${tier}`,
        email: `${tier}@billing-cli.test`,
        tier,
      });
      const openai = new OpenAI({
        apiKey: apiKey as string,
        baseURL: local.openAIBaseUrl,
        maxRetries: 0,
      });
      for (let i = 0; i < (tier === 'free' ? 2 : 4); i++) {
        await openai.chat.completions.create({
          model: MODEL,
          messages: [{ role: 'user', content: 'hi' }],
        });
      }
    }
  }, 200_000);
  afterAll(() => local.stop());

  it('gives each tier its ledger revenue and the costs model figure of the same usage', async () => {
    const usage = JSON.parse((await cli('--json', 'usage', 'report', '--month', month)).out);
    const result = await cli('--json', 'billing', '--from', month, '--to', month);
    expect(result.code).toBe(0);
    const { months, rows } = JSON.parse(result.out);
    expect(months).toEqual([month]);
    const developer = rows.find((r: { tier: string }) => r.tier === 'developer');
    const line = usage.tiers.developer[MODEL];
    // Revenue: exactly what the ledger's aggregates hold for the tier.
    expect(developer).toMatchObject({ month, requests: line.requests, revenue_usd: line.cost_usd });
    // Cost: `tierline costs`' model of exactly this usage (GPU at the inputs' utilization + gateway).
    const cost = usageCost(config, parseCostInputs({ ...defaultCostInputs }), MODEL, {
      requests: line.requests,
      inputTokens: line.input_tokens,
      outputTokens: line.output_tokens,
    }).total;
    expect(Number(developer.cost_usd)).toBeCloseTo(cost, 6);
    const revenue = Number(line.cost_usd);
    expect(developer.margin_percent).toBeCloseTo(((revenue - cost) / revenue) * 100, 1);
    // Free earns nothing and still costs: no margin to speak of.
    const free = rows.find((r: { tier: string }) => r.tier === 'free');
    expect(free).toMatchObject({ revenue_usd: formatUsd(0), margin_percent: null });
    expect(Number(free.cost_usd)).toBeGreaterThan(0);

    const text = await cli('billing');
    expect(text.out).toContain('Revenue per tier and month');
    expect(text.out).toMatch(
      new RegExp(`${month}\\s+developer\\s+${line.requests}\\s+\\$${line.cost_usd}`),
    );
  });

  it('refuses a range that runs backwards or is not months', async () => {
    expect((await cli('billing', '--from', '2026-05', '--to', '2026-04')).code).toBe(2);
    expect((await cli('billing', '--from', '2026-13')).code).toBe(2);
  });
});
