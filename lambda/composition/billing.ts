import { BillingAccounts } from '../billing/billing-accounts';
import type { BillingProvider } from '../billing/billing-provider';
import { UsageSender } from '../billing/usage-sender';
import type { Stores } from './aws-stores';

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
