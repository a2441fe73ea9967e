import {
  type APIGatewayClient,
  CreateApiKeyCommand,
  CreateUsagePlanCommand,
  CreateUsagePlanKeyCommand,
  DeleteApiKeyCommand,
  DeleteUsagePlanCommand,
  DeleteUsagePlanKeyCommand,
  GetApiKeysCommand,
  GetUsagePlansCommand,
  type Op,
  type PatchOperation,
  UpdateUsagePlanCommand,
  type UsagePlan,
} from '@aws-sdk/client-api-gateway';
import { z } from 'zod';
import { issueApiKey, randomBase62 } from '../lambda/customers/api-keys';
import type { CustomerRecord, CustomersRepository } from '../lambda/customers/customers-repository';
import type { CustomPlan } from '../lambda/customers/plans';
import type { LedgerRecord, LedgerWriter } from '../lambda/metering/ledger';
import { setSpendLimit } from '../lambda/metering/spend-limit-settings';
import { HttpError } from '../lambda/openai/errors';
import { edgeSchema, modelLimitsSchema, TIER_NAMES, type TierlineConfig, type TierName } from '../lib/config/schema';
import type { OperatorSettings } from '../lib/operator-settings';
import type { DeadLetterSource } from './dead-letters';

/** A failure the operator can act on: printed without a stack trace. */
export class OperatorError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'OperatorError';
  }
}

export interface OperatorDependencies {
  customers: CustomersRepository;
  /** Usage records that failed to reach the ledger, and the ledger to replay them into. */
  usage?: {
    deadLetters: DeadLetterSource;
    ledger: Pick<LedgerWriter, 'put'>;
    /** Runs after a replayed record was written (local mode recomputes its aggregates). */
    afterWrite?: (record: LedgerRecord) => Promise<void>;
  };
  apiGateway: APIGatewayClient;
  settings: OperatorSettings;
  config: TierlineConfig;
  /** New customer ids; random by default. */
  newCustomerId?: () => string;
}

const newCustomerIdDefault = () => `cus_${randomBase62(20)}`;

const createCustomerInput = z.object({
  name: z.string().trim().min(1, 'name must not be empty').max(200),
  email: z
    .string()
    .trim()
    .toLowerCase()
    .regex(/^[^\s@]+@[^\s@]+\.[^\s@]+$/, 'email must look like name@example.com'),
  tier: z.enum(TIER_NAMES, { message: `tier must be one of ${TIER_NAMES.join(', ')}` }),
});

function invalid(error: z.ZodError): OperatorError {
  return new OperatorError(
    error.issues.map((issue) => `${issue.path.join('.') || 'input'}: ${issue.message}`).join('\n'),
    2,
  );
}

function errorName(error: unknown): string | undefined {
  return error instanceof Error ? error.name : undefined;
}

/** Runs `action`, treating the named API Gateway errors as "already in the wanted state". */
async function tolerate(action: () => Promise<unknown>, ...names: string[]): Promise<void> {
  try {
    await action();
  } catch (error) {
    if (!names.includes(errorName(error) ?? '')) throw error;
  }
}

export interface CreatedCustomer {
  /** False when a customer with this e-mail already existed: nothing was changed and no key is shown. */
  created: boolean;
  customer: CustomerRecord;
  /** The new key, present only when `created`: shown once, never stored. */
  apiKey?: string;
}

export interface CustomPlanInput {
  rateLimit: number;
  burstLimit: number;
  quota?: { limit: number; period: 'DAY' | 'WEEK' | 'MONTH' };
  models: Record<string, { rpm: number; rpd: number; tpm: number; tpd: number }>;
}

export interface PlanSummary {
  id: string;
  name: string;
  /** The tier for a tier plan, or `custom`. */
  kind: TierName | 'custom';
  customerId?: string;
  throttle?: { rateLimit?: number; burstLimit?: number };
  quota?: { limit?: number; period?: string };
}

