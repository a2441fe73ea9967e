import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import OpenAI from 'openai';
import { TestModelBackend } from '../../lambda/inference/backends/test-model-backend';
import { usagePartition } from '../../lambda/metering/ledger';
import { loadConfig } from '../../lib/config/load';
import { LOCAL_METERING_TABLE, type LocalMode, startLocalMode } from '../../local/local-mode';
import { localModeDocumentClient } from '../support/dynalite';

/**
 * Local mode, end to end over HTTP: a Free customer upgrades through the embedded provider's
 * checkout page, makes requests with the official client, its usage reaches the provider (the
 * $1 threshold cuts an invoice), it downgrades and the period's end cuts the final invoice and
 * moves it back to Free. Invoiced = the ledger, to the µ$.
 */
const MODEL = 'qwen3-8b';
// Prices high enough for a few requests to pass the $1 threshold: $0.02 a token.
const config = loadConfig({
  env: 'dev',
  overrides: {
    tiers: {
      developer: {
        models: { [MODEL]: { inputUsdPerMillion: 20_000, outputUsdPerMillion: 20_000 } },
      },
    },
  },
});

describe('upgrade, usage and downgrade in local mode', () => {
  let local: LocalMode;
  let clock = Date.parse('2026-06-10T10:00:05.000Z');

  beforeAll(async () => {
    local = await startLocalMode({
      config,
      port: 0,
      now: () => new Date(clock),
      authorizerCacheTtlMs: 0,
      backend: new TestModelBackend({ replyTokens: 5 }),
    });
  }, 60_000);
  afterAll(() => local?.stop());

  it('Free -> Developer through the checkout page, billed exactly, back to Free with a final invoice', async () => {
    const { customer, apiKey } = await local.operator.createCustomer({
      name: 'Upgrader',
      email: 'upgrader@billing.test',
      tier: 'free',
    });
    const { customerId } = customer;
    const session = await local.billing.service.startUpgrade(
      { customerId, tier: 'free' },
      { successUrl: `${local.url}/?billing=done`, cancelUrl: `${local.url}/` },
    );
    const form = await fetch(session.url);
    expect(form.status).toBe(200);
    expect(await form.text()).toContain('Save payment method');
    const saved = await fetch(session.url, { method: 'POST', redirect: 'manual' });
    expect(saved.status).toBe(303);
    expect(saved.headers.get('location')).toBe(`${local.url}/?billing=done`);
    expect((await local.operator.getCustomer(customerId)).tier).toBe('developer');
    // A second save (a double click, a replayed delivery) changes nothing.
    expect((await fetch(session.url, { method: 'POST', redirect: 'manual' })).status).toBe(303);
    expect((await fetch(`${local.url}/billing/checkout/emb_cs_${'0'.repeat(32)}`)).status).toBe(
      404,
    );

    const openai = new OpenAI({
      apiKey: apiKey as string,
      baseURL: local.openAIBaseUrl,
      maxRetries: 0,
    });
    const ask = () =>
      openai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] });
    for (let i = 0; i < 5; i += 1) await ask();

    // Two hours later the hour is closed: the sender reports it and the $1 threshold invoices it.
    clock = Date.parse('2026-06-10T12:00:00.000Z');
    await local.billing.run();
    const account = await local.billing.accounts.get(customerId);
    if (!account) throw new Error('no billing account after the upgrade');
    const invoicesAfterThreshold = await local.billing.provider.listInvoices(account);
    expect(invoicesAfterThreshold.map((invoice) => invoice.reason)).toEqual(['threshold:1']);

    clock = Date.parse('2026-06-20T09:00:05.000Z');
    for (let i = 0; i < 2; i += 1) await ask();
    await local.billing.service.requestDowngrade(customerId);
    // The period (the month) ends; the final invoice and the move to Free follow its last hour.
    clock = Date.parse('2026-07-01T01:30:00.000Z');
    // Twenty days to settle, 48 hours a run: the final invoice waits for the last hour.
    for (let run = 0; run < 12; run += 1) await local.billing.run();
    expect((await local.operator.getCustomer(customerId)).tier).toBe('free');
    expect((await local.billing.accounts.get(customerId))?.status).toBe('closed');

    const invoices = await local.billing.provider.listInvoices(account);
    expect(invoices.map((invoice) => invoice.reason).sort()).toEqual(['final', 'threshold:1']);
    const invoiced = invoices.reduce((sum, invoice) => sum + invoice.totalMicroUsd, 0);
    const doc = localModeDocumentClient(local.dynamoEndpoint);
    let ledger = 0;
    for (const day of ['2026-06-10', '2026-06-20']) {
      const { Items = [] } = await doc.send(
        new QueryCommand({
          TableName: LOCAL_METERING_TABLE,
          IndexName: 'byCustomerDay',
          KeyConditionExpression: 'gsi1pk = :pk',
          ExpressionAttributeValues: { ':pk': usagePartition(customerId, day) },
        }),
      );
      for (const item of Items) ledger += Number(item.costMicroUsd);
    }
    doc.destroy();
    expect(ledger).toBeGreaterThan(1_500_000);
    expect(invoiced).toBe(ledger);
  }, 120_000);
});
