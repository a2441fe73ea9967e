import { type IRestApi, Period, type Stage, UsagePlan } from 'aws-cdk-lib/aws-apigateway';
import { Construct } from 'constructs';
import { TIER_NAMES, type TierlineConfig, type TierName } from '../../config/schema';

export interface TierUsagePlansProps {
  readonly config: TierlineConfig;
  readonly api: IRestApi;
  readonly stage: Stage;
}

/** `free` -> `Free`: construct ids stay the same when limits change, so plans update in place. */
const constructIdOf = (tier: TierName) => `${tier[0]?.toUpperCase()}${tier.slice(1)}`;

/**
 * One API Gateway usage plan per tier: the edge shield that counts requests per customer key. Usage
 * plans are not a billing or cost-control tool (AWS says so); token limits and spend live in
 * DynamoDB.
 */
export class TierUsagePlans extends Construct {
  public readonly plans: Record<TierName, UsagePlan>;

  constructor(scope: Construct, id: string, props: TierUsagePlansProps) {
    super(scope, id);
    const env = props.config.environment.name;
    const entries = TIER_NAMES.map((tier) => {
      const { edge, displayName } = props.config.tiers[tier];
      const plan = new UsagePlan(this, constructIdOf(tier), {
        name: `tierline-${env}-${tier}`,
        description: `Tierline ${displayName} tier`,
        throttle: { rateLimit: edge.rateLimit, burstLimit: edge.burstLimit },
        quota: edge.quota
          ? { limit: edge.quota.limit, period: Period[edge.quota.period] }
          : undefined,
        apiStages: [{ api: props.api, stage: props.stage }],
      });
      return [tier, plan] as const;
    });
    this.plans = Object.fromEntries(entries) as Record<TierName, UsagePlan>;
  }
}
