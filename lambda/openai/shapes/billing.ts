import * as z from 'zod/mini';
import { usdString } from './common';

/**
 * `GET /v1/billing`: the organization's pay-per-token billing as the console's Billing page shows
 * it (payment method, this month's running total and its breakdown, the next invoice threshold,
 * past invoices, a failed payment's grace). Amounts are USD strings to the µ$, as `/v1/usage`.
 */

const isoTime = () => z.string().check(z.regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/));

export const billingLineShape = z.object({
  model: z.string(),
  kind: z.enum(['online', 'batch', 'fine-tuned', 'training']),
  requests: z.int().check(z.minimum(0)),
  cost_usd: usdString(),
});

export const billingInvoiceShape = z.object({
  object: z.literal('billing.invoice'),
  id: z.string(),
  total_usd: usdString(),
  status: z.enum(['draft', 'open', 'paid', 'void', 'uncollectible']),
  created_at: isoTime(),
  /** The provider's page for the invoice (Stripe's hosted invoice page). */
  hosted_url: z.nullable(z.string()),
  /** Why it was cut: `threshold:<usd>`, `monthly:<YYYY-MM>`, `final`; null when unknown. */
  reason: z.nullable(z.string()),
});

export const billingShape = z.object({
  object: z.literal('billing'),
  /** Which provider bills: Stripe in AWS, the embedded one in local mode. */
  provider: z.enum(['stripe', 'embedded']),
  /** none: never upgraded; pending: checkout opened, no payment method yet. */
  status: z.enum(['none', 'pending', 'active', 'cancelling', 'closed']),
  payment_method: z.nullable(z.object({ brand: z.string(), last4: z.string() })),
  /** The UTC month of the running total (`YYYY-MM`). */
  month: z.string().check(z.regex(/^\d{4}-\d{2}$/)),
  /** This month's billed usage so far, from the ledger (Developer usage since the upgrade). */
  running_total_usd: usdString(),
  breakdown: z.array(billingLineShape),
  /** What the invoices so far add up to (the amount Groq's progressive thresholds count). */
  invoiced_usd: usdString(),
  /** The next progressive threshold (1, 10, 100, 500, 1000 USD); null past the last one. */
  next_threshold_usd: z.nullable(z.number()),
  invoices: z.array(billingInvoiceShape),
  /** A failed payment not paid yet: Developer limits until `limits_at`, then Free limits. */
  grace: z.nullable(
    z.object({
      since: isoTime(),
      limits_at: isoTime(),
      limited: z.boolean(),
      invoice_id: z.nullable(z.string()),
    }),
  ),
  /** Usage tiers inside Developer (`billing.usageTiers`); null when the operator has none. */
  usage_tier: z.nullable(
    z.object({
      /** The tier reached: its limits are Developer's times `limit_multiplier`; null: none yet. */
      current: z.nullable(z.object({ name: z.string(), limit_multiplier: z.number() })),
      /** The next tier and what it asks for; null past the last. */
      next: z.nullable(
        z.object({
          name: z.string(),
          limit_multiplier: z.number(),
          min_paid_usd: z.number(),
          min_days_since_first_payment: z.int(),
        }),
      ),
      paid_usd: z.number(),
      days_since_first_payment: z.int().check(z.minimum(0)),
    }),
  ),
});
export type Billing = z.output<typeof billingShape>;
export type BillingInvoice = z.output<typeof billingInvoiceShape>;

/** `POST /v1/billing/checkout`: where the browser goes to save a payment method. */
export const billingCheckoutShape = z.object({
  object: z.literal('billing.checkout'),
  id: z.string(),
  url: z.string(),
});
export type BillingCheckout = z.output<typeof billingCheckoutShape>;
