import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import Stripe from 'stripe';
import { createStripeClient } from '../../../lambda/billing/stripe-provider';
import { STRIPE_MOCK_VERSION, type StripeMock, startStripeMock } from '../../support/stripe-mock';

describe('the stripe-mock helper', () => {
  let mock: StripeMock;
  beforeAll(async () => {
    mock = await startStripeMock();
  });
  afterAll(async () => mock?.stop());

  it('pins the same stripe-mock version as .ci/stripe-mock, which installs it', () => {
    const ci = readFileSync(path.join(__dirname, '..', '..', '..', '.ci', 'stripe-mock'), 'utf8');
    expect(ci).toContain(`STRIPE_MOCK_VERSION=${STRIPE_MOCK_VERSION}\n`);
  });

  it('records what the SDK sent, and stripe-mock refuses a request its spec does not allow', async () => {
    const stripe = createStripeClient('sk_test_123', {
      host: mock.host,
      port: mock.port,
      protocol: 'http',
    });
    const customer = await stripe.customers.create(
      { email: 'a@example.com', metadata: { organization: 'org_1' } },
      { idempotencyKey: 'customer-org_1' },
    );
    expect(customer.object).toBe('customer');
    expect(mock.requests.at(-1)).toEqual({
      method: 'POST',
      path: '/v1/customers',
      params: { email: 'a@example.com', 'metadata[organization]': 'org_1' },
      idempotencyKey: 'customer-org_1',
      status: 200,
    });
    // A meter event without its event name breaks Stripe's spec: stripe-mock answers 400.
    await expect(
      stripe.billing.meterEvents.create({ payload: { value: '1' } } as never),
    ).rejects.toThrow(/event_name/);
    expect(mock.requests.at(-1)?.status).toBe(400);
  });

  it("refuses a Stripe-Version other than its spec's: the provider's pin is the spec's", async () => {
    const sdkDefault = new Stripe('sk_test_123', {
      host: mock.host,
      port: mock.port,
      protocol: 'http',
      maxNetworkRetries: 0,
    });
    await expect(sdkDefault.customers.create({})).rejects.toThrow(/version/i);
  });
});
