import { createHash } from 'node:crypto';
import type { TierlineConfig, TierName } from '../../lib/config/schema';

/**
 * The shared API Gateway keys of a pooled tier (config `tiers.<tier>.edgePool`). The values are
 * names, not secrets: with `apiKeySource` AUTHORIZER API Gateway ignores keys callers send, so a
 * value only says which usage plan (and which throttle bucket) a request counts against. Every
 * runtime computes them from the environment's name, so no function needs them in its environment.
 */

/** The pooled usage plan's name, as lib/constructs/api/edge-key-pool.ts names it. */
export const poolPlanName = (env: string, tier: TierName) => `tierline-${env}-${tier}-pool`;

/**
 * A fixed API Gateway key value made of names: API Gateway documents a key value as "an
 * alphanumeric string between 20 and 128 characters" (developer guide, "Usage plans and API keys
 * for REST APIs"), so the parts are joined without separators. An environment's name is lower
 * case, digits and dashes; its dashes become `Z`, which no lower-case name holds, and the next part
 * starts with a capital, so two environments never share a value.
 */
export const fixedKeyValue = (prefix: string, env: string, suffix = '') =>
  `${prefix}${env.replaceAll('-', 'Z')}${suffix}`;

const capitalized = (word: string) => `${word[0]?.toUpperCase()}${word.slice(1)}`;

/** A pool key's value and name: `TierlineEdgePooldevFree07`. */
export const poolKeyValue = (env: string, tier: TierName, index: number) =>
  fixedKeyValue('TierlineEdgePool', env, `${capitalized(tier)}${String(index).padStart(2, '0')}`);

/**
 * The pool key a customer id maps to: the first 32 bits of its SHA-256, modulo the pool's size.
 * Stable across runtimes and restarts (a retried create lands on the same key), and spread evenly
 * whatever the ids look like.
 */
export function poolKeyIndex(customerId: string, keys: number): number {
  return createHash('sha256').update(customerId).digest().readUInt32BE(0) % keys;
}

/** The customer's usage identifier on a pooled tier; undefined where the tier has no pool. */
export function pooledUsageIdentifier(
  config: Pick<TierlineConfig, 'environment' | 'tiers'>,
  tier: TierName,
  customerId: string,
): string | undefined {
  const pool = config.tiers[tier].edgePool;
  if (!pool) return undefined;
  return poolKeyValue(config.environment.name, tier, poolKeyIndex(customerId, pool.keys));
}

/** Every key value of a tier's pool (local mode's "deploy" and the tests). */
export function poolKeyValues(env: string, tier: TierName, keys: number): string[] {
  return Array.from({ length: keys }, (_, index) => poolKeyValue(env, tier, index));
}
