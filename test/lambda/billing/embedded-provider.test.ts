import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { BillingAccount, UsageEvent } from '../../../lambda/billing/billing-provider';
import { EmbeddedBillingProvider } from '../../../lambda/billing/embedded-provider';
import { type LocalDynamo, newMeteringTable, startDynalite } from '../../support/dynalite';

describe('EmbeddedBillingProvider on dynalite', () => {
  let dynamo: LocalDynamo;
  beforeAll(async () => {
    dynamo = await startDynalite();
  });
  afterAll(async () => dynamo?.stop());

  async function setUp() {
    const { doc, tableName } = await newMeteringTable(dynamo);
    const provider = new EmbeddedBillingProvider(doc, tableName, 'http://127.0.0.1:9999');
    const providerCustomerId = await provider.createCustomer({ customerId: 'cus_a' });
    const account: BillingAccount = { customerId: 'cus_a', providerCustomerId };
    return { provider, account, doc, tableName };
  }
  const event = (identifier: string, costMicroUsd: number): UsageEvent => ({
    identifier,
    projectId: 'default',
    model: 'llama-3.1-8b-instant',
    kind: 'online',
    hour: '2026-12-07T05:00:00.000Z',
    costMicroUsd,
  });

  it('keeps one usage event per identifier, however often it is sent', async () => {
    const { provider, account } = await setUp();
    expect(await provider.createCustomer({ customerId: 'cus_a' })).toBe(account.providerCustomerId);
    await provider.reportUsage(account, event('u1', 700_000));
    await provider.reportUsage(account, event('u1', 700_000));
    await provider.reportUsage(account, event('u2', 5));
    expect(await provider.uninvoicedMicroUsd(account)).toBe(700_005);
  });

  it('invoices once per key, and a rerun after a crash mid-marking finishes the same invoice', async () => {
    const { provider, account, doc, tableName } = await setUp();
    await provider.reportUsage(account, event('u1', 600_000));
    await provider.reportUsage(account, event('u2', 400_001));
    // A crash after marking u1 only: the rerun marks u2 and writes one invoice of both.
    await doc.send(
      new UpdateCommand({
        TableName: tableName,
        Key: { pk: `EMB#USE#${account.providerCustomerId}`, sk: 'u1' },
        UpdateExpression: 'SET invoiceKey = :k',
        ExpressionAttributeValues: { ':k': 'threshold-1' },
      }),
    );
    await provider.invoiceNow(account, 'threshold-1', 'threshold:1');
    await provider.reportUsage(account, event('u3', 9));
    await provider.invoiceNow(account, 'threshold-1', 'threshold:1');
    const invoices = await provider.listInvoices(account);
    expect(invoices).toEqual([
      expect.objectContaining({ totalMicroUsd: 1_000_001, status: 'paid', reason: 'threshold:1' }),
    ]);
    expect(await provider.uninvoicedMicroUsd(account)).toBe(9);
  });

  it('completes a checkout session once', async () => {
    const { provider, account } = await setUp();
    const session = await provider.startCheckout({
      account,
      successUrl: 'http://127.0.0.1:9999/billing?done=1',
      cancelUrl: 'http://127.0.0.1:9999/billing',
    });
    expect(session.url).toBe(`http://127.0.0.1:9999/billing/checkout/${session.id}`);
    expect(await provider.completeCheckout(session.id)).toBe(true);
    expect(await provider.completeCheckout(session.id)).toBe(false);
    expect(await provider.completeCheckout('emb_cs_unknown')).toBe(false);
    expect((await provider.getCheckout(session.id))?.status).toBe('complete');
  });
});
