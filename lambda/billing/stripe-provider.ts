import Stripe from 'stripe';
import type {
  BillingAccount,
  BillingProvider,
  CheckoutSession,
  PaymentMethodSummary,
  ProviderInvoice,
  UsageEvent,
} from './billing-provider';

/**
 * The Stripe API version every request names (`Stripe-Version`): the one whose spec stripe-mock
 * v0.203.0 validates against (its bundled spec is 2026-08-26.dahlia; the tests run it with
 * `-strict-version-check`, which refuses any other). The SDK (23.1.0) defaults to 2026-10-28.endive
 * and types its parameters for that version; where the two differ for a call made here, the call
 * sends what dahlia takes (see `invoiceNow`). Move both together.
 */
export const STRIPE_API_VERSION = '2026-08-26.dahlia';

/** The Stripe client of the billing provider: the pinned API version, the SDK's retries. */
export function createStripeClient(
  secretKey: string,
  connection: { host?: string; port?: number; protocol?: 'http' | 'https' } = {},
): Stripe {
  return new Stripe(secretKey, {
    apiVersion: STRIPE_API_VERSION as Stripe.LatestApiVersion,
    // Retried with the same idempotency key (ours, or the SDK's own on a POST without one).
    maxNetworkRetries: 2,
    ...connection,
  });
}

const STATUSES: readonly ProviderInvoice['status'][] = [
  'draft',
  'open',
  'paid',
  'void',
  'uncollectible',
];
/** Stripe's invoice statuses today; one it adds later reads as `open` (owed, not settled). */
const invoiceStatus = (status: string | null): ProviderInvoice['status'] =>
  STATUSES.find((known) => known === status) ?? (status === null ? 'draft' : 'open');

/** Stripe amounts are in cents; the ledger's in µ$. */
const MICRO_USD_PER_CENT = 10_000;

export interface StripeBillingSettings {
  /**
   * The event name of the operator's Stripe meter (sum of `value`, customer in
   * `stripe_customer_id`). Its metered price charges 1 unit = 1 µ$: `unit_amount_decimal` 0.0001
   * (cents), so a meter event carries the ledger's integer µ$ and nothing is rounded before the
   * invoice.
   */
  meterEventName: string;
  /** The metered price of the Developer subscription (uses the meter above). */
  priceId: string;
}

/**
 * Stripe behind the billing interface (tested against stripe-mock with the exact requests
 * asserted: test/lambda/billing/stripe-provider.test.ts).
 *
 * - Usage: one billing meter event per hourly delta. Stripe enforces `identifier` uniqueness
 *   "within a rolling period of at least 24 hours" and takes a `timestamp` "within the past 35
 *   calendar days or up to 5 minutes in the future" (docs.stripe.com/api/billing/meter-event/create,
 *   the same text in stripe-node's MeterEventsResource.d.ts). So the sender (usage-sender.ts) resends
 *   a pending event only within 24 h of its first try and never sends an hour older than 35 days;
 *   the event's timestamp is its hour's start, so the usage lands in the period it belongs to.
 * - Invoices: the subscription invoices its metered usage at the end of each monthly period; a
 *   progressive threshold (thresholds.ts) invoices earlier by resetting the billing cycle anchor to
 *   now, which invoices the usage so far (docs.stripe.com/billing/subscriptions/billing-cycle). An
 *   invoice under Stripe's minimum charge ($0.50) is marked paid and its amount carried to the
 *   customer's balance for the next invoice (docs.stripe.com/api/invoices: "If the amount due for the
 *   invoice is less than Stripe's minimum allowed charge per currency, the invoice is automatically
 *   marked paid, and we add the amount due to the customer's credit balance").
 * - Idempotency keys make retried creations one object; Stripe keeps them at least 24 h.
 */
export class StripeBillingProvider implements BillingProvider {
  readonly name = 'stripe';
  /** "uniqueness within a rolling period of at least 24 hours" (see above). */
  readonly identifierWindowMs = 24 * 3_600_000;
  readonly invoicesMonthly = true;

  constructor(
    private readonly stripe: Stripe,
    private readonly settings: StripeBillingSettings,
  ) {}

  async createCustomer(input: { customerId: string; email?: string }): Promise<string> {
    const customer = await this.stripe.customers.create(
      {
        ...(input.email ? { email: input.email } : {}),
        metadata: { organization: input.customerId },
      },
      { idempotencyKey: `tierline-customer-${input.customerId}` },
    );
    return customer.id;
  }

