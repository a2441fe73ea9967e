import type { ModelLimits, TierName } from '../../lib/config/schema';
import { AuthenticationError } from '../openai/errors';
import { bearerToken, hashApiKey, isWellFormedApiKey } from './api-keys';

/** Who is calling: what the authorizer hands to the API. */
export interface Principal {
  customerId: string;
  tier: TierName;
  /** The API Gateway key value that meters this customer against its usage plan. */
  usageIdentifierKey: string;
  customModelLimits?: Record<string, ModelLimits>;
  /** Monthly spend limit in micro-USD, when the customer has one. */
  spendLimitMicroUsd?: number;
}

export interface StoredKey {
  customerId: string;
  tier: TierName;
  usageIdentifierKey: string;
  status: 'active' | 'revoked';
  customModelLimits?: Record<string, ModelLimits>;
  spendLimitMicroUsd?: number;
}

/** Finds a key by the SHA-256 of its value. */
export type KeyLookup = (keyHash: string) => Promise<StoredKey | undefined>;

/**
 * Resolves an `Authorization` header to a principal. A missing or malformed header, or a key with a bad
 * checksum, is rejected before any lookup; unknown and revoked keys after it. Every rejection is the same
 * {@link AuthenticationError}, so a caller learns nothing about which keys exist.
 */
export async function authenticate(authorization: string | undefined, lookup: KeyLookup): Promise<Principal> {
  const key = bearerToken(authorization);
  if (!key || !isWellFormedApiKey(key)) throw new AuthenticationError();
  const stored = await lookup(hashApiKey(key));
  if (stored?.status !== 'active') throw new AuthenticationError();
  return {
    customerId: stored.customerId,
    tier: stored.tier,
    usageIdentifierKey: stored.usageIdentifierKey,
    ...(stored.customModelLimits ? { customModelLimits: stored.customModelLimits } : {}),
    ...(stored.spendLimitMicroUsd !== undefined ? { spendLimitMicroUsd: stored.spendLimitMicroUsd } : {}),
  };
}
