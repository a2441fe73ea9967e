import {
  daysSinceFirstPayment,
  usageTierIndex,
  usageTierLimits,
  usageTierView,
} from '../../../lambda/billing/usage-tiers';
import { loadConfig } from '../../../lib/config/load';

const TIERS = [
  { name: 'Tier 1', minPaidUsd: 5, minDaysSinceFirstPayment: 0, limitMultiplier: 2 },
  { name: 'Tier 2', minPaidUsd: 50, minDaysSinceFirstPayment: 7, limitMultiplier: 5 },
];
const NOW = new Date('2026-12-07T12:00:00.000Z');
const daysAgo = (days: number) => new Date(NOW.getTime() - days * 86_400_000).toISOString();

describe('usage tiers inside Developer', () => {
  it('reach the highest tier whose amount paid and days since the first payment both hold', () => {
    expect(usageTierIndex(TIERS, {}, NOW)).toBe(-1);
    expect(usageTierIndex(TIERS, { paidMicroUsd: 4_999_999, firstPaidAt: daysAgo(30) }, NOW)).toBe(
      -1,
    );
    expect(usageTierIndex(TIERS, { paidMicroUsd: 5_000_000, firstPaidAt: daysAgo(0) }, NOW)).toBe(
      0,
    );
    // Paid enough for Tier 2, too recently.
    expect(
      usageTierIndex(TIERS, { paidMicroUsd: 80_000_000, firstPaidAt: daysAgo(6.9) }, NOW),
    ).toBe(0);
    expect(usageTierIndex(TIERS, { paidMicroUsd: 80_000_000, firstPaidAt: daysAgo(7) }, NOW)).toBe(
      1,
    );
    expect(usageTierIndex([], { paidMicroUsd: 80_000_000, firstPaidAt: daysAgo(7) }, NOW)).toBe(-1);
  });

  it('count whole days since the first payment, none before it', () => {
    expect(daysSinceFirstPayment({}, NOW)).toBe(0);
    expect(daysSinceFirstPayment({ firstPaidAt: daysAgo(2.5) }, NOW)).toBe(2);
    expect(daysSinceFirstPayment({ firstPaidAt: daysAgo(-1) }, NOW)).toBe(0);
  });

  it("multiply every Developer model's limits, prices left out", () => {
    const offers = loadConfig({ env: 'dev' }).tiers.developer.models;
    const limits = usageTierLimits(offers, 2.5);
    expect(Object.keys(limits).sort()).toEqual(Object.keys(offers).sort());
    for (const [model, offer] of Object.entries(offers)) {
      expect(limits[model]).toEqual({
        rpm: Math.floor(offer.rpm * 2.5),
        rpd: Math.floor(offer.rpd * 2.5),
        tpm: Math.floor(offer.tpm * 2.5),
        tpd: Math.floor(offer.tpd * 2.5),
      });
    }
  });

  it('say what unlocks the next tier, and nothing when there are none (off)', () => {
    expect(usageTierView([], {}, NOW)).toBeNull();
    expect(usageTierView(TIERS, { paidMicroUsd: 7_250_000, firstPaidAt: daysAgo(3) }, NOW)).toEqual(
      {
        current: { name: 'Tier 1', limit_multiplier: 2 },
        next: {
          name: 'Tier 2',
          limit_multiplier: 5,
          min_paid_usd: 50,
          min_days_since_first_payment: 7,
        },
        paid_usd: 7.25,
        days_since_first_payment: 3,
      },
    );
  });

  it('are off by default, and refused out of order', () => {
    expect(loadConfig({ env: 'dev' }).billing.usageTiers).toEqual([]);
    expect(() =>
      loadConfig({
        env: 'dev',
        overrides: { billing: { usageTiers: [...TIERS].reverse() } },
      }),
    ).toThrow(/usage tiers must be ordered/);
    expect(
      loadConfig({ env: 'dev', overrides: { billing: { usageTiers: TIERS } } }).billing.usageTiers,
    ).toEqual(TIERS);
  });
});
