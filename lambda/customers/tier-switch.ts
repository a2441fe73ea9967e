import {
  type APIGatewayClient,
  type ApiKey,
  CreateUsagePlanKeyCommand,
  DeleteUsagePlanCommand,
  DeleteUsagePlanKeyCommand,
  GetApiKeysCommand,
  GetUsagePlansCommand,
  UpdateUsagePlanCommand,
} from '@aws-sdk/client-api-gateway';
import type { ModelLimits, TierlineConfig, TierName } from '../../lib/config/schema';
import { applied } from '../storage/conditional-writes';
import { randomBase62 } from './api-keys';
import { apiGatewayKeyName, createGatewayKey } from './customer-creation';
import type { CustomerRecord, CustomersRepository } from './customers-repository';
import { pooledUsageIdentifier } from './edge-key-pool';
import { setUsageTierLimits } from './usage-tier-limits';

/** Why a tier switch could not be made; the operator CLI maps each to its exit code. */
export type TierSwitchFailure = 'not_found' | 'wrong_state' | 'no_deployment';

export class TierSwitchError extends Error {
  constructor(
    message: string,
    readonly kind: TierSwitchFailure,
  ) {
    super(message);
    this.name = 'TierSwitchError';
  }
}

/**
 * Where the deployment's usage plans are: by id (the operator settings), or by name (billing's
 * functions: API Gateway's deployment depends on their routes, so a plan id, which depends on the
 * stage, cannot be in their environment without a dependency cycle).
 */
export interface UsagePlanSettings {
  apiId: string;
  stageName: string;
  usagePlanIds?: Partial<Record<TierName, string>>;
  /** Each tier plan's name (`tierline-<env>-<tier>`), looked up once when no id is given. */
  usagePlanNames?: Partial<Record<TierName, string>>;
}

/** A tier plan's name, as lib/constructs/api/tier-usage-plans.ts names it. */
export const tierPlanName = (env: string, tier: TierName) => `tierline-${env}-${tier}`;

const errorName = (error: unknown) => (error instanceof Error ? error.name : undefined);

/** Runs `action`, treating the named API Gateway errors as "already in the wanted state". */
async function tolerate(action: () => Promise<unknown>, ...names: string[]): Promise<void> {
  try {
    await action();
  } catch (error) {
    if (!names.includes(errorName(error) ?? '')) throw error;
  }
}

/**
 * Moving a customer's API Gateway key between usage plans: what a tier is at the edge. Shared by
 * the operator CLI (`customers set-tier`, custom plans) and billing's webhook (an upgrade paid, a
 * downgrade ended, a payment failed past its grace), so both make the same moves with the same
 * repair of an interrupted one.
 */
export class UsagePlanKeys {
  constructor(
    private readonly apiGateway: Pick<APIGatewayClient, 'send'>,
    private readonly settings: Pick<UsagePlanSettings, 'apiId' | 'stageName'>,
  ) {}

  /**
   * Puts a key on a usage plan. API Gateway answers ConflictException both when the key is already
   * on that plan (done) and when it is still on another plan of the stage (a move interrupted
   * earlier): then the key leaves that plan and the attach is tried again.
   */
  async attachKey(keyId: string, usagePlanId: string): Promise<void> {
    const attach = () =>
      this.apiGateway.send(
        new CreateUsagePlanKeyCommand({ usagePlanId, keyId, keyType: 'API_KEY' }),
      );
    try {
      await attach();
    } catch (error) {
      if (errorName(error) !== 'ConflictException') throw error;
      const { items = [] } = await this.apiGateway.send(
        new GetUsagePlansCommand({ keyId, limit: 500 }),
      );
      const elsewhere = items.filter((plan) => plan.id && plan.id !== usagePlanId);
      if (elsewhere.length === 0) return; // already on the wanted plan
      for (const plan of elsewhere) {
        await tolerate(
          () =>
            this.apiGateway.send(new DeleteUsagePlanKeyCommand({ usagePlanId: plan.id, keyId })),
          'NotFoundException',
        );
      }
      await tolerate(attach, 'ConflictException');
    }
  }

  async moveKey(keyId: string, from: string | undefined, to: string): Promise<void> {
    if (from && from !== to) {
      // A key can be on one usage plan per stage only, so it leaves the old plan first.
      await tolerate(
        () => this.apiGateway.send(new DeleteUsagePlanKeyCommand({ usagePlanId: from, keyId })),
        'NotFoundException',
      );
    }
    try {
      await this.attachKey(keyId, to);
    } catch (error) {
      if (from && from !== to) {
        await tolerate(
          () =>
            this.apiGateway.send(
              new CreateUsagePlanKeyCommand({ usagePlanId: from, keyId, keyType: 'API_KEY' }),
            ),
          'ConflictException',
        ).catch(() => undefined);
      }
      throw error;
    }
  }

