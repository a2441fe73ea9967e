import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import OpenAI from 'openai';
import { runCli } from '../../cli/main';
import { TestModelBackend } from '../../lambda/inference/backends/test-model-backend';
import { loadConfig } from '../../lib/config/load';
import { LOCAL_METERING_TABLE, type LocalMode, startLocalMode } from '../../local/local-mode';
import { localModeDocumentClient } from '../support/dynalite';
import { clearOfUtcDayEnd } from '../support/windows';

const MODEL = 'qwen3-8b';
const config = loadConfig({ env: 'dev' });

describe('usage show / report / reconcile / recompute (against local mode)', () => {
  let local: LocalMode;
  const ids: Record<string, string> = {};
  let month: string;
  let today: string;

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
    // The requests and every reading of their day and month in one UTC day (the file runs for
    // seconds to tens of seconds; the CLI's default month is the real clock's).
    await clearOfUtcDayEnd(120_000);
    month = new Date().toISOString().slice(0, 7);
    today = new Date().toISOString().slice(0, 10);
    local = await startLocalMode({
      config,
      port: 0,
      backend: new TestModelBackend({ replyTokens: 6 }),
    });
    for (const tier of ['free', 'developer'] as const) {
      const { apiKey, customer } = await local.operator.createCustomer({
        name: `Usage ${tier}`,
        email: `${tier}@usage-cli.test`,
        tier,
      });
      ids[tier] = customer.customerId;
      const openai = new OpenAI({
        apiKey: apiKey as string,
        baseURL: local.openAIBaseUrl,
        maxRetries: 0,
      });
      for (let i = 0; i < (tier === 'free' ? 2 : 3); i++) {
        await openai.chat.completions.create({
          model: MODEL,
          messages: [{ role: 'user', content: 'hi' }],
        });
      }
    }
  }, 200_000);
  afterAll(() => local.stop());

  it("shows a customer's month per model and day, with its spend item, as text and JSON", async () => {
    const text = await cli('usage', 'show', ids.developer as string);
    const json = JSON.parse(
      (await cli('--json', 'usage', 'show', ids.developer as string, '--month', month)).out,
    );

    expect(text.code).toBe(0);
    expect(text.out).toContain(`${ids.developer}  Usage developer  (developer)  ${month}`);
    expect(json).toMatchObject({
      tier: 'developer',
      month,
      total: { requests: 3 },
      days: { [today]: { requests: 3 } },
    });
    expect(json.models[MODEL].requests).toBe(3);
    // Every paying request is settled on the spend item: it agrees with the aggregates.
    expect(json.spend.settled_usd).toBe(json.total.cost_usd);
  });

  it('reports a month per tier and model over every customer', async () => {
    const json = JSON.parse((await cli('--json', 'usage', 'report', '--month', month)).out);

    expect(json.tiers.free[MODEL].requests).toBeGreaterThanOrEqual(2);
    expect(json.tiers.developer[MODEL].requests).toBeGreaterThanOrEqual(3);
    expect(Number(json.total.cost_usd)).toBeGreaterThan(0);
  });

  it('reconciles the aggregates with the ledger, finds a damaged day, and recompute repairs it', async () => {
    const matching = await cli('usage', 'reconcile', ids.free as string);
    const doc = localModeDocumentClient(local.dynamoEndpoint);
    await doc.send(
      new UpdateCommand({
        TableName: LOCAL_METERING_TABLE,
        Key: { pk: `AGG#${ids.free}`, sk: `${today}#${MODEL}` },
        UpdateExpression: 'SET requests = :wrong',
        ExpressionAttributeValues: { ':wrong': 40 },
      }),
    );
    doc.destroy();

    const damaged = await cli('usage', 'reconcile', ids.free as string);
    const repaired = await cli('usage', 'recompute', ids.free as string, today);
    const after = await cli('--json', 'usage', 'reconcile', ids.free as string);

    expect(matching).toMatchObject({ code: 0 });
    expect(matching.out).toContain('They match.');
    expect(damaged.code).toBe(1);
    expect(damaged.out).toContain(`Differ on ${today}`);
    expect(repaired.code).toBe(0);
    expect(JSON.parse(after.out)).toMatchObject({
      aggregates: { requests: 2 },
      ledger: { requests: 2 },
      differing_days: [],
    });
  });

  it("customers show: the plan's limits per model, the spend limit and this month's usage, as text and JSON", async () => {
    const text = await cli('customers', 'show', ids.developer as string);
    const json = JSON.parse(
      (await cli('--json', 'customers', 'show', ids.developer as string)).out,
    );

    const tierLimits = config.tiers.developer.models[MODEL];
    expect(text.code).toBe(0);
    expect(text.out).toContain('limits per model (developer tier):');
    expect(text.out).toContain(
      `${MODEL.padEnd(28)} ${tierLimits?.rpm} RPM, ${tierLimits?.rpd} RPD, ${tierLimits?.tpm} TPM, ${tierLimits?.tpd} TPD`,
    );
    expect(text.out).toContain(`usage ${month}: 3 requests`);
    expect(json).toMatchObject({ customerId: ids.developer, tier: 'developer', status: 'active' });
    expect(json).not.toHaveProperty('keyHash');
    expect(json.plan.custom).toBe(false);
    expect(json.plan.models).toContainEqual({
      model: MODEL,
      requests_per_minute: tierLimits?.rpm,
      requests_per_day: tierLimits?.rpd,
      tokens_per_minute: tierLimits?.tpm,
      tokens_per_day: tierLimits?.tpd,
    });
    expect(json.spend_limit_usd).toBe(config.tiers.developer.spendLimit.defaultMonthlyUsd ?? null);
    expect(json.usage).toMatchObject({ month, total: { requests: 3 } });
    expect(json.usage.models[MODEL].requests).toBe(3);
    // The same figures `usage show` gives: one source, the aggregates and the spend item.
    const usage = JSON.parse((await cli('--json', 'usage', 'show', ids.developer as string)).out);
    expect(json.usage.total).toEqual(usage.total);
    expect(json.usage.spend.settled_usd).toBe(usage.spend.settled_usd);
    expect(Number(json.usage.total.cost_usd)).toBeGreaterThan(0);
  });

  it('refuses a bad month and an unknown customer', async () => {
    expect((await cli('usage', 'show', 'cus_nope')).code).toBe(3); // not_found
    expect((await cli('customers', 'show', 'cus_nope')).code).toBe(3);
    expect((await cli('customers', 'show', ids.free as string, '--month', '2026-13')).code).toBe(2);
    expect((await cli('usage', 'report', '--month', '2026-13')).code).toBe(2); // invalid_input
  });
});
