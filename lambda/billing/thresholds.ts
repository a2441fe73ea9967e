import { MICRO_USD_PER_USD } from '../metering/pricing';

/**
 * When to invoice: Groq's progressive thresholds. A Developer organization is invoiced as soon as
 * its cumulative billed usage reaches $1, then $10, $100, $500 and $1,000; past $1,000, monthly in
 * arrears. Nothing is invoiced under $0.50 (Stripe's minimum charge in USD; the embedded provider
 * keeps the same rule): such an amount waits for the next invoice.
 */
export const THRESHOLDS_USD = [1, 10, 100, 500, 1000] as const;
export const MINIMUM_INVOICE_MICRO_USD = 500_000;

export interface InvoiceDecision {
  /** Unique per organization and cut: the provider's idempotency key (with the organization). */
  key: string;
  reason: string;
  kind: 'threshold' | 'monthly';
}

/** The UTC month (`YYYY-MM`) before the one of `now`. */
function previousMonth(now: Date): string {
  const first = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1);
  return new Date(first - 1).toISOString().slice(0, 7);
}

/**
 * The invoice to cut now, if any. `invoicedMicroUsd`: what the organization's invoices add up to
 * so far (the cumulative amount the thresholds count); `uninvoicedMicroUsd`: usage reported and
 * not yet invoiced. A threshold's key names the threshold, so each is cut once however often
 * this runs; the monthly key names the month that ended.
 */
export function invoiceDecision(input: {
  invoicedMicroUsd: number;
  uninvoicedMicroUsd: number;
  now: Date;
}): InvoiceDecision | undefined {
  const { invoicedMicroUsd, uninvoicedMicroUsd, now } = input;
  if (uninvoicedMicroUsd < MINIMUM_INVOICE_MICRO_USD) return undefined;
  const next = THRESHOLDS_USD.find((usd) => usd * MICRO_USD_PER_USD > invoicedMicroUsd);
  if (next !== undefined) {
    if (invoicedMicroUsd + uninvoicedMicroUsd < next * MICRO_USD_PER_USD) return undefined;
    return { key: `threshold-${next}`, reason: `threshold:${next}`, kind: 'threshold' };
  }
  const month = previousMonth(now);
  return { key: `monthly-${month}`, reason: `monthly:${month}`, kind: 'monthly' };
}