  async deleteUsagePlan(usagePlanId: string): Promise<void> {
    const { apiId, stageName } = this.settings;
    // API Gateway refuses to delete a usage plan that is still associated with a stage.
    await tolerate(
      () =>
        this.apiGateway.send(
          new UpdateUsagePlanCommand({
            usagePlanId,
            patchOperations: [{ op: 'remove', path: '/apiStages', value: `${apiId}:${stageName}` }],
          }),
        ),
      'NotFoundException',
    );
    await tolerate(
      () => this.apiGateway.send(new DeleteUsagePlanCommand({ usagePlanId })),
      'NotFoundException',
    );
  }
}

/**
 * A customer's tier change: its key moved to the tier's usage plan, its key records and its
 * customer record updated, a custom plan removed. A customer on a pooled tier's shared key
 * (lambda/customers/edge-key-pool.ts) that moves to a tier without a pool gets a key of its own
 * first ({@link TierSwitch.dedicatedKey}); one with its own key keeps it on every tier. Each step
 * is idempotent, and the customer record (what says the tier) is written last, so a change
 * interrupted anywhere is finished by running it again; a second run of a finished change does
 * nothing (`changed: false`).
 */
export class TierSwitch {
  readonly planKeys: UsagePlanKeys;
  private namedPlans?: Promise<Map<string, string>>;

  constructor(
    private readonly customers: Pick<
      CustomersRepository,
      'getCustomer' | 'updateCustomer' | 'updateCustomerKeys'
    >,
    private readonly apiGateway: Pick<APIGatewayClient, 'send'>,
    private readonly settings: UsagePlanSettings,
    /** The environment's name (a new key's name) and which tiers pool their keys. */
    private readonly config: Pick<TierlineConfig, 'environment' | 'tiers'>,
  ) {
    this.planKeys = new UsagePlanKeys(apiGateway, settings);
  }

  async tierPlanId(tier: TierName): Promise<string> {
    const name = this.settings.usagePlanNames?.[tier];
    const id =
      this.settings.usagePlanIds?.[tier] ??
      (name ? (await this.plansByName()).get(name) : undefined);
    if (!id) {
      throw new TierSwitchError(
        `The deployment has no usage plan for tier "${tier}": redeploy the API stack.`,
        'no_deployment',
      );
    }
    return id;
  }

  /** Every usage plan of the account and region by name, read once (a failed read is retried). */
  private plansByName(): Promise<Map<string, string>> {
    this.namedPlans ??= (async () => {
      const byName = new Map<string, string>();
      let position: string | undefined;
      do {
        const page = await this.apiGateway.send(new GetUsagePlansCommand({ position, limit: 500 }));
        for (const plan of page.items ?? []) {
          if (plan.name && plan.id) byName.set(plan.name, plan.id);
        }
        position = page.position;
      } while (position);
      return byName;
    })().catch((error: unknown) => {
      this.namedPlans = undefined;
      throw error;
    });
    return this.namedPlans;
  }

  /** {@link setUsageTierLimits} on this switch's customers. */
  setUsageTierLimits(
    customerId: string,
    limits: Record<string, ModelLimits> | undefined,
  ): Promise<boolean> {
    return setUsageTierLimits(this.customers, customerId, limits);
  }

  async setTier(
    customerId: string,
    tier: TierName,
  ): Promise<{ changed: boolean; customer: CustomerRecord }> {
    const customer = await this.customers.getCustomer(customerId);
    if (!customer) throw new TierSwitchError(`No customer with id ${customerId}.`, 'not_found');
    if (
      customer.status !== 'active' ||
      !customer.keyHash ||
      !(customer.apiGatewayKeyId || customer.sharedUsageKey)
    ) {
      throw new TierSwitchError(
        `Customer ${customerId} is ${customer.status}, not active.`,
        'wrong_state',
      );
    }
    if (!customer.apiGatewayKeyId) return this.setPooledCustomerTier(customer, tier);
    const target = await this.tierPlanId(tier);
    if (customer.tier === tier && customer.usagePlanId === target && !customer.customPlan) {
      return { changed: false, customer };
    }
    await this.planKeys.moveKey(customer.apiGatewayKeyId, customer.usagePlanId, target);
    // The custom plan ends here: its limits and their mark go in the same write as the tier.
    await this.customers.updateCustomerKeys(customerId, customer.keyHash, { tier }, [
      'customModelLimits',
      'customPlanLimits',
    ]);
    // The custom plan goes before the record forgets it, so a failure here is finished by a re-run.
    if (customer.customPlan) await this.planKeys.deleteUsagePlan(customer.customPlan.usagePlanId);
    await this.customers.updateCustomer(
      customerId,
      { tier, usagePlanId: target },
      { remove: ['customPlan'] },
    );
    const updated = await this.customers.getCustomer(customerId);
    return { changed: true, customer: updated ?? customer };
  }