/**
 * The operator's commands against one deployment. Every command is safe to re-run: it reads the current
 * state and only does what is missing. A command that fails half way undoes what it created, and a command
 * interrupted outright (crash, Ctrl-C) leaves a marker that the next run of the same command cleans up.
 */
export class Operator {
  private readonly newCustomerId: () => string;

  constructor(private readonly deps: OperatorDependencies) {
    this.newCustomerId = deps.newCustomerId ?? newCustomerIdDefault;
  }

  private get env(): string {
    return this.deps.config.environment.name;
  }

  /** API Gateway key name of a customer: unique, so a retry finds what an interrupted run created. */
  apiGatewayKeyName(customerId: string): string {
    return `tierline-${this.env}-${customerId}`;
  }

  customPlanName(customerId: string): string {
    return `tierline-${this.env}-custom-${customerId}`;
  }

  private tierPlanId(tier: TierName): string {
    const id = this.deps.settings.usagePlanIds[tier];
    if (!id) throw new OperatorError(`The deployment has no usage plan for tier "${tier}": redeploy the API stack.`);
    return id;
  }

  async getCustomer(customerId: string): Promise<CustomerRecord> {
    const customer = await this.deps.customers.getCustomer(customerId);
    if (!customer) throw new OperatorError(`No customer with id ${customerId}.`);
    return customer;
  }

  private async getActiveCustomer(
    customerId: string,
  ): Promise<CustomerRecord & { keyHash: string; apiGatewayKeyId: string }> {
    const customer = await this.getCustomer(customerId);
    if (customer.status !== 'active' || !customer.keyHash || !customer.apiGatewayKeyId) {
      throw new OperatorError(`Customer ${customerId} is ${customer.status}, not active.`);
    }
    return customer as CustomerRecord & { keyHash: string; apiGatewayKeyId: string };
  }

  async listCustomers(options: { limit?: number; cursor?: string } = {}) {
    return this.deps.customers.listCustomers(options);
  }

  async createCustomer(input: { name: string; email: string; tier: string }): Promise<CreatedCustomer> {
    const parsed = createCustomerInput.safeParse(input);
    if (!parsed.success) throw invalid(parsed.error);
    const { name, email, tier } = parsed.data;
    const { customers, apiGateway } = this.deps;

    const candidateId = this.newCustomerId();
    const customerId = await customers.claimEmail(email, candidateId);
    let createdAt = new Date().toISOString();
    if (customerId !== candidateId) {
      const existing = await customers.getCustomer(customerId);
      if (existing?.status === 'active') return { created: false, customer: existing };
      if (existing?.status === 'revoked' || existing?.status === 'revoking') {
        throw new OperatorError(`${email} belongs to revoked customer ${customerId}: use another e-mail address.`);
      }
      // An earlier run stopped half way: clean up what it left and finish under the same id.
      await this.cleanUpInterruptedCreate(customerId, existing);
      createdAt = existing?.createdAt ?? createdAt;
    }

    const issued = issueApiKey();
    const usageIdentifierKey = randomBase62(40);
    const pending: CustomerRecord = {
      customerId,
      name,
      email,
      tier,
      status: 'creating',
      pendingKeyHash: issued.hash,
      createdAt,
      updatedAt: new Date().toISOString(),
    };
    let apiGatewayKeyId: string | undefined;
    let keyWritten = false;
    try {
      await customers.putCustomer(pending);
      const apiKey = await apiGateway.send(
        new CreateApiKeyCommand({
          name: this.apiGatewayKeyName(customerId),
          description: `Tierline usage identifier of ${customerId} (not the customer's secret)`,
          value: usageIdentifierKey,
          enabled: true,
          tags: { project: 'tierline', environment: this.env, customerId },
        }),
      );
      apiGatewayKeyId = apiKey.id;
      if (!apiGatewayKeyId) throw new Error('API Gateway returned no id for the new API key');
      const usagePlanId = this.tierPlanId(tier);
      await apiGateway.send(new CreateUsagePlanKeyCommand({ usagePlanId, keyId: apiGatewayKeyId, keyType: 'API_KEY' }));
      await customers.putKey({
        keyHash: issued.hash,
        customerId,
        tier,
        usageIdentifierKey,
        status: 'active',
        createdAt: new Date().toISOString(),
      });
      keyWritten = true;
      await customers.updateCustomer(
        customerId,
        { status: 'active', keyHash: issued.hash, keyHint: issued.hint, apiGatewayKeyId, usagePlanId },
        { remove: ['pendingKeyHash'] },
      );
    } catch (error) {
      await this.undoCreate({ customerId, email, apiGatewayKeyId, keyHash: keyWritten ? issued.hash : undefined });
      throw this.explainApiGatewayLimit(error);
    }
    return { created: true, customer: await this.getCustomer(customerId), apiKey: issued.key };
  }

