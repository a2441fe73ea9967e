import { ApiKey, type IRestApi, Period, type Stage, UsagePlan } from 'aws-cdk-lib/aws-apigateway';
import { Construct } from 'constructs';
import { fixedKeyValue } from '../../../lambda/customers/edge-key-pool';
import { tierPlanName } from '../../../lambda/customers/tier-switch';
import { TIER_NAMES, type TierlineConfig, type TierName } from '../../config/schema';
import { EdgeKeyPool } from './edge-key-pool';

export interface TierUsagePlansProps {
  readonly config: TierlineConfig;
  readonly api: IRestApi;
  readonly stage: Stage;
}

/** Requests per second across all console sessions, and the burst: see `consoleSessions`. */
export const CONSOLE_SESSIONS_RATE_LIMIT = 100;
export const CONSOLE_SESSIONS_BURST_LIMIT = 200;

/** `free` -> `Free`: construct ids stay the same when limits change, so plans update in place. */
const constructIdOf = (tier: TierName) => `${tier[0]?.toUpperCase()}${tier.slice(1)}`;

/**
 * One API Gateway usage plan per tier: the edge shield that counts requests per customer key. Usage
 * plans are not a billing or cost-control tool (AWS says so); token limits and spend live in
 * DynamoDB.
 */
export class TierUsagePlans extends Construct {
  public readonly plans: Record<TierName, UsagePlan>;
  /** The shared keys of each tier that has `edgePool` (new customers of it get no key of their own). */
  public readonly pools: Partial<Record<TierName, EdgeKeyPool>> = {};
  /** Console sessions' plan: every signed-in user's requests, whatever the organization. */
  public readonly consoleSessions: UsagePlan;
  /**
   * The key value the authorizer returns for a session (`usageIdentifierKey`). Not a secret: with
   * `apiKeySource` AUTHORIZER, API Gateway ignores keys that callers send, so the value only
   * names the plan a request counts against.
   */
  public readonly consoleSessionsKeyValue: string;

  constructor(scope: Construct, id: string, props: TierUsagePlansProps) {
    super(scope, id);
    const env = props.config.environment.name;
    const entries = TIER_NAMES.map((tier) => {
      const { edge, displayName } = props.config.tiers[tier];
      const plan = new UsagePlan(this, constructIdOf(tier), {
        name: tierPlanName(env, tier),
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
    for (const tier of TIER_NAMES) {
      const { edgePool, displayName } = props.config.tiers[tier];
      if (!edgePool) continue;
      this.pools[tier] = new EdgeKeyPool(this, `${constructIdOf(tier)}KeyPool`, {
        environmentName: env,
        tier,
        displayName,
        pool: edgePool,
        api: props.api,
        stage: props.stage,
      });
    }

    // The authorizer cannot know a session's organization (its cache key is the Authorization
    // header; the organization is a header of its own), so sessions meet the edge on one plan of
    // their own; each organization's limits hold in DynamoDB, as for keys. Sized for people in a
    // console (the playground included), not for programs: programs use keys.
    this.consoleSessionsKeyValue = fixedKeyValue('TierlineConsoleSessions', env);
    this.consoleSessions = new UsagePlan(this, 'ConsoleSessions', {
      name: `tierline-${env}-console-sessions`,
      description: 'Tierline console sessions (signed-in users)',
      throttle: {
        rateLimit: CONSOLE_SESSIONS_RATE_LIMIT,
        burstLimit: CONSOLE_SESSIONS_BURST_LIMIT,
      },
      apiStages: [{ api: props.api, stage: props.stage }],
    });
    // API Gateway wants key values of 20 to 128 letters and digits (fixedKeyValue).
    const key = new ApiKey(this, 'ConsoleSessionsKey', {
      apiKeyName: `tierline-${env}-console-sessions`,
      description: 'Meters console sessions at the edge (returned by the authorizer)',
      value: this.consoleSessionsKeyValue,
      enabled: true,
    });
    this.consoleSessions.addApiKey(key);
  }
}