  /**
   * A customer on a shared pool key: to another pooled tier it takes that pool's key (no API
   * Gateway call); to a tier without a pool it gets its own key on the tier's plan, and its keys
   * (primary, named, project and admin alike) take that key's value, once the key is on the plan
   * (a key on no plan is refused at the edge). A pooled customer has no custom plan: those need a
   * key of its own (cli/plans/plan-operations.ts).
   */
  private async setPooledCustomerTier(
    customer: CustomerRecord,
    tier: TierName,
  ): Promise<{ changed: boolean; customer: CustomerRecord }> {
    const { customerId, keyHash } = customer;
    const pooled = pooledUsageIdentifier(this.config, tier, customerId);
    if (pooled) {
      if (customer.tier === tier && customer.sharedUsageKey === pooled) {
        return { changed: false, customer };
      }
      await this.customers.updateCustomerKeys(customerId, keyHash, {
        tier,
        usageIdentifierKey: pooled,
      });
      await this.customers.updateCustomer(customerId, { tier, sharedUsageKey: pooled });
    } else {
      const target = await this.tierPlanId(tier);
      const key = await this.dedicatedKey(customer);
      await this.planKeys.attachKey(key.id, target);
      await this.customers.updateCustomerKeys(customerId, keyHash, {
        tier,
        usageIdentifierKey: key.value,
      });
      await this.customers.updateCustomer(
        customerId,
        { tier, usagePlanId: target, apiGatewayKeyId: key.id },
        { remove: ['sharedUsageKey', 'pendingUsageKey'] },
      );
    }
    const updated = await this.customers.getCustomer(customerId);
    return { changed: true, customer: updated ?? customer };
  }

  /**
   * The customer's own API Gateway key, made once however often this runs or crashes. Its value is
   * chosen first and kept on the customer (`pendingUsageKey`, one conditional write, so two
   * concurrent switches choose the same); API Gateway refuses a second key of the same value
   * (ConflictException), so the value names the key: found by it, it is not made again.
   */
  private async dedicatedKey(customer: CustomerRecord): Promise<{ id: string; value: string }> {
    const value = customer.pendingUsageKey ?? (await this.claimUsageKey(customer.customerId));
    const existing = await this.findKeyByValue(customer.customerId, value);
    if (existing) return existing;
    try {
      const env = this.config.environment.name;
      const id = await createGatewayKey(this.apiGateway, env, customer.customerId, value);
      return { id, value };
    } catch (error) {
      if (errorName(error) !== 'ConflictException') throw error;
      // A concurrent switch made it between the look-up and the create.
      const made = await this.findKeyByValue(customer.customerId, value);
      if (!made) throw error;
      return made;
    }
  }

  private async claimUsageKey(customerId: string): Promise<string> {
    const chosen = randomBase62(40);
    const claim = this.customers.updateCustomer(
      customerId,
      { pendingUsageKey: chosen },
      { absent: 'pendingUsageKey' },
    );
    if (await applied(claim)) return chosen;
    const claimed = (await this.customers.getCustomer(customerId))?.pendingUsageKey;
    if (!claimed) throw new Error(`customer ${customerId} lost its chosen usage key`);
    return claimed;
  }

  private async findKeyByValue(
    customerId: string,
    value: string,
  ): Promise<{ id: string; value: string } | undefined> {
    const name = apiGatewayKeyName(this.config.environment.name, customerId);
    const { items = [] } = await this.apiGateway.send(
      new GetApiKeysCommand({ nameQuery: name, includeValues: true, limit: 500 }),
    );
    const key = items.find((k: ApiKey) => k.name === name && k.value === value && k.id);
    return key?.id ? { id: key.id, value } : undefined;
  }
}

/**
 * Environment variable of the functions that switch tiers outside the CLI (billing's webhook and
 * hourly run): the JSON of {@link UsagePlanSettings}, set by their CDK construct.
 */
export const USAGE_PLANS_ENV = 'TIERLINE_USAGE_PLANS';

/** Reads {@link USAGE_PLANS_ENV}, with an error that names what is missing. */
export function usagePlanSettingsFrom(text: string | undefined): UsagePlanSettings {
  const parsed = JSON.parse(text ?? 'null') as Partial<UsagePlanSettings> | null;
  if (!parsed?.apiId || !parsed.stageName || !(parsed.usagePlanIds || parsed.usagePlanNames)) {
    throw new Error(
      `Environment variable ${USAGE_PLANS_ENV} must hold {apiId, stageName, usagePlanNames}: the ` +
        "function's CDK construct sets it.",
    );
  }
  return parsed as UsagePlanSettings;
}
