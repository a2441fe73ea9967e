import type { CustomerRecord } from '../../lambda/customers/customers-repository';
import { planView } from '../../lambda/customers/plans';
import { formatUsd, MICRO_USD_PER_USD } from '../../lambda/metering/pricing';
import type { CustomerMonthUsage, UsageLine } from '../../lambda/metering/usage-report';
import type { OperatorContext } from '../operator-context';

/** One model's limits as the customer's plan sets them (its custom plan's for Enterprise). */
export interface ModelLimitsView {
  model: string;
  requests_per_minute: number;
  requests_per_day: number;
  tokens_per_minute: number;
  tokens_per_day: number;
}

/** `customers show`: the customer, its plan's limits, its spend limit and this month's usage and spend. */
export interface CustomerOverview {
  customer: CustomerRecord;
  plan: {
    tier: string;
    custom: boolean;
    models: ModelLimitsView[];
    edge: {
      requests_per_second: number;
      burst: number;
      quota: { limit: number; period: string } | null;
      shared: boolean;
    };
  };
  /** The monthly limit that binds (the customer's own, or its tier's default); null: none. */
  spendLimitUsd: number | null;
  /** From the usage aggregates and the month's spend item; null where the deployment has no metering table. */
  usage: CustomerMonthUsage | null;
}

export async function customerOverview(
  ctx: OperatorContext,
  customerId: string,
  month: string,
): Promise<CustomerOverview> {
  const customer = await ctx.getCustomer(customerId);
  const { config } = ctx.deps;
  const view = planView(
    config,
    customer.tier,
    customer.customPlan,
    customer.sharedUsageKey !== undefined,
  );
  const tierDefault = config.tiers[customer.tier].spendLimit.defaultMonthlyUsd;
  const usage = ctx.deps.usageReports
    ? ((await ctx.deps.usageReports.show(customerId, month)) ?? null)
    : null;
  return {
    customer,
    plan: {
      tier: customer.tier,
      custom: customer.customPlan !== undefined,
      models: view.models.map((m) => ({ model: m.id, ...m.limits })),
      edge: view.edge,
    },
    spendLimitUsd: customer.spendLimitUsd ?? tierDefault ?? null,
    usage,
  };
}

const usd = (microUsd: number) => `$${formatUsd(microUsd)}`;
const lineJson = (l: UsageLine) => ({
  requests: l.requests,
  input_tokens: l.inputTokens,
  output_tokens: l.outputTokens,
  cost_usd: formatUsd(l.costMicroUsd),
});

/**
 * The JSON of `customers show --json`: the customer's fields as before, plus `plan`,
 * `spend_limit_usd` and `usage` (amounts as exact USD strings, as the API writes them).
 */
export function overviewJson(o: CustomerOverview, customer: Record<string, unknown>) {
  return {
    ...customer,
    plan: o.plan,
    spend_limit_usd: o.spendLimitUsd,
    usage: o.usage
      ? {
          month: o.usage.month,
          models: Object.fromEntries(
            Object.entries(o.usage.models).map(([m, l]) => [m, lineJson(l)]),
          ),
          total: lineJson(o.usage.total),
          spend: {
            settled_usd: formatUsd(o.usage.spend.committedMicroUsd),
            in_flight_usd: formatUsd(o.usage.spend.reservedMicroUsd),
          },
        }
      : null,
  };
}

/** The plan, spend limit and month lines `customers show` prints under the customer. */
export function overviewText(o: CustomerOverview): string {
  const lines = [`  limits per model (${o.plan.custom ? 'custom plan' : `${o.plan.tier} tier`}):`];
  for (const m of o.plan.models) {
    lines.push(
      `    ${m.model.padEnd(28)} ${m.requests_per_minute} RPM, ${m.requests_per_day} RPD, ${m.tokens_per_minute} TPM, ${m.tokens_per_day} TPD`,
    );
  }
  const { edge } = o.plan;
  lines.push(
    `  edge: ${edge.requests_per_second} req/s, burst ${edge.burst}${edge.quota ? `, quota ${edge.quota.limit}/${edge.quota.period}` : ''}${edge.shared ? " (shared with its pool key's group)" : ''}`,
  );
  lines.push(
    `  spend limit: ${o.spendLimitUsd === null ? 'none' : `${usd(Math.round(o.spendLimitUsd * MICRO_USD_PER_USD))} per month`}`,
  );
  if (!o.usage) {
    lines.push('  usage: (this deployment has no metering table)');
    return lines.join('\n');
  }
  const u = o.usage;
  const total = u.total;
  lines.push(
    `  usage ${u.month}: ${total.requests} requests, ${total.inputTokens} input + ${total.outputTokens} output tokens, ${usd(total.costMicroUsd)}`,
  );
  for (const [model, l] of Object.entries(u.models)) {
    lines.push(
      `    ${model.padEnd(28)} ${l.requests} requests, ${l.inputTokens} + ${l.outputTokens} tokens, ${usd(l.costMicroUsd)}`,
    );
  }
  lines.push(
    `  spend this month: ${usd(u.spend.committedMicroUsd)} settled, ${usd(u.spend.reservedMicroUsd)} in flight`,
  );
  return lines.join('\n');
}
