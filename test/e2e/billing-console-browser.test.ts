import OpenAI from 'openai';
import { type Browser, chromium, type Page } from 'playwright-core';
import { TestModelBackend } from '../../lambda/inference/backends/test-model-backend';
import { loadConfig } from '../../lib/config/load';
import { type LocalMode, startLocalMode } from '../../local/local-mode';
import { CHROMIUM, expectText, LAPTOP, requireChromium } from '../support/console-browser';

/**
 * The Done-when of pay-per-token billing, in a real Chromium against local mode: a Free user opens
 * the Billing page, upgrades through the embedded provider's checkout page, makes requests with
 * the official client and sees the running total rise, downgrades, and once the period ends sees
 * the final invoice beside the threshold invoice.
 */
const MODEL = 'qwen3-8b';
// $0.02 a token: a few requests pass the $1 threshold.
const config = loadConfig({
  env: 'dev',
  overrides: {
    // Usage tiers on: the $1 threshold invoice, once paid, reaches the first.
    billing: {
      usageTiers: [
        { name: 'Tier 1', minPaidUsd: 1, minDaysSinceFirstPayment: 0, limitMultiplier: 2 },
        { name: 'Tier 2', minPaidUsd: 100, minDaysSinceFirstPayment: 30, limitMultiplier: 4 },
      ],
    },
    tiers: {
      // The page's own requests and the client's share one key's edge bucket, and a plan change
      // reaches the emulated gateway within 5 s: the Free bucket (burst 10) is not what this tests.
      free: { edge: { rateLimit: 50, burstLimit: 100 } },
      developer: {
        models: { [MODEL]: { inputUsdPerMillion: 20_000, outputUsdPerMillion: 20_000 } },
      },
    },
  },
});

requireChromium();

describe('the Billing page in Chromium', () => {
  let local: LocalMode;
  let browser: Browser;
  let page: Page;
  let clock = Date.parse('2026-06-10T10:00:05.000Z');
  const problems: string[] = [];

  beforeAll(async () => {
    local = await startLocalMode({
      config,
      port: 0,
      now: () => new Date(clock),
      authorizerCacheTtlMs: 0,
      // The test runs the sender itself, at the times it sets.
      billingIntervalMs: 3_600_000,
      backend: new TestModelBackend({ replyTokens: 5 }),
    });
    browser = await chromium.launch({ executablePath: CHROMIUM });
    page = await (await browser.newContext({ viewport: LAPTOP })).newPage();
    page.on('pageerror', (e) => problems.push(e.message));
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await local?.stop();
  });

  const runningTotal = async () =>
    Number(await page.getByTestId('running-total').getAttribute('data-exact'));
  const openBilling = async () => {
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'Billing' }).waitFor();
    await page.getByTestId('running-total').waitFor();
  };

  it('Free -> Developer through checkout, the running total rises, downgrade, final invoice', async () => {
    const { customer, apiKey } = await local.operator.createCustomer({
      name: 'Browser payer',
      email: 'payer@billing.test',
      tier: 'free',
    });
    // Billing is an owner's: the console signs in with the organization's admin key; requests
    // below use its project key.
    const admin = await local.operator.createAdminKey(customer.customerId, 'console');
    await page.goto(local.consoleUrl as string);
    await page.getByLabel('API key').fill(admin.key);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page
      .getByRole('navigation', { name: 'Console' })
      .getByRole('link', { name: 'Billing' })
      .click();
    await expectText(page.getByTestId('billing-status'), 'Free: no payment method on file.');
    await expectText(page.getByTestId('payment-method'), 'None');

    // The upgrade: the embedded provider's checkout page, then back to the Billing page.
    await page.getByRole('button', { name: 'Upgrade to Developer (add a payment method)' }).click();
    await page.getByRole('heading', { name: 'Upgrade to Developer' }).waitFor();
    expect(page.url()).toContain('/billing/checkout/emb_cs_');
    await page.getByRole('button', { name: 'Save payment method' }).click();
    await page.waitForURL(/#\/billing$/);
    await openBilling();
    await expectText(page.getByTestId('billing-status'), 'Developer, pay per token.');
    await expectText(page.getByTestId('payment-method'), 'test ending 4242');
    expect((await local.operator.getCustomer(customer.customerId)).tier).toBe('developer');
    expect(await runningTotal()).toBe(0);
    await expectText(page.getByTestId('next-threshold'), '$1.00');

    // Requests with the official client: the running total follows the ledger, request by request.
    // (The console's own requests count against the same key's gateway burst: the client retries
    // a 429 after its retry-after.)
    const openai = new OpenAI({
      apiKey: apiKey as string,
      baseURL: local.openAIBaseUrl,
      maxRetries: 3,
    });
    const ask = () =>
      openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] });
    await ask();
    await openBilling();
    const afterOne = await runningTotal();
    expect(afterOne).toBeGreaterThan(0);
    for (let i = 0; i < 4; i += 1) await ask();
    await openBilling();
    const afterFive = await runningTotal();
    expect(afterFive).toBeCloseTo(afterOne * 5, 6);
    await expectText(page.getByRole('table', { name: 'This month by model and kind' }), MODEL);

    // The hour closes: the sender reports it and the $1 threshold cuts an invoice.
    clock = Date.parse('2026-06-10T12:00:00.000Z');
    await local.billing.run();
    await openBilling();
    await expectText(page.getByTestId('invoices'), 'threshold:1');
    await expectText(page.getByTestId('next-threshold'), '$10.00');
    // The invoice is paid (the embedded provider's are): Tier 1, twice Developer's limits.
    await expectText(page.getByTestId('usage-tier'), "Tier 1: your limits are 2× Developer's.");
    await expectText(
      page.getByTestId('next-usage-tier'),
      'Next: Tier 2 (4× limits) after $100.00 paid in total and 30 days since your first payment.',
    );
    // ...and the key's limits are the tier's, as `/v1/limits` (the limiter's view) says.
    const limits = (await (
      await fetch(`${local.openAIBaseUrl}/limits`, {
        headers: { authorization: `Bearer ${apiKey}` },
      })
    ).json()) as { data: { model: string; requests_per_minute: { limit: number } }[] };
    expect(limits.data.find((m) => m.model === MODEL)?.requests_per_minute.limit).toBe(
      2 * (config.tiers.developer.models[MODEL]?.rpm ?? 0),
    );

    // The downgrade: Developer until the period's end, then the final invoice and Free.
    clock = Date.parse('2026-06-20T09:00:05.000Z');
    await ask();
    await ask();
    await page.getByRole('button', { name: 'Downgrade to Free at the end of the period' }).click();
    await expectText(page.getByTestId('billing-status'), 'Developer until the end of this period');
    clock = Date.parse('2026-07-01T01:30:00.000Z');
    for (let run = 0; run < 12; run += 1) await local.billing.run();
    await openBilling();
    await expectText(page.getByTestId('billing-status'), 'Free again');
    await expectText(page.getByTestId('invoices'), 'final');
    const invoiced = await page
      .getByTestId('invoices')
      .locator('tbody tr td:nth-child(3)')
      .evaluateAll((cells) => cells.map((cell) => Number(cell.getAttribute('title'))));
    // Everything billed is invoiced: June's usage, to the µ$ (both invoices together).
    expect(invoiced).toHaveLength(2);
    const juneTotal = afterFive + (afterFive / 5) * 2;
    expect(invoiced.reduce((a, b) => a + b, 0)).toBeCloseTo(juneTotal, 6);
    expect((await local.operator.getCustomer(customer.customerId)).tier).toBe('free');
    expect(problems).toEqual([]);
  }, 180_000);
});
