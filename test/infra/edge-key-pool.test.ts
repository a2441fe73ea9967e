import { Match, Template } from 'aws-cdk-lib/assertions';
import { poolKeyValue } from '../../lambda/customers/edge-key-pool';
import { POOL_KEY_CREATION_CHAINS } from '../../lib/constructs/api/edge-key-pool';
import { synthesize } from '../support/synth';

describe('the Free tier key pool', () => {
  const { api, config, stacks } = synthesize();
  const pool = config.tiers.free.edgePool;
  const nested = stacks.api.usagePlans.pools.free;
  if (!pool || !nested) throw new Error('the dev config must pool Free keys');
  const template = Template.fromStack(nested);

  it('is a nested stack of the API stack, so its keys do not count against that stack', () => {
    api.resourceCountIs('AWS::CloudFormation::Stack', 1);
    template.resourceCountIs('AWS::ApiGateway::ApiKey', pool.keys);
    expect(Object.keys(template.toJSON().Resources).length).toBe(1 + 2 * pool.keys);
  });

  it('has one usage plan with the pool throttle, on the stage, and no quota', () => {
    template.resourceCountIs('AWS::ApiGateway::UsagePlan', 1);
    template.hasResourceProperties('AWS::ApiGateway::UsagePlan', {
      UsagePlanName: 'tierline-dev-free-pool',
      Throttle: { RateLimit: pool.rateLimit, BurstLimit: pool.burstLimit },
      Quota: Match.absent(),
      ApiStages: [Match.objectLike({ ApiId: Match.anyValue(), Stage: Match.anyValue() })],
    });
  });

  it('has K keys with the values the functions compute, each linked to the pooled plan', () => {
    const keys = Object.entries(template.findResources('AWS::ApiGateway::ApiKey'));
    const values = keys.map(([, key]) => key.Properties.Value).sort();
    const expected = Array.from({ length: pool.keys }, (_, i) => poolKeyValue('dev', 'free', i));
    expect(values).toEqual(expected.sort());
    for (const value of values) expect(value.length).toBeGreaterThanOrEqual(20);
    const [planId] = Object.keys(template.findResources('AWS::ApiGateway::UsagePlan'));
    const links = Object.values(template.findResources('AWS::ApiGateway::UsagePlanKey'));
    expect(links).toHaveLength(pool.keys);
    expect(links.map((link) => link.Properties.KeyId.Ref).sort()).toEqual(
      keys.map(([id]) => id).sort(),
    );
    for (const link of links) {
      expect(link.Properties).toEqual({
        KeyId: expect.anything(),
        KeyType: 'API_KEY',
        UsagePlanId: { Ref: planId },
      });
    }
  });

  // https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html: CreateApiKey and
  // DeleteApiKey, 5 requests per second per account, fixed; CloudFormation creates independent
  // resources at once (aws/aws-cdk#15573, cloudformation-coverage-roadmap#588: 429 on ApiKey).
  it('creates its keys a few at a time, within CreateApiKey and DeleteApiKey quota', () => {
    const keys = template.findResources('AWS::ApiGateway::ApiKey');
    const keyDependencies = Object.fromEntries(
      Object.entries(keys).map(([id, key]) => [
        id,
        ((key.DependsOn as string[] | undefined) ?? []).filter((dependency) => dependency in keys),
      ]),
    );
    const dependents = new Map<string, number>();
    for (const dependencies of Object.values(keyDependencies)) {
      expect(dependencies.length).toBeLessThanOrEqual(1);
      for (const dependency of dependencies) {
        dependents.set(dependency, (dependents.get(dependency) ?? 0) + 1);
      }
    }
    // Chains: each key waits for at most one and is awaited by at most one, so as many keys are
    // created (or, in reverse, deleted) at once as there are keys that wait for none.
    for (const count of dependents.values()) expect(count).toBe(1);
    const chainStarts = Object.values(keyDependencies).filter((deps) => deps.length === 0);
    expect(chainStarts).toHaveLength(POOL_KEY_CREATION_CHAINS);
    expect(POOL_KEY_CREATION_CHAINS).toBeLessThan(5);
  });

  it('leaves out the pool where the config has none', () => {
    const { api: unpooled } = synthesize({ overrides: { tiers: { free: { edgePool: null } } } });
    unpooled.resourceCountIs('AWS::CloudFormation::Stack', 0);
  });
});
