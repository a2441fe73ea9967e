import {
  CreateUsagePlanCommand,
  type Op,
  type PatchOperation,
  UpdateUsagePlanCommand,
} from '@aws-sdk/client-api-gateway';
import type { z } from 'zod';
import type { CustomerRecord } from '../../lambda/customers/customers-repository';
import type { CustomPlan } from '../../lambda/customers/plans';
import { edgeSchema, modelLimitsSchema, type TierName } from '../../lib/config/schema';
import type { OperatorContext } from '../operator-context';
import { invalid, OperatorError } from '../operator-errors';

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
 * The operator's commands against one deployment. Every command is safe to re-run: it reads the
 * current

/** `plans ...`: Enterprise custom plans and the list of plans. */
export class PlanOperations {
  constructor(private readonly ctx: OperatorContext) {}

  /** Gives an Enterprise customer its own usage plan and per-model limits; re-running updates them. */
  async createCustomPlan(customerId: string, input: CustomPlanInput): Promise<CustomerRecord> {
    const edge = edgeSchema.safeParse({
      rateLimit: input.rateLimit,
      burstLimit: input.burstLimit,
      quota: input.quota,
    });
    if (!edge.success) throw invalid(edge.error);
    const models: Record<string, z.infer<typeof modelLimitsSchema>> = {};
    const offered = this.ctx.deps.config.tiers.enterprise.models;
    for (const [model, limits] of Object.entries(input.models)) {
      if (!Object.hasOwn(offered, model)) {
        throw new OperatorError(
          `Model ${model} is not offered on the enterprise tier (offered: ${Object.keys(offered).join(', ')}).`,
          'invalid_input',
        );
      }
      const parsed = modelLimitsSchema.safeParse(limits);
      if (!parsed.success) throw invalid(parsed.error);
      models[model] = parsed.data;
    }
    const customer = await this.ctx.getActiveCustomer(customerId);
    if (customer.tier !== 'enterprise') {
      throw new OperatorError(
        `Custom plans are for Enterprise customers; ${customerId} is on ${customer.tier}. ` +
          `Run "customers set-tier ${customerId} enterprise" first.`,
        'wrong_state',
      );
    }
    const { apiGatewayKeyId } = customer;
    if (!apiGatewayKeyId) {
      // Only where the config pools Enterprise keys (tiers.enterprise.edgePool): a custom plan's
      // throttle must hold for this customer alone, and a pool key is shared.
      throw new OperatorError(
        `${customerId} shares a pooled API Gateway key; a custom plan needs a key of its own. ` +
          'Set tiers.enterprise.edgePool to null, deploy, and move the customer off and back on its tier.',
        'wrong_state',
      );
    }

    const { apiGateway, settings } = this.ctx.deps;
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
      const name = this.ctx.customPlanName(customerId);
      const leftover = await this.ctx.findUsagePlanByName(name);
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
            tags: { project: 'tierline', environment: this.ctx.env, customerId },
          }),
        );
        if (!plan.id) throw new Error('API Gateway returned no id for the new usage plan');
        usagePlanId = plan.id;
        created = true;
      }
      try {
        await this.ctx.moveKey(apiGatewayKeyId, customer.usagePlanId, usagePlanId);
      } catch (error) {
        if (created) await this.ctx.deleteUsagePlan(usagePlanId).catch(() => undefined);
        throw error;
      }
    }

    const customPlan: CustomPlan = { usagePlanId, edge: edge.data, models };
    // Marked as the plan's on each key in the same write: usage tiers then never write over them.
    if (Object.keys(models).length > 0) {
      await this.ctx.deps.customers.updateCustomerKeys(customerId, customer.keyHash, {
        customModelLimits: models,
        customPlanLimits: true,
      });
    } else {
      await this.ctx.deps.customers.updateCustomerKeys(
        customerId,
        customer.keyHash,
        { customPlanLimits: true },
        ['customModelLimits'],
      );
    }
    await this.ctx.deps.customers.updateCustomer(customerId, { customPlan, usagePlanId });
    return this.ctx.getCustomer(customerId);
  }

  private planPatch(hadQuota: boolean, edge: CustomPlan['edge']): PatchOperation[] {
    const replace = (path: string, value: string | number) => ({
      op: 'replace' as Op,
      path,
      value: String(value),
    });
    const patch: PatchOperation[] = [
      replace('/throttle/rateLimit', edge.rateLimit),
      replace('/throttle/burstLimit', edge.burstLimit),
    ];
    if (edge.quota) {
      patch.push(
        replace('/quota/limit', edge.quota.limit),
        replace('/quota/period', edge.quota.period),
      );
    } else if (hadQuota) {
      patch.push({ op: 'remove', path: '/quota' });
    }
    return patch;
  }

  /** The tier plans of this deployment and every custom plan, as API Gateway has them now. */
  async listPlans(): Promise<PlanSummary[]> {
    const tierByPlanId = new Map(
      Object.entries(this.ctx.deps.settings.usagePlanIds).map(([tier, id]) => [id, tier]),
    );
    const customPrefix = this.ctx.customPlanName('');
    return (await this.ctx.allUsagePlans())
      .filter(
        (plan) => plan.id && (tierByPlanId.has(plan.id) || plan.name?.startsWith(customPrefix)),
      )
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
