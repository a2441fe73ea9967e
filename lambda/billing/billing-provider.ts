/**
 * The billing provider: where hourly usage goes and invoices come from. Two implementations:
 * {@link StripeBillingProvider} (stripe-provider.ts) in AWS and {@link EmbeddedBillingProvider}
 * (embedded-provider.ts, invoices in DynamoDB) in local mode, so `npm start` needs nothing else.
 *
 * Every call that changes something takes a deterministic identifier or key, so a caller that
 * crashed and runs again repeats the same call and the provider keeps one effect: meter events by
 * `identifier`, invoices by `key`. The ledger (lambda/metering/ledger.ts) stays the billing truth;
 * what was sent is tracked in usage-sender.ts.
 *
 * Keys: an organization IS today's customer (issue 22): `customerId` below is the organization id.
 */

/** What a ledger record is billed as (usage-lines.ts `usageKind`). */
export const USAGE_KINDS = ['online', 'batch', 'fine-tuned', 'training'] as const;
export type UsageKind = (typeof USAGE_KINDS)[number];

/** One organization's billing link to the provider. */
export interface BillingAccount {
  /** The organization (today: the customer id). */
  customerId: string;
  /** The provider's customer id (Stripe `cus_...`, embedded `emb_cus_...`). */
  providerCustomerId: string;
  /** The pay-per-token subscription, once a payment method is on file. */
  subscriptionId?: string;
}

/** One hourly usage delta of one organization, project, model and kind, in integer µ$. */
export interface UsageEvent {
  /** Deterministic (usage-lines.ts `usageIdentifier`): a resend carries the same one. */
  identifier: string;
  projectId: string;
  model: string;
  kind: UsageKind;
  /** The hour's start, ISO (`2026-12-07T05:00:00.000Z`). */
  hour: string;
  /** A delta: what the ledger holds for the aggregate beyond what was sent before. Positive. */
  costMicroUsd: number;
}

export interface ProviderInvoice {
  id: string;
  /** Amount in integer µ$ (the embedded provider's exact sum; Stripe's cents × 10,000). */
  totalMicroUsd: number;
  status: 'draft' | 'open' | 'paid' | 'void' | 'uncollectible';
  /** ISO time the invoice was created. */
  createdAt: string;
  /** The provider's page for the invoice (Stripe's hosted invoice page), when it has one. */
  hostedUrl?: string;
  /** Why it was cut: `threshold:<usd>`, `monthly:<YYYY-MM>` or `final`. */
  reason?: string;
}

export interface PaymentMethodSummary {
  /** `visa`, `mastercard`...; the embedded provider's `test`. */
  brand: string;
  last4: string;
}

export interface CheckoutSession {
  id: string;
  /** Where the customer enters a payment method. */
  url: string;
}

export interface BillingProvider {
  readonly name: 'stripe' | 'embedded';
  /**
   * How long the provider remembers a usage identifier (a resend within it is deduplicated);
   * undefined: forever.
   */
  readonly identifierWindowMs: number | undefined;
  /** Whether the provider invoices each month by itself (Stripe's subscription cycle). */
  readonly invoicesMonthly: boolean;
  /** Creates the provider's customer for an organization. */
  createCustomer(input: { customerId: string; email?: string }): Promise<string>;
  /** A page that collects a payment method for later use (no charge now). */
  startCheckout(input: {
    account: BillingAccount;
    successUrl: string;
    cancelUrl: string;
  }): Promise<CheckoutSession>;
  /**
   * Starts the pay-per-token subscription once a payment method is on file; returns its id.
   * `setupId`: the checkout's setup (Stripe: the SetupIntent) whose payment method pays it.
   */
  subscribe(account: BillingAccount, key: string, setupId?: string): Promise<string>;
  /** Records one usage delta. Idempotent by `event.identifier`. */
  reportUsage(account: BillingAccount, event: UsageEvent): Promise<void>;
  /** Usage reported and not yet invoiced, in µ$. */
  uninvoicedMicroUsd(account: BillingAccount): Promise<number>;
  /** Invoices now whatever usage is not invoiced yet. Idempotent by `key`. */
  invoiceNow(account: BillingAccount, key: string, reason: string): Promise<void>;
  /** Ends the subscription at the end of its period, with a final invoice of what is left. */
  cancelAtPeriodEnd(account: BillingAccount): Promise<void>;
  /** The organization's invoices, newest first. */
  listInvoices(account: BillingAccount): Promise<ProviderInvoice[]>;
  /** The payment method on file (a card's brand and last four digits), if any. */
  paymentMethod(account: BillingAccount): Promise<PaymentMethodSummary | undefined>;
}