  /** Removes what an interrupted `create` left: its pending key item and its API Gateway key(s). */
  private async cleanUpInterruptedCreate(customerId: string, existing: CustomerRecord | undefined): Promise<void> {
    if (existing?.pendingKeyHash) await this.deps.customers.deleteKey(existing.pendingKeyHash);
    const name = this.apiGatewayKeyName(customerId);
    const { items = [] } = await this.deps.apiGateway.send(new GetApiKeysCommand({ nameQuery: name, limit: 500 }));
    for (const key of items.filter((k) => k.name === name && k.id)) {
      await tolerate(() => this.deps.apiGateway.send(new DeleteApiKeyCommand({ apiKey: key.id })), 'NotFoundException');
    }
  }

  /** Best-effort undo of a failed `create`; says what it could not undo, so nothing is silently left. */
  private async undoCreate(created: {
    customerId: string;
    email: string;
    apiGatewayKeyId?: string;
    keyHash?: string;
  }): Promise<void> {
    const { customers, apiGateway } = this.deps;
    const steps: [string, () => Promise<unknown>][] = [];
    if (created.keyHash) {
      const keyHash = created.keyHash;
      steps.push(['key item', () => customers.deleteKey(keyHash)]);
    }
    if (created.apiGatewayKeyId) {
      const apiKey = created.apiGatewayKeyId;
      steps.push([
        `API Gateway key ${apiKey}`,
        () => tolerate(() => apiGateway.send(new DeleteApiKeyCommand({ apiKey })), 'NotFoundException'),
      ]);
    }
    steps.push(['customer item', () => customers.deleteCustomer(created.customerId)]);
    steps.push(['e-mail claim', () => customers.releaseEmail(created.email, created.customerId)]);
    const failed: string[] = [];
    for (const [what, step] of steps) {
      try {
        await step();
      } catch {
        failed.push(what);
      }
    }
    if (failed.length > 0) {
      throw new OperatorError(
        `Creating ${created.customerId} failed and could not undo: ${failed.join(', ')}. ` +
          `Run the same "customers create" again: it finds ${created.customerId} and cleans it up.`,
      );
    }
  }

  private explainApiGatewayLimit(error: unknown): unknown {
    if (errorName(error) === 'LimitExceededException') {
      return new OperatorError(
        'API Gateway refused a new API key: a region holds at most 10,000 API keys and this cannot be raised. ' +
          'Revoke unused customers (revoke deletes their API Gateway key) or deploy a second region. See README, ' +
          '"Past 10,000 customers".',
      );
    }
    return error;
  }

