import { Match, Template } from 'aws-cdk-lib/assertions';
import { fixedKeyValue, poolKeyValue } from '../../lambda/customers/edge-key-pool';
import { TIER_NAMES } from '../../lib/config/tier-names';
import { POOL_KEY_CREATION_CHAINS } from '../../lib/constructs/api/edge-key-pool';
import { synthesize } from '../support/synth';

const API_KEY_VALUE = /^[A-Za-z0-9]{20,128}$/;

describe('fixed API Gateway key values', () => {
  it('are 20 to 128 letters and digits for the shortest and longest environment names', () => {
    for (const env of ['a', 'dev', 'prod', 'z-9', 'abcdefghij-12345']) {
      expect(fixedKeyValue('TierlineConsoleSessions', env)).toMatch(API_KEY_VALUE);
      for (const tier of TIER_NAMES) {
        expect(poolKeyValue(env, tier, 0)).toMatch(API_KEY_VALUE);
        expect(poolKeyValue(env, tier, 99)).toMatch(API_KEY_VALUE);
      }
    }
  });

  it('never give two environments, tiers or indexes the same value', () => {
    const values = new Set<string>();
    const envs = ['a', 'a-b', 'ab', 'a-bz', 'ab-z', 'abz', 'a-', 'a--'];
    for (const env of envs)
      for (const tier of TIER_NAMES)
        for (let index = 0; index < 40; index += 1) values.add(poolKeyValue(env, tier, index));
    expect(values.size).toBe(envs.length * TIER_NAMES.length * 40);
  });
});

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
    // API Gateway: "an alphanumeric string between 20 and 128 characters" (developer guide,
    // "Usage plans and API keys for REST APIs").
    for (const value of values) expect(value).toMatch(API_KEY_VALUE);
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
