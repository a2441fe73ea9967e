import type { ModelLimits, TierModelOffer, UsageTier } from '../../lib/config/schema';

/**
 * Usage tiers inside Developer (`billing.usageTiers`, off when empty): limits that rise with the
 * amount an organization has paid and the days since its first payment, as OpenAI's usage tiers
 * do. Pure: the billing service keeps what was paid and writes the limits.
 */

const DAY_MS = 86_400_000;

/** What an organization has paid, as its billing account keeps it. */
export interface Payments {
  /** Total of its paid invoices, in micro-USD. */
  paidMicroUsd?: number;
  /** ISO time of its first paid invoice. */
  firstPaidAt?: string;
}

/** Whole days from the first payment to `now`; 0 before any payment. */
export function daysSinceFirstPayment(payments: Payments, now: Date): number {
  if (!payments.firstPaidAt) return 0;
  return Math.max(0, Math.floor((now.getTime() - Date.parse(payments.firstPaidAt)) / DAY_MS));
}

/** Whether `payments` reach `tier` at `now`. A tier asking for nothing is reached at once. */
function reaches(tier: UsageTier, payments: Payments, now: Date): boolean {
  const paidUsd = (payments.paidMicroUsd ?? 0) / 1_000_000;
  return (
    paidUsd >= tier.minPaidUsd &&
    daysSinceFirstPayment(payments, now) >= tier.minDaysSinceFirstPayment
  );
}

/** The highest usage tier reached (its index), or -1 for none. Tiers are ordered, lowest first. */
export function usageTierIndex(tiers: readonly UsageTier[], payments: Payments, now: Date): number {
  let reached = -1;
  tiers.forEach((tier, index) => {
    if (reaches(tier, payments, now)) reached = index;
  });
  return reached;
}

/** Developer's per-model limits times the tier's multiplier (whole numbers, rounded down). */
export function usageTierLimits(
  offers: Record<string, TierModelOffer>,
  multiplier: number,
): Record<string, ModelLimits> {
  const times = (n: number) => Math.floor(n * multiplier);
  return Object.fromEntries(
    Object.entries(offers).map(([model, offer]) => [
      model,
      {
        rpm: times(offer.rpm),
        rpd: times(offer.rpd),
        tpm: times(offer.tpm),
        tpd: times(offer.tpd),
      },
    ]),
  );
}

/** What the console shows: the tier reached and what unlocks the next. */
export interface UsageTierView {
  current: { name: string; limit_multiplier: number } | null;
  next: {
    name: string;
    limit_multiplier: number;
    min_paid_usd: number;
    min_days_since_first_payment: number;
  } | null;
  paid_usd: number;
  days_since_first_payment: number;
}

export function usageTierView(
  tiers: readonly UsageTier[],
  payments: Payments,
  now: Date,
): UsageTierView | null {
  if (tiers.length === 0) return null;
  const index = usageTierIndex(tiers, payments, now);
  const current = tiers[index];
  const next = tiers[index + 1];
  return {
    current: current ? { name: current.name, limit_multiplier: current.limitMultiplier } : null,
    next: next
      ? {
          name: next.name,
          limit_multiplier: next.limitMultiplier,
          min_paid_usd: next.minPaidUsd,
          min_days_since_first_payment: next.minDaysSinceFirstPayment,
        }
      : null,
    paid_usd: (payments.paidMicroUsd ?? 0) / 1_000_000,
    days_since_first_payment: daysSinceFirstPayment(payments, now),
  };
}
