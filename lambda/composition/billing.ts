import type { TierlineConfig } from '../../lib/config/schema';
import { BillingAccounts } from '../billing/billing-accounts';
import type { BillingNotices } from '../billing/billing-notices';
import type { BillingProvider } from '../billing/billing-provider';
import {
  BillingService,
  type BillingServiceDeps,
  type TierSwitch,
} from '../billing/billing-service';
import { UsageSender } from '../billing/usage-sender';
import { setUsageTierLimits } from '../customers/usage-tier-limits';
import type { Stores } from './aws-stores';
import type { Tables } from './engines';
import { customersRepository } from './repositories';

/**
 * Billing's usage sender on the metering table (the ledger it reads, the usage lines and billing
 * accounts it keeps), sending to a provider: Stripe in AWS, the embedded one in local mode.
 */
export function usageSender(
  stores: Pick<Stores, 'doc' | 'tables'>,
  provider: BillingProvider,
): UsageSender {
  const { doc } = stores;
  const table = stores.tables.metering;
  return new UsageSender(doc, table, new BillingAccounts(doc, table), provider);
}

export interface BillingServiceParts {
  /** The tier change (lambda/customers/tier-switch.ts in AWS; local mode's operator locally). */
  tiers: TierSwitch;
  /** Where the payment e-mails go; none: not sent. */
  notices?: BillingNotices;
  /** `billing.paymentGraceDays` of the config. */
  graceDays: number;
  /** Usage tiers inside Developer ({@link usageTiersOf}); absent or empty: off. */
  usageTiers?: BillingServiceDeps['usageTiers'];
  now?: () => Date;
}

/** The config's usage tiers (`billing.usageTiers`) and the Developer offers they multiply. */
export function usageTiersOf(config: TierlineConfig): BillingServiceDeps['usageTiers'] {
  return { tiers: config.billing.usageTiers, developerOffers: config.tiers.developer.models };
}

/**
 * Upgrades, downgrades and payments (billing-service.ts) on the metering table, the payment
 * e-mails addressed from the customers table: the webhook's and the hourly run's, in AWS and in
 * local mode alike.
 */
export function billingService(
  stores: Pick<Stores, 'doc'> & { tables: Pick<Tables, 'metering' | 'customers'> },
  provider: BillingProvider,
  parts: BillingServiceParts,
): BillingService {
  const { doc } = stores;
  const table = stores.tables.metering;
  const customers = customersRepository(stores);
  return new BillingService({
    doc,
    tableName: table,
    accounts: new BillingAccounts(doc, table),
    provider,
    tiers: {
      setTier: (customerId, tier) => parts.tiers.setTier(customerId, tier),
      // Written on the organization's keys, in every runtime alike.
      setUsageTierLimits: (customerId, limits) => setUsageTierLimits(customers, customerId, limits),
    },
    graceDays: parts.graceDays,
    usageTiers: parts.usageTiers,
    now: parts.now,
    ...(parts.notices
      ? {
          notices: {
            sender: parts.notices,
            emailOf: async (customerId) => (await customers.getCustomer(customerId))?.email,
          },
        }
      : {}),
  });
}
