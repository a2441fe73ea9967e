import { planView, publicPlans } from '../../../lambda/customers/plans';
import { loadConfig } from '../../../lib/config/load';

const config = loadConfig({ env: 'dev' });

describe('a plan shows the edge throttle its accounts meet', () => {
  it('publishes a pooled tier with its pool key throttle, shared and without a quota', () => {
    const pool = config.tiers.free.edgePool;
    if (!pool) throw new Error('the default config pools Free keys');
    const free = publicPlans(config).data.find((p) => p.id === 'free');
    expect(free?.edge).toEqual({
      requests_per_second: pool.rateLimit,
      burst: pool.burstLimit,
      quota: null,
      shared: true,
    });
  });

  it("shows an account made before the pool its own key's throttle and quota", () => {
    const { edge } = config.tiers.free;
    expect(planView(config, 'free', undefined, false).edge).toEqual({
      requests_per_second: edge.rateLimit,
      burst: edge.burstLimit,
      quota: edge.quota
        ? { limit: edge.quota.limit, period: edge.quota.period.toLowerCase() }
        : null,
      shared: false,
    });
  });

  it('keeps a tier without a pool on its own per-account throttle', () => {
    const developer = publicPlans(config).data.find((p) => p.id === 'developer');
    expect(developer?.edge.shared).toBe(false);
    expect(developer?.edge.requests_per_second).toBe(config.tiers.developer.edge.rateLimit);
  });

  it("applies an Enterprise custom plan's edge even when asked for the pool", () => {
    const custom = {
      usagePlanId: 'up-1',
      edge: { rateLimit: 7, burstLimit: 14 },
      models: {},
    };
    expect(planView(config, 'enterprise', custom, true).edge).toEqual({
      requests_per_second: 7,
      burst: 14,
      quota: null,
      shared: false,
    });
  });
});
