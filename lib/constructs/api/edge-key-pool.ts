import { NestedStack } from 'aws-cdk-lib';
import { ApiKey, type IRestApi, type Stage, UsagePlan } from 'aws-cdk-lib/aws-apigateway';
import type { Construct } from 'constructs';
import { poolKeyValues, poolPlanName } from '../../../lambda/customers/edge-key-pool';
import type { EdgePool, TierName } from '../../config/schema';

/**
 * How many of the pool's keys CloudFormation may create (or delete) at once. API Gateway allows
 * CreateApiKey and DeleteApiKey 5 requests per second per account, not raisable, and CloudFormation
 * runs every independent resource at once: 32 keys in parallel fail with 429 Too Many Requests.
 * Two chains leave room for the keys that upgrading customers create during a deployment.
 */
export const POOL_KEY_CREATION_CHAINS = 2;

export interface EdgeKeyPoolProps {
  readonly environmentName: string;
  readonly tier: TierName;
  readonly displayName: string;
  readonly pool: EdgePool;
  readonly api: IRestApi;
  readonly stage: Stage;
}

/**
 * A pooled tier's usage plan and its keys (lambda/customers/edge-key-pool.ts): customers share them,
 * so a sign-up creates no API Gateway key (a region holds at most 10,000, created at 5 per second,
 * neither raisable). A nested stack of its own: each key is two resources (the key and its link to
 * the plan), and the API stack is near CloudFormation's 500 resources.
 */
export class EdgeKeyPool extends NestedStack {
  public readonly plan: UsagePlan;
  public readonly keyValues: string[];

  constructor(scope: Construct, id: string, props: EdgeKeyPoolProps) {
    super(scope, id, {
      description: `Tierline ${props.displayName} tier's shared API Gateway keys`,
    });
    const { environmentName: env, tier, pool } = props;
    // No quota: a pool key's quota would be shared by strangers, so one customer could use up the
    // others' day; each customer's daily limits are exact in DynamoDB.
    this.plan = new UsagePlan(this, 'Plan', {
      name: poolPlanName(env, tier),
      description: `Tierline ${props.displayName} tier, shared keys (${pool.keys})`,
      throttle: { rateLimit: pool.rateLimit, burstLimit: pool.burstLimit },
      apiStages: [{ api: props.api, stage: props.stage }],
    });
    this.keyValues = poolKeyValues(env, tier, pool.keys);
    const keys: ApiKey[] = [];
    this.keyValues.forEach((value, index) => {
      const key = new ApiKey(this, `Key${index}`, {
        apiKeyName: value,
        description: `Shared usage identifier of ${props.displayName} customers (not a secret)`,
        value,
        enabled: true,
      });
      const previousInChain = keys[index - POOL_KEY_CREATION_CHAINS];
      if (previousInChain) key.node.addDependency(previousInChain);
      keys.push(key);
      this.plan.addApiKey(key);
    });
  }
}