  /** Moves an API Gateway key from one usage plan to another; undoes the removal if the move fails. */
  /**
   * Puts a key on a usage plan. API Gateway answers ConflictException both when the key is already on that
   * plan (done) and when it is still on another plan of the stage (a move interrupted earlier): then the key
   * leaves that plan and the attach is tried again.
   */
  private async attachKey(keyId: string, usagePlanId: string): Promise<void> {
    const { apiGateway } = this.deps;
    const attach = () => apiGateway.send(new CreateUsagePlanKeyCommand({ usagePlanId, keyId, keyType: 'API_KEY' }));
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

  private async moveKey(keyId: string, from: string | undefined, to: string): Promise<void> {
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
          () => apiGateway.send(new CreateUsagePlanKeyCommand({ usagePlanId: from, keyId, keyType: 'API_KEY' })),
          'ConflictException',
        ).catch(() => undefined);
      }
      throw error;
    }
  }

  async setTier(customerId: string, tierInput: string): Promise<{ changed: boolean; customer: CustomerRecord }> {
    const tier = createCustomerInput.shape.tier.safeParse(tierInput);
    if (!tier.success) throw invalid(tier.error);
    const customer = await this.getActiveCustomer(customerId);
    const target = this.tierPlanId(tier.data);
    if (customer.tier === tier.data && customer.usagePlanId === target && !customer.customPlan) {
      return { changed: false, customer };
    }
    await this.moveKey(customer.apiGatewayKeyId, customer.usagePlanId, target);
    await this.deps.customers.updateKey(customer.keyHash, { tier: tier.data }, ['customModelLimits']);
    // The custom plan goes before the record forgets it, so a failure here is finished by a re-run.
    if (customer.customPlan) await this.deleteUsagePlan(customer.customPlan.usagePlanId);
    await this.deps.customers.updateCustomer(
      customerId,
      { tier: tier.data, usagePlanId: target },
      { remove: ['customPlan'] },
    );
    return { changed: true, customer: await this.getCustomer(customerId) };
  }

  async rotateKey(customerId: string): Promise<{ customer: CustomerRecord; apiKey: string }> {
    const { customers } = this.deps;
    const customer = await this.getActiveCustomer(customerId);
    const current = await customers.getKey(customer.keyHash);
    if (current?.status !== 'active') {
      throw new OperatorError(`The key of ${customerId} is not active: revoke and re-create the customer.`);
    }
    // A rotation interrupted before it finished left a key nobody was shown: remove it; and one interrupted
    // after the switch left the previous key working: revoke it now.
    if (customer.pendingKeyHash) await customers.deleteKey(customer.pendingKeyHash);
    await this.revokePreviousKey(customer);

    const issued = issueApiKey();
    await customers.updateCustomer(customerId, { pendingKeyHash: issued.hash }, { expectedKeyHash: customer.keyHash });
    await customers.putKey({
      ...current,
      keyHash: issued.hash,
      status: 'active',
      createdAt: new Date().toISOString(),
    });
    try {
      await customers.updateCustomer(
        customerId,
        { keyHash: issued.hash, keyHint: issued.hint, previousKeyHash: customer.keyHash },
        { remove: ['pendingKeyHash'], expectedKeyHash: customer.keyHash },
      );
    } catch (error) {
      await customers.deleteKey(issued.hash);
      throw error;
    }
    // The old key stops working once API Gateway's cached authorizer decision expires.
    await this.revokePreviousKey(await this.getCustomer(customerId));
    return { customer: await this.getCustomer(customerId), apiKey: issued.key };
  }

  /** Revokes the key a rotation replaced; the marker stays until that has happened, so a re-run finishes it. */
  private async revokePreviousKey(customer: CustomerRecord): Promise<void> {
    if (!customer.previousKeyHash) return;
    await this.deps.customers.updateKey(customer.previousKeyHash, { status: 'revoked' });
    await this.deps.customers.updateCustomer(customer.customerId, {}, { remove: ['previousKeyHash'] });
  }

  async revoke(customerId: string): Promise<CustomerRecord> {
    const { customers, apiGateway } = this.deps;
    const customer = await this.getCustomer(customerId);
    // First, so no other command treats the customer as active while the revocation is under way (or after
    // it failed half way); re-running `revoke` finishes it.
    if (customer.status !== 'revoked') await customers.updateCustomer(customerId, { status: 'revoking' });
    if (customer.status === 'creating') {
      // A create that never finished: its API Gateway key is only known by name.
      await this.cleanUpInterruptedCreate(customerId, customer);
    }
    if (customer.keyHash) await customers.updateKey(customer.keyHash, { status: 'revoked' });
    if (customer.previousKeyHash) await customers.updateKey(customer.previousKeyHash, { status: 'revoked' });
    if (customer.pendingKeyHash) await customers.deleteKey(customer.pendingKeyHash);
    if (customer.apiGatewayKeyId) {
      const apiKey = customer.apiGatewayKeyId;
      // Deleting (not disabling) frees one of the region's 10,000 API key slots.
      await tolerate(() => apiGateway.send(new DeleteApiKeyCommand({ apiKey })), 'NotFoundException');
    }
    if (customer.customPlan) await this.deleteUsagePlan(customer.customPlan.usagePlanId);
    await customers.updateCustomer(
      customerId,
      { status: 'revoked' },
      { remove: ['apiGatewayKeyId', 'usagePlanId', 'pendingKeyHash', 'previousKeyHash', 'customPlan'] },
    );
    return this.getCustomer(customerId);
  }

  private async deleteUsagePlan(usagePlanId: string): Promise<void> {
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
    await tolerate(() => apiGateway.send(new DeleteUsagePlanCommand({ usagePlanId })), 'NotFoundException');
  }

  private async findUsagePlanByName(name: string): Promise<UsagePlan | undefined> {
    return (await this.allUsagePlans()).find((plan) => plan.name === name);
  }

  private async allUsagePlans(): Promise<UsagePlan[]> {
    const plans: UsagePlan[] = [];
    let position: string | undefined;
    do {
      const page = await this.deps.apiGateway.send(new GetUsagePlansCommand({ position, limit: 500 }));
      plans.push(...(page.items ?? []));
      position = page.position;
    } while (position);
    return plans;
  }

  /** Gives an Enterprise customer its own usage plan and per-model limits; re-running updates them. */
  async createCustomPlan(customerId: string, input: CustomPlanInput): Promise<CustomerRecord> {
    const edge = edgeSchema.safeParse({ rateLimit: input.rateLimit, burstLimit: input.burstLimit, quota: input.quota });
    if (!edge.success) throw invalid(edge.error);
    const models: Record<string, z.infer<typeof modelLimitsSchema>> = {};
    const offered = this.deps.config.tiers.enterprise.models;
    for (const [model, limits] of Object.entries(input.models)) {
      if (!(model in offered)) {
        throw new OperatorError(
          `Model ${model} is not offered on the enterprise tier (offered: ${Object.keys(offered).join(', ')}).`,
          2,
        );
      }
      const parsed = modelLimitsSchema.safeParse(limits);
      if (!parsed.success) throw invalid(parsed.error);
      models[model] = parsed.data;
    }
    const customer = await this.getActiveCustomer(customerId);
    if (customer.tier !== 'enterprise') {
      throw new OperatorError(
        `Custom plans are for Enterprise customers; ${customerId} is on ${customer.tier}. ` +
          `Run "customers set-tier ${customerId} enterprise" first.`,
        2,
      );
    }

    const { apiGateway, settings } = this.deps;
    let usagePlanId: string;
    if (customer.customPlan) {
      usagePlanId = customer.customPlan.usagePlanId;
      await apiGateway.send(
        new UpdateUsagePlanCommand({
          usagePlanId,
          patchOperations: this.planPatch(customer.customPlan.edge.quota !== undefined, edge.data),
        }),
      );
    } else {
      const name = this.customPlanName(customerId);
      const leftover = await this.findUsagePlanByName(name);
      let created = false;
      if (leftover?.id) {
        usagePlanId = leftover.id;
        await apiGateway.send(
          new UpdateUsagePlanCommand({
            usagePlanId,
            patchOperations: this.planPatch(leftover.quota !== undefined, edge.data),
          }),
        );
      } else {
        const plan = await apiGateway.send(
          new CreateUsagePlanCommand({
            name,
            description: `Tierline custom plan of ${customerId}`,
            throttle: { rateLimit: edge.data.rateLimit, burstLimit: edge.data.burstLimit },
            quota: edge.data.quota,
            apiStages: [{ apiId: settings.apiId, stage: settings.stageName }],
            tags: { project: 'tierline', environment: this.env, customerId },
          }),
        );
        if (!plan.id) throw new Error('API Gateway returned no id for the new usage plan');
        usagePlanId = plan.id;
        created = true;
      }
      try {
        await this.moveKey(customer.apiGatewayKeyId, customer.usagePlanId, usagePlanId);
      } catch (error) {
        if (created) await this.deleteUsagePlan(usagePlanId).catch(() => undefined);
        throw error;
      }
    }

    const customPlan: CustomPlan = { usagePlanId, edge: edge.data, models };
    if (Object.keys(models).length > 0) {
      await this.deps.customers.updateKey(customer.keyHash, { customModelLimits: models });
    } else {
      await this.deps.customers.updateKey(customer.keyHash, {}, ['customModelLimits']);
    }
    await this.deps.customers.updateCustomer(customerId, { customPlan, usagePlanId });
    return this.getCustomer(customerId);
  }

  private planPatch(hadQuota: boolean, edge: CustomPlan['edge']): PatchOperation[] {
    const replace = (path: string, value: string | number) => ({ op: 'replace' as Op, path, value: String(value) });
    const patch: PatchOperation[] = [
      replace('/throttle/rateLimit', edge.rateLimit),
      replace('/throttle/burstLimit', edge.burstLimit),
    ];
    if (edge.quota) {
      patch.push(replace('/quota/limit', edge.quota.limit), replace('/quota/period', edge.quota.period));
    } else if (hadQuota) {
      patch.push({ op: 'remove', path: '/quota' });
    }
    return patch;
  }

  /** Sets (or with null removes) a customer's monthly spend limit in USD. */
  async setSpendLimit(customerId: string, limitUsd: number | null): Promise<CustomerRecord> {
    try {
      return await setSpendLimit(this.deps.customers, this.deps.config, customerId, limitUsd);
    } catch (error) {
      if (error instanceof HttpError) throw new OperatorError(error.message, error.status < 500 ? 2 : 1);
      throw error;
    }
  }

  /**
   * Puts the usage records waiting in the ledger's dead letters into the ledger. Idempotent: a record already
   * in the ledger counts as a duplicate and is not billed twice. What fails again stays for the next run.
   */
  async replayDeadLetters(): Promise<{ written: number; duplicate: number; failed: number }> {
    const usage = this.deps.usage;
    if (!usage) throw new OperatorError('This deployment has no ledger dead letters configured.');
    const counts = { written: 0, duplicate: 0, failed: 0 };
    await usage.deadLetters.drain(async (record) => {
      try {
        const result = await usage.ledger.put(record);
        counts[result] += 1;
        if (result === 'written') await usage.afterWrite?.(record);
        return true;
      } catch {
        counts.failed += 1;
        return false;
      }
    });
    return counts;
  }

  /** The tier plans of this deployment and every custom plan, as API Gateway has them now. */
  async listPlans(): Promise<PlanSummary[]> {
    const tierByPlanId = new Map(Object.entries(this.deps.settings.usagePlanIds).map(([tier, id]) => [id, tier]));
    const customPrefix = this.customPlanName('');
    return (await this.allUsagePlans())
      .filter((plan) => plan.id && (tierByPlanId.has(plan.id) || plan.name?.startsWith(customPrefix)))
      .map((plan) => {
        const tier = tierByPlanId.get(plan.id as string) as TierName | undefined;
        return {
          id: plan.id as string,
          name: plan.name ?? '',
          kind: tier ?? 'custom',
          ...(tier ? {} : { customerId: plan.name?.slice(customPrefix.length) }),
          throttle: plan.throttle,
          quota: plan.quota,
        };
      });
  }
}