  async startCheckout(input: {
    account: BillingAccount;
    successUrl: string;
    cancelUrl: string;
  }): Promise<CheckoutSession> {
    // Setup mode saves a payment method for later charges and charges nothing now.
    const session = await this.stripe.checkout.sessions.create({
      mode: 'setup',
      currency: 'usd',
      customer: input.account.providerCustomerId,
      success_url: input.successUrl,
      cancel_url: input.cancelUrl,
      metadata: { organization: input.account.customerId },
      setup_intent_data: { metadata: { organization: input.account.customerId } },
    });
    if (!session.url)
      throw new Error(`Stripe returned checkout session ${session.id} without a url`);
    return { id: session.id, url: session.url };
  }

  async subscribe(account: BillingAccount, key: string, setupId?: string): Promise<string> {
    // The payment method Checkout saved (setup mode) pays the subscription's invoices: without it a
    // charge_automatically subscription has nothing to charge.
    let paymentMethod: string | undefined;
    if (setupId) {
      const setup = await this.stripe.setupIntents.retrieve(setupId);
      paymentMethod =
        typeof setup.payment_method === 'string' ? setup.payment_method : setup.payment_method?.id;
    }
    const subscription = await this.stripe.subscriptions.create(
      {
        customer: account.providerCustomerId,
        items: [{ price: this.settings.priceId }],
        ...(paymentMethod ? { default_payment_method: paymentMethod } : {}),
        metadata: { organization: account.customerId },
      },
      { idempotencyKey: `tierline-subscribe-${key}` },
    );
    return subscription.id;
  }

  async reportUsage(account: BillingAccount, event: UsageEvent): Promise<void> {
    await this.stripe.billing.meterEvents.create(
      {
        event_name: this.settings.meterEventName,
        identifier: event.identifier,
        timestamp: Math.floor(Date.parse(event.hour) / 1000),
        // Payload values are strings (Stripe's spec). The extra keys are the aggregate's dimensions,
        // kept with the event for the operator's reading; the meter sums `value` per customer.
        payload: {
          stripe_customer_id: account.providerCustomerId,
          value: String(event.costMicroUsd),
          organization: account.customerId,
          project: event.projectId,
          model: event.model,
          kind: event.kind,
        },
      },
      // The meter dedupes by identifier; the request key also makes the SDK's own retries one request.
      { idempotencyKey: `tierline-usage-${event.identifier}` },
    );
  }

  async uninvoicedMicroUsd(account: BillingAccount): Promise<number> {
    if (!account.subscriptionId) return 0;
    const preview = await this.stripe.invoices.createPreview({
      customer: account.providerCustomerId,
      subscription: account.subscriptionId,
    });
    return preview.amount_due * MICRO_USD_PER_CENT;
  }

  async invoiceNow(account: BillingAccount, key: string, reason: string): Promise<void> {
    if (!account.subscriptionId) return;
    // 2026-08-26.dahlia takes `billing_cycle_anchor: 'now'`; the SDK's types (endive) want
    // `{ type: 'now' }`, which stripe-mock's dahlia spec refuses ("value is not a string").
    const params = {
      billing_cycle_anchor: 'now',
      proration_behavior: 'none',
      metadata: { last_cut: reason },
    } as unknown as Stripe.SubscriptionUpdateParams;
    await this.stripe.subscriptions.update(account.subscriptionId, params, {
      idempotencyKey: `tierline-invoice-${key}`,
    });
  }

  async cancelAtPeriodEnd(account: BillingAccount): Promise<void> {
    if (!account.subscriptionId) return;
    // At the period's end Stripe ends the subscription and invoices the metered usage left: the
    // final invoice; `customer.subscription.deleted` then tells the webhook to move to Free.
    await this.stripe.subscriptions.update(account.subscriptionId, { cancel_at_period_end: true });
  }

  async listInvoices(account: BillingAccount): Promise<ProviderInvoice[]> {
    const page = await this.stripe.invoices.list({
      customer: account.providerCustomerId,
      limit: 100,
    });
    return page.data.map((invoice) => ({
      id: invoice.id ?? '',
      totalMicroUsd: invoice.total * MICRO_USD_PER_CENT,
      status: invoiceStatus(invoice.status),
      createdAt: new Date(invoice.created * 1000).toISOString(),
      ...(invoice.hosted_invoice_url ? { hostedUrl: invoice.hosted_invoice_url } : {}),
    }));
  }

  async paymentMethod(account: BillingAccount): Promise<PaymentMethodSummary | undefined> {
    // Checkout in setup mode attaches the card to the customer: the first card listed is the one.
    const page = await this.stripe.customers.listPaymentMethods(account.providerCustomerId, {
      type: 'card',
      limit: 1,
    });
    const card = page.data[0]?.card;
    return card ? { brand: card.brand, last4: card.last4 } : undefined;
  }
}
