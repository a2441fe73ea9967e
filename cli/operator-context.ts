import {
  type APIGatewayClient,
  CreateApiKeyCommand,
  CreateUsagePlanKeyCommand,
  DeleteUsagePlanCommand,
  DeleteUsagePlanKeyCommand,
  GetUsagePlansCommand,
  UpdateUsagePlanCommand,
  type UsagePlan,
} from '@aws-sdk/client-api-gateway';
import type { CustomerDataEraser } from '../lambda/batches/customer-data';
import type { CustomerRecord, CustomersRepository } from '../lambda/customers/customers-repository';
import type { AggregateUpdater } from '../lambda/metering/aggregate-updates';
import type { LedgerRecord, LedgerWriter } from '../lambda/metering/ledger';
import type { SpendTracker } from '../lambda/metering/spend';
import type { UsageReports } from '../lambda/metering/usage-report';
import type { TierlineConfig, TierName } from '../lib/config/schema';
import type { OperatorSettings } from '../lib/operator-settings';
import type { DeadLetterSource } from './dead-letters';
import { errorName, OperatorError, tolerate } from './operator-errors';

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
    return `tierline-${this.env}-${customerId}`;
  }

  /**
   * Creates the customer's API Gateway key (its usage identifier, never its secret) and answers its
   * id; by `create` and `reactivate` alike.
   */
  async createGatewayKey(customerId: string, usageIdentifierKey: string): Promise<string> {
    const apiKey = await this.deps.apiGateway.send(
      new CreateApiKeyCommand({
        name: this.apiGatewayKeyName(customerId),
        description: `Tierline usage identifier of ${customerId} (not the customer's secret)`,
        value: usageIdentifierKey,
        enabled: true,
        tags: { project: 'tierline', environment: this.env, customerId },
      }),
    );
    if (!apiKey.id) throw new Error('API Gateway returned no id for the new API key');
    return apiKey.id;
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

  async getActiveCustomer(
    customerId: string,
  ): Promise<CustomerRecord & { keyHash: string; apiGatewayKeyId: string }> {
    const customer = await this.getCustomer(customerId);
    if (customer.status !== 'active' || !customer.keyHash || !customer.apiGatewayKeyId) {
      throw new OperatorError(
        `Customer ${customerId} is ${customer.status}, not active.`,
        'wrong_state',
      );
    }
    return customer as CustomerRecord & { keyHash: string; apiGatewayKeyId: string };
  }

  /**
   * Puts a key on a usage plan. API Gateway answers ConflictException both when the key is already
   * on that plan (done) and when it is still on another plan of the stage (a move interrupted
   * earlier): then the key leaves that plan and the attach is tried again.
   */
  async attachKey(keyId: string, usagePlanId: string): Promise<void> {
    const { apiGateway } = this.deps;
    const attach = () =>
      apiGateway.send(new CreateUsagePlanKeyCommand({ usagePlanId, keyId, keyType: 'API_KEY' }));
    try {
      await attach();
    } catch (error) {
      if (errorName(error) !== 'ConflictException') throw error;
      const { items = [] } = await apiGateway.send(new GetUsagePlansCommand({ keyId, limit: 500 }));
      const elsewhere = items.filter((plan) => plan.id && plan.id !== usagePlanId);
      if (elsewhere.length === 0) return; // already on the wanted plan
      for (const plan of elsewhere) {
        await tolerate(
          () => apiGateway.send(new DeleteUsagePlanKeyCommand({ usagePlanId: plan.id, keyId })),
          'NotFoundException',
        );
      }
      await tolerate(attach, 'ConflictException');
    }
  }

  async moveKey(keyId: string, from: string | undefined, to: string): Promise<void> {
    const { apiGateway } = this.deps;
    if (from && from !== to) {
      // A key can be on one usage plan per stage only, so it leaves the old plan first.
      await tolerate(
        () => apiGateway.send(new DeleteUsagePlanKeyCommand({ usagePlanId: from, keyId })),
        'NotFoundException',
      );
    }
    try {
      await this.attachKey(keyId, to);
    } catch (error) {
      if (from && from !== to) {
        await tolerate(
          () =>
            apiGateway.send(
              new CreateUsagePlanKeyCommand({ usagePlanId: from, keyId, keyType: 'API_KEY' }),
            ),
          'ConflictException',
        ).catch(() => undefined);
      }
      throw error;
    }
  }

  async deleteUsagePlan(usagePlanId: string): Promise<void> {
    const { apiId, stageName } = this.deps.settings;
    const { apiGateway } = this.deps;
    // API Gateway refuses to delete a usage plan that is still associated with a stage.
    await tolerate(
      () =>
        apiGateway.send(
          new UpdateUsagePlanCommand({
            usagePlanId,
            patchOperations: [{ op: 'remove', path: '/apiStages', value: `${apiId}:${stageName}` }],
          }),
        ),
      'NotFoundException',
    );
    await tolerate(
      () => apiGateway.send(new DeleteUsagePlanCommand({ usagePlanId })),
      'NotFoundException',
    );
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
