import type { BillingAccount } from '../../../lambda/billing/billing-provider';
import { createStripeClient, StripeBillingProvider } from '../../../lambda/billing/stripe-provider';
import {
  AUTOMATIC_IDEMPOTENCY_KEY,
  type StripeMock,
  startStripeMock,
} from '../../support/stripe-mock';

// stripe-mock checks each request against Stripe's OpenAPI spec and answers a fixture (it keeps no
// state): these tests assert the exact requests sent, and that the SDK accepted each answer.
describe('StripeBillingProvider against stripe-mock', () => {
  let mock: StripeMock;
  let provider: StripeBillingProvider;
  const account: BillingAccount = {
    customerId: 'cus_org1',
    providerCustomerId: 'cus_stripe1',
    subscriptionId: 'sub_1',
  };

  beforeAll(async () => {
    mock = await startStripeMock();
    const stripe = createStripeClient('sk_test_tierline', {
      host: mock.host,
      port: mock.port,
      protocol: 'http',
    });
    provider = new StripeBillingProvider(stripe, {
      meterEventName: 'tierline_usage',
      priceId: 'price_usage',
    });
  });
  afterAll(async () => mock?.stop());
  beforeEach(() => {
    mock.requests.length = 0;
  });

  it('creates the customer of an organization once, by idempotency key', async () => {
    const id = await provider.createCustomer({ customerId: 'cus_org1', email: 'o@example.com' });
    expect(id).toMatch(/^cus_/);
    expect(mock.requests).toEqual([
      {
        method: 'POST',
        path: '/v1/customers',
        params: { email: 'o@example.com', 'metadata[organization]': 'cus_org1' },
        idempotencyKey: 'tierline-customer-cus_org1',
        status: 200,
      },
    ]);
  });

  it('opens Checkout in setup mode: a payment method saved, nothing charged', async () => {
    const session = await provider.startCheckout({
      account,
      successUrl: 'https://console.example/billing?done=1',
      cancelUrl: 'https://console.example/billing',
    });
    expect(session.id).toMatch(/^cs_/);
    expect(mock.requests).toHaveLength(1);
    expect(mock.requests[0]).toMatchObject({
      method: 'POST',
      path: '/v1/checkout/sessions',
      params: {
        mode: 'setup',
        currency: 'usd',
        customer: 'cus_stripe1',
        success_url: 'https://console.example/billing?done=1',
        cancel_url: 'https://console.example/billing',
        'metadata[organization]': 'cus_org1',
        'setup_intent_data[metadata][organization]': 'cus_org1',
      },
      status: 200,
    });
  });

  it('subscribes to the metered price, paid by the payment method the setup saved', async () => {
    expect(await provider.subscribe(account, 'cus_org1', 'seti_1')).toMatch(/^sub_/);
    expect(mock.requests).toHaveLength(2);
    expect(mock.requests[0]).toMatchObject({
      method: 'GET',
      path: '/v1/setup_intents/seti_1',
      status: 200,
    });
    // stripe-mock's SetupIntent fixture has `payment_method: null`, so no default payment method
    // goes with this subscription; a real completed setup names one, sent as
    // `default_payment_method`.
    expect(mock.requests[1]).toEqual({
      method: 'POST',
      path: '/v1/subscriptions',
      params: {
        customer: 'cus_stripe1',
        'items[0][price]': 'price_usage',
        'metadata[organization]': 'cus_org1',
      },
      idempotencyKey: 'tierline-subscribe-cus_org1',
      status: 200,
    });
  });

  it('reports an hourly delta as one meter event: the identifier, the hour, the µ$ value', async () => {
    await provider.reportUsage(account, {
      identifier: 'tlu_abc',
      projectId: 'default',
      model: 'llama-3.1-8b-instant',
      kind: 'online',
      hour: '2026-12-07T05:00:00.000Z',
      costMicroUsd: 1_234_567,
    });
    expect(mock.requests).toEqual([
      {
        method: 'POST',
        path: '/v1/billing/meter_events',
        params: {
          event_name: 'tierline_usage',
          identifier: 'tlu_abc',
          timestamp: String(Date.parse('2026-12-07T05:00:00.000Z') / 1000),
          'payload[stripe_customer_id]': 'cus_stripe1',
          'payload[value]': '1234567',
          'payload[organization]': 'cus_org1',
          'payload[project]': 'default',
          'payload[model]': 'llama-3.1-8b-instant',
          'payload[kind]': 'online',
        },
        idempotencyKey: 'tierline-usage-tlu_abc',
        status: 200,
      },
    ]);
  });

  it('invoices at a threshold by resetting the billing cycle anchor, once per key', async () => {
    await provider.invoiceNow(account, 'cus_org1-threshold-10', 'threshold:10');
    expect(mock.requests).toEqual([
      {
        method: 'POST',
        path: '/v1/subscriptions/sub_1',
        params: {
          billing_cycle_anchor: 'now',
          proration_behavior: 'none',
          'metadata[last_cut]': 'threshold:10',
        },
        idempotencyKey: 'tierline-invoice-cus_org1-threshold-10',
        status: 200,
      },
    ]);
  });

  it('reads what is not invoiced yet from the upcoming invoice, in µ$', async () => {
    const amount = await provider.uninvoicedMicroUsd(account);
    expect(Number.isSafeInteger(amount)).toBe(true);
    expect(amount % 10_000).toBe(0);
    expect(mock.requests).toEqual([
      {
        method: 'POST',
        path: '/v1/invoices/create_preview',
        params: { customer: 'cus_stripe1', subscription: 'sub_1' },
        idempotencyKey: AUTOMATIC_IDEMPOTENCY_KEY,
        status: 200,
      },
    ]);
  });

  it('downgrades at the period end and lists invoices with their hosted pages', async () => {
    await provider.cancelAtPeriodEnd(account);
    const invoices = await provider.listInvoices(account);
    expect(invoices.length).toBeGreaterThan(0);
    expect(invoices[0]?.id).toMatch(/^in_/);
    expect(mock.requests).toEqual([
      {
        method: 'POST',
        path: '/v1/subscriptions/sub_1',
        params: { cancel_at_period_end: 'true' },
        idempotencyKey: AUTOMATIC_IDEMPOTENCY_KEY,
        status: 200,
      },
      {
        method: 'GET',
        path: '/v1/invoices',
        params: { customer: 'cus_stripe1', limit: '100' },
        status: 200,
      },
    ]);
  });

  it("reads the saved card's brand and last four digits for the Billing page", async () => {
    const card = await provider.paymentMethod(account);
    // stripe-mock's fixture card.
    expect(card).toEqual({ brand: expect.any(String), last4: expect.stringMatching(/^\d{4}$/) });
    expect(mock.requests).toEqual([
      {
        method: 'GET',
        path: '/v1/customers/cus_stripe1/payment_methods',
        params: { type: 'card', limit: '1' },
        status: 200,
      },
    ]);
  });

  it('does nothing for an account without a subscription', async () => {
    const bare: BillingAccount = { customerId: 'cus_org2', providerCustomerId: 'cus_stripe2' };
    await provider.invoiceNow(bare, 'k', 'final');
    await provider.cancelAtPeriodEnd(bare);
    expect(await provider.uninvoicedMicroUsd(bare)).toBe(0);
    expect(mock.requests).toEqual([]);
  });
});
