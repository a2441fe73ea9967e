import {
  type APIGatewayClient,
  GetUsagePlansCommand,
  type UsagePlan,
} from '@aws-sdk/client-api-gateway';
import type { OrganizationPeople } from '../lambda/accounts/organization-people';
import type { CustomerDataEraser } from '../lambda/batches/customer-data';
import { apiGatewayKeyName } from '../lambda/customers/customer-creation';
import type { CustomerRecord, CustomersRepository } from '../lambda/customers/customers-repository';
import { TierSwitch, type UsagePlanKeys } from '../lambda/customers/tier-switch';
import type { AggregateUpdater } from '../lambda/metering/aggregate-updates';
import type { LedgerRecord, LedgerWriter } from '../lambda/metering/ledger';
import type { SpendTracker } from '../lambda/metering/spend';
import type { UsageReports } from '../lambda/metering/usage-report';
import type { TierlineConfig, TierName } from '../lib/config/schema';
import type { OperatorSettings } from '../lib/operator-settings';
import type { DeadLetterSource } from './dead-letters';
import { OperatorError } from './operator-errors';

export interface OperatorDependencies {
  customers: CustomersRepository;
  /** Usage records that failed to reach the ledger, and the ledger to replay them into. */
  usage?: {
    deadLetters: DeadLetterSource;
    ledger: Pick<LedgerWriter, 'put'>;
    /** Runs after a replayed record is in the ledger (local mode applies it to the aggregates). */
    afterWrite?: (record: LedgerRecord) => Promise<void>;
  };
  /** The month's spend items, where a spend limit binds at once (the metering table). */
  spend?: Pick<SpendTracker, 'setLimit' | 'getMonthOf'>;
  /** Usage per customer and month from the aggregates, and their repair (cli/usage/billing-commands.ts). */
  usageReports?: UsageReports;
  aggregates?: Pick<AggregateUpdater, 'recomputeDay'>;
  apiGateway: APIGatewayClient;
  /** Erases a customer's files, uploads and batches (`customers delete`); absent where the deployment has none. */
  customerData?: CustomerDataEraser;
  /** Removes a deleted organization's memberships and invites (`customers delete`). */
  organizationPeople?: Pick<OrganizationPeople, 'erase'>;
  settings: OperatorSettings;
  config: TierlineConfig;
  /** New customer ids; random by default. */
  newCustomerId?: () => string;
  /** Waits (`customers delete` waits out the authorizer cache before it sweeps again); a timer by default. */
  sleep?: (ms: number) => Promise<void>;
}

/**
 * What every command group shares: the dependencies, the names Tierline gives API Gateway
 * resources, the customer lookups, and moving API Gateway keys between usage plans.
 */
export class OperatorContext {
  constructor(readonly deps: OperatorDependencies) {}

  get env(): string {
    return this.deps.config.environment.name;
  }

  /** API Gateway key name of a customer: unique, so a retry finds what an interrupted run created. */
  apiGatewayKeyName(customerId: string): string {
    return apiGatewayKeyName(this.env, customerId);
  }

  customPlanName(customerId: string): string {
    return `tierline-${this.env}-custom-${customerId}`;
  }

  tierPlanId(tier: TierName): string {
    const id = this.deps.settings.usagePlanIds[tier];
    if (!id)
      throw new OperatorError(
        `The deployment has no usage plan for tier "${tier}": redeploy the API stack.`,
        'no_deployment',
      );
    return id;
  }

  async getCustomer(customerId: string): Promise<CustomerRecord> {
    const customer = await this.deps.customers.getCustomer(customerId);
    if (!customer) throw new OperatorError(`No customer with id ${customerId}.`, 'not_found');
    return customer;
  }

  /** An active customer: its key, and its own API Gateway key or a pool's (`sharedUsageKey`). */
  async getActiveCustomer(customerId: string): Promise<CustomerRecord & { keyHash: string }> {
    const customer = await this.getCustomer(customerId);
    if (
      customer.status !== 'active' ||
      !customer.keyHash ||
      !(customer.apiGatewayKeyId || customer.sharedUsageKey)
    ) {
      throw new OperatorError(
        `Customer ${customerId} is ${customer.status}, not active.`,
        'wrong_state',
      );
    }
    return customer as CustomerRecord & { keyHash: string };
  }

  /** The usage plan moves, shared with billing's webhook (lambda/customers/tier-switch.ts). */
  get planKeys(): UsagePlanKeys {
    return this.tierSwitch.planKeys;
  }

  /** The tier change, shared with billing's webhook; its failures as the CLI's. */
  get tierSwitch(): TierSwitch {
    return new TierSwitch(
      this.deps.customers,
      this.deps.apiGateway,
      this.deps.settings,
      this.deps.config,
    );
  }

  moveKey(keyId: string, from: string | undefined, to: string): Promise<void> {
    return this.planKeys.moveKey(keyId, from, to);
  }

  deleteUsagePlan(usagePlanId: string): Promise<void> {
    return this.planKeys.deleteUsagePlan(usagePlanId);
  }

  async findUsagePlanByName(name: string): Promise<UsagePlan | undefined> {
    return (await this.allUsagePlans()).find((plan) => plan.name === name);
  }

  async allUsagePlans(): Promise<UsagePlan[]> {
    const plans: UsagePlan[] = [];
    let position: string | undefined;
    do {
      const page = await this.deps.apiGateway.send(
        new GetUsagePlansCommand({ position, limit: 500 }),
      );
      plans.push(...(page.items ?? []));
      position = page.position;
    } while (position);
    return plans;
  }
}
