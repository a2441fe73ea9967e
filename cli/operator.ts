import { CustomerKeys, parseKeyName } from '../lambda/customers/customer-keys';
import type { CustomerRecord } from '../lambda/customers/customers-repository';
import { CustomerLifecycle, type DeletedCustomer } from './customers/customer-lifecycle';
import { type CreatedCustomer, CustomerOperations } from './customers/customer-operations';
import { type CustomerOverview, customerOverview } from './customers/customer-overview';
import { CustomerSuspension, type SuspensionResult } from './customers/customer-suspension';
import { OperatorContext, type OperatorDependencies } from './operator-context';
import { type CustomPlanInput, PlanOperations, type PlanSummary } from './plans/plan-operations';
import { UsageOperations } from './usage/usage-operations';

export type { CreatedCustomer } from './customers/customer-operations';
export type { OperatorDependencies } from './operator-context';
export { OperatorError } from './operator-errors';
export type { CustomPlanInput, PlanSummary } from './plans/plan-operations';

/**
 * The operator's commands against one deployment, one group per `--help` group (customers, usage,
 * plans). Every command is safe to re-run: it reads the current state and only does what is
 * missing. A command that fails half way undoes what it created, and a command interrupted outright
 * (crash, Ctrl-C) leaves a marker that the next run of the same command cleans up.
 */
export class Operator {
  readonly context: OperatorContext;
  readonly customers: CustomerOperations;
  readonly lifecycle: CustomerLifecycle;
  readonly suspension: CustomerSuspension;
  readonly plans: PlanOperations;
  readonly usage: UsageOperations;

  constructor(deps: OperatorDependencies) {
    this.context = new OperatorContext(deps);
    this.customers = new CustomerOperations(this.context);
    this.lifecycle = new CustomerLifecycle(this.context, this.customers);
    this.suspension = new CustomerSuspension(this.context);
    this.plans = new PlanOperations(this.context);
    this.usage = new UsageOperations(this.context);
  }

  apiGatewayKeyName(customerId: string): string {
    return this.context.apiGatewayKeyName(customerId);
  }

  customPlanName(customerId: string): string {
    return this.context.customPlanName(customerId);
  }

  getCustomer(customerId: string): Promise<CustomerRecord> {
    return this.context.getCustomer(customerId);
  }

  listCustomers(options: { limit?: number; cursor?: string } = {}) {
    return this.customers.listCustomers(options);
  }

  createCustomer(input: { name: string; email: string; tier: string }): Promise<CreatedCustomer> {
    return this.customers.createCustomer(input);
  }

  setTier(
    customerId: string,
    tier: string,
  ): Promise<{ changed: boolean; customer: CustomerRecord }> {
    return this.customers.setTier(customerId, tier);
  }

  rotateKey(customerId: string): Promise<{ customer: CustomerRecord; apiKey: string }> {
    return this.customers.rotateKey(customerId);
  }

  /**
   * Issues an admin key (`tl_admin_...`, shown once) for the administration API; never usable for
   * inference. The operator is the only one besides an owner's console session who may.
   */
  async createAdminKey(customerId: string, name: string): Promise<{ id: string; key: string }> {
    await this.context.getCustomer(customerId);
    const keys = new CustomerKeys(this.context.deps.customers);
    const { record, key } = await keys.issue(
      { customerId, kind: 'admin_key' },
      parseKeyName({ name }),
      { kind: 'admin_key' },
      'operator',
    );
    return { id: record.keyId, key };
  }

  revoke(customerId: string): Promise<CustomerRecord> {
    return this.customers.revoke(customerId);
  }

  /** The customer, its plan's limits per model, its spend limit, and `month`'s usage and spend. */
  showCustomer(customerId: string, month: string): Promise<CustomerOverview> {
    return customerOverview(this.context, customerId, month);
  }

  reactivate(customerId: string): Promise<{ customer: CustomerRecord; apiKey: string }> {
    return this.lifecycle.reactivate(customerId);
  }

  suspend(customerId: string): Promise<SuspensionResult> {
    return this.suspension.suspend(customerId);
  }

  restore(customerId: string): Promise<SuspensionResult> {
    return this.suspension.restore(customerId);
  }

  deleteCustomer(customerId: string, options: { confirmed: boolean }): Promise<DeletedCustomer> {
    return this.lifecycle.delete(customerId, options);
  }

  setSpendLimit(customerId: string, limitUsd: number | null): Promise<CustomerRecord> {
    return this.customers.setSpendLimit(customerId, limitUsd);
  }

  /** What a limit just set does not stop: requests in flight, which run to their end and are billed. */
  spendLimitWarnings(customerId: string, limitUsd: number | null): Promise<string[]> {
    return this.customers.spendLimitWarnings(customerId, limitUsd);
  }

  createCustomPlan(customerId: string, input: CustomPlanInput): Promise<CustomerRecord> {
    return this.plans.createCustomPlan(customerId, input);
  }

  listPlans(): Promise<PlanSummary[]> {
    return this.plans.listPlans();
  }

  replayDeadLetters(setAsidePath: string): ReturnType<UsageOperations['replayDeadLetters']> {
    return this.usage.replayDeadLetters(setAsidePath);
  }

  usageTools(): ReturnType<UsageOperations['tools']> {
    return this.usage.tools();
  }
}
