import { newCustomerId } from '../../../lambda/customers/customer-creation';
import {
  pooledUsageIdentifier,
  poolKeyIndex,
  poolKeyValue,
} from '../../../lambda/customers/edge-key-pool';
import { loadConfig } from '../../../lib/config/load';

describe('the pool key of a customer', () => {
  it('is the same for the same id, in any order and on any run (a retried create lands on it)', () => {
    // Pinned: every runtime (CLI, sign-up, billing) must compute the same key for an id.
    expect(poolKeyIndex('cus_AAAAAAAAAAAAAAAAAAAA', 32)).toBe(11);
    expect(poolKeyIndex('cus_1', 32)).toBe(30);
    const ids = Array.from({ length: 200 }, () => newCustomerId());
    const first = ids.map((id) => poolKeyIndex(id, 32));
    const again = [...ids].reverse().map((id) => poolKeyIndex(id, 32));
    expect(again.reverse()).toEqual(first);
    for (const index of first) {
      expect(Number.isInteger(index)).toBe(true);
      expect(index).toBeGreaterThanOrEqual(0);
      expect(index).toBeLessThan(32);
    }
  });

  it('spreads 10,000 random ids over 32 keys within 1.5x between the fullest and emptiest', () => {
    const buckets = new Array<number>(32).fill(0);
    for (let i = 0; i < 10_000; i += 1) {
      const index = poolKeyIndex(newCustomerId(), 32);
      buckets[index] = (buckets[index] ?? 0) + 1;
    }
    const ratio = Math.max(...buckets) / Math.min(...buckets);
    // 312.5 per key expected; a binomial's spread (sd about 17.4) puts 32 buckets well inside 1.5.
    expect(ratio).toBeLessThan(1.5);
  });

  it('spreads sequential ids too (an import numbering its customers)', () => {
    const buckets = new Array<number>(32).fill(0);
    for (let i = 0; i < 10_000; i += 1) {
      const index = poolKeyIndex(`cus_${i}`, 32);
      buckets[index] = (buckets[index] ?? 0) + 1;
    }
    expect(Math.max(...buckets) / Math.min(...buckets)).toBeLessThan(1.5);
  });

  it('is a pool key value of the tier where the config pools it, and none where it does not', () => {
    const config = loadConfig({ env: 'dev' });
    const pool = config.tiers.free.edgePool;
    expect(pool?.keys).toBe(32);
    const value = pooledUsageIdentifier(config, 'free', 'cus_1');
    expect(value).toBe(poolKeyValue('dev', 'free', poolKeyIndex('cus_1', 32)));
    expect(value).toMatch(/^TierlineEdgePooldevFree\d{2}$/);
    expect(pooledUsageIdentifier(config, 'developer', 'cus_1')).toBeUndefined();
    const unpooled = loadConfig({ env: 'dev', overrides: { tiers: { free: { edgePool: null } } } });
    expect(pooledUsageIdentifier(unpooled, 'free', 'cus_1')).toBeUndefined();
  });

  it('refuses a pool the config cannot deploy, naming the field', () => {
    const bad = (edgePool: unknown) => () =>
      loadConfig({ env: 'dev', overrides: { tiers: { free: { edgePool } } } });
    expect(bad({ keys: 0, rateLimit: 1, burstLimit: 1 })).toThrow('tiers.free.edgePool.keys');
    expect(bad({ keys: 101, rateLimit: 1, burstLimit: 1 })).toThrow('tiers.free.edgePool.keys');
    expect(bad({ keys: 4, rateLimit: 10, burstLimit: 5 })).toThrow(
      'tiers.free.edgePool.burstLimit',
    );
    expect(bad({ keys: 4, rateLimit: 1, burstLimit: 1, quota: 5 })).toThrow('tiers.free.edgePool');
  });
});
