import type { ModelLimits } from '../../lib/config/schema';
import type { CustomersRepository } from './customers-repository';

/**
 * Writes a Developer organization's per-model limits on its keys (usage tiers,
 * lambda/billing/usage-tiers.ts); `undefined` goes back to the tier's own limits. An organization
 * on another tier, or on an operator's custom plan, is left as it is (answers false).
 */
export async function setUsageTierLimits(
  customers: Pick<CustomersRepository, 'getCustomer' | 'updateCustomerKeys'>,
  customerId: string,
  limits: Record<string, ModelLimits> | undefined,
): Promise<boolean> {
  const customer = await customers.getCustomer(customerId);
  if (customer?.tier !== 'developer' || customer.status !== 'active') return false;
  if (customer.customPlan) return false;
  // The limits live on the keys (the authorizer reads them there); new keys copy the primary's.
  // Each key's write holds only while that key is still Developer's and holds no custom plan's
  // limits: a switch or a custom plan that ran after the read above writes the key in one write,
  // so this one either lands before it (and is overwritten) or finds the key changed and writes
  // nothing.
  if (limits) {
    await customers.updateCustomerKeys(
      customerId,
      customer.keyHash,
      { customModelLimits: limits },
      [],
      { tier: 'developer' },
    );
  } else {
    await customers.updateCustomerKeys(customerId, customer.keyHash, {}, ['customModelLimits'], {
      tier: 'developer',
    });
  }
  return true;
}
