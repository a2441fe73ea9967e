import type { ModelLimits, TierName } from '../../lib/config/schema';
import { AuthenticationError } from '../openai/errors';
import { bearerToken, hashApiKey, isWellFormedApiKey } from './api-keys';
import {
  type KeyPermissions,
  type PrincipalKind,
  parsePermissions,
  projectOrDefault,
} from './key-permissions';
import { type ProjectLimits, type ProjectModelLimits, principalLimits } from './project-limits';

/** Who is calling: what the authorizer hands to the API. */
export interface Principal {
  /**
   * How the caller proved who it is: an inference (project) key, an admin key, or a console
   * session (a Cognito access token). What it may call follows from it
   * (lambda/accounts/authorization.ts).
   */
  kind: PrincipalKind;
  /** The project it acts in: a project key's own, or the one an admin key or session picked. */
  projectId: string;
  /** A project key's permissions; absent on admin keys and sessions. */
  permissions?: KeyPermissions;
  /** The key's public id (`key_...`; `key_primary` for the operator's key); absent on sessions. */
  keyId?: string;
  /** A session's user (Cognito `sub`). */
  userId?: string;
  /** A session's role in the organization it acts for. */
  role?: 'owner' | 'member';
  /** The organization (today's customer). */
  customerId: string;
  tier: TierName;
  /** The API Gateway key value that meters this customer against its usage plan. */
  usageIdentifierKey: string;
  customModelLimits?: Record<string, ModelLimits>;
  /** Monthly spend limit in micro-USD, when the customer has one. */
  spendLimitMicroUsd?: number;
  /** A project key's project's own limits per model, narrower than the organization's. */
  projectModelLimits?: Record<string, ProjectModelLimits>;
  /** A project key's project's monthly spend limit in micro-USD, within the organization's. */
  projectSpendLimitMicroUsd?: number;
  /** A project key's project has spend alerts: its month is tracked even without a spend limit. */
  projectSpendAlerts?: true;
}

export interface StoredKey {
  customerId: string;
  tier: TierName;
  usageIdentifierKey: string;
  status: 'active' | 'revoked' | 'suspended';
  customModelLimits?: Record<string, ModelLimits>;
  spendLimitMicroUsd?: number;
  /** When the key last authenticated a request (ISO time), to within {@link KEY_USE_RESOLUTION_MS}. */
  lastUsedAt?: string;
  /** A named key's public id; absent on the primary key. */
  keyId?: string;
  /** Absent on keys stored before admin keys existed: they are project keys. */
  kind?: 'project_key' | 'admin_key';
  /** Absent on keys stored before projects existed: they belong to the default project. */
  projectId?: string;
  /** Absent on keys stored before permissions existed: they may do everything, as they did. */
  permissions?: KeyPermissions;
  /** The project's own limits, copied onto each of its keys (lambda/accounts/project-rate-limits.ts). */
  projectLimits?: ProjectLimits;
}

/**
 * What a stored key authorizes, with keys written before kinds, projects and permissions existed
 * read as what they were: project keys of the organization's default project with every
 * permission. Nothing is rewritten; the item keeps its old form.
 */
export function keyGrants(
  stored: Pick<StoredKey, 'customerId' | 'kind' | 'projectId' | 'permissions'>,
): Pick<Principal, 'kind' | 'projectId' | 'permissions'> {
  const projectId = projectOrDefault(stored.customerId, stored.projectId);
  if (stored.kind === 'admin_key') return { kind: 'admin_key', projectId };
  return {
    kind: 'project_key',
    projectId,
    permissions: stored.permissions === undefined ? 'all' : parsePermissions(stored.permissions),
  };
}

/** The public id of the operator's key of a customer, which has none of its own. */
export const PRIMARY_KEY_ID = 'key_primary';

/** Finds a key by the SHA-256 of its value. */
export type KeyLookup = (keyHash: string) => Promise<StoredKey | undefined>;

/** Records that a key was used (a conditional write: at most once per {@link KEY_USE_RESOLUTION_MS}). */
export type KeyUseRecorder = (keyHash: string, now: Date) => Promise<unknown>;

/** A key's last use is kept to the hour: one write per key per hour at most, whatever its traffic. */
export const KEY_USE_RESOLUTION_MS = 3_600_000;

/** Whether a key's recorded last use is older than the resolution (or absent), so it is worth writing again. */
export function isKeyUseStale(lastUsedAt: string | undefined, now: Date): boolean {
  if (!lastUsedAt) return true;
  const at = Date.parse(lastUsedAt);
  return !Number.isFinite(at) || now.getTime() - at >= KEY_USE_RESOLUTION_MS;
}

/**
 * Resolves an `Authorization` header to a principal. A missing or malformed header, or a key with a
 * bad checksum, is rejected before any lookup; unknown and revoked keys after it. Every rejection
 * is the same {@link AuthenticationError}, so a caller learns nothing about which keys exist.
 */
export async function authenticate(
  authorization: string | undefined,
  lookup: KeyLookup,
  use: { record?: KeyUseRecorder; now?: () => Date; onError?: (error: unknown) => void } = {},
): Promise<Principal> {
  const key = bearerToken(authorization);
  if (!key || !isWellFormedApiKey(key)) throw new AuthenticationError();
  const keyHash = hashApiKey(key);
  const stored = await lookup(keyHash);
  if (stored?.status !== 'active') throw new AuthenticationError();
  // The item just read says when the key was last recorded: only a stale one costs a write, and
  // that write is not awaited, so recording a use never slows a request or fails it.
  const now = use.now?.() ?? new Date();
  if (use.record && isKeyUseStale(stored.lastUsedAt, now)) {
    use.record(keyHash, now).catch((error) => use.onError?.(error));
  }
  return {
    ...keyGrants(stored),
    keyId: stored.keyId ?? PRIMARY_KEY_ID,
    customerId: stored.customerId,
    tier: stored.tier,
    usageIdentifierKey: stored.usageIdentifierKey,
    ...(stored.customModelLimits ? { customModelLimits: stored.customModelLimits } : {}),
    ...(stored.spendLimitMicroUsd !== undefined
      ? { spendLimitMicroUsd: stored.spendLimitMicroUsd }
      : {}),
    // An admin key runs no inference: only a project key's project limits bind.
    ...(stored.kind === 'admin_key' ? {} : principalLimits(stored.projectLimits)),
  };
}

/**
 * Console sessions, as the authorizer sees them: a bearer token shaped like a JWT is verified
 * (signature against the user pool's cached JWKS, expiry, issuer, client, `token_use`) and never
 * looked up as a key. Which organization a session acts for is chosen per request by the API
 * (the `OpenAI-Organization` header, checked against the user's memberships): the authorizer's
 * decision is cached per Authorization header, which carries no organization.
 */
export interface SessionAuthentication {
  isSessionToken(token: string): boolean;
  /** The session's user; throws {@link AuthenticationError} for any token it does not accept. */
  verify(token: string): Promise<{ userId: string }>;
  /**
   * The API Gateway key that meters console sessions at the edge (their own usage plan): the
   * organization is not known here, and the edge is the coarse shield; each organization's limits
   * hold in DynamoDB.
   */
  usageIdentifierKey: string;
}

/** A verified session before the API picks its organization. */
export interface SessionIdentity {
  kind: 'session';
  userId: string;
  usageIdentifierKey: string;
}

/** The session behind an `Authorization` header, or undefined when it carries no JWT-shaped token. */
export async function authenticateSession(
  authorization: string | undefined,
  sessions: SessionAuthentication | undefined,
): Promise<SessionIdentity | undefined> {
  const token = bearerToken(authorization);
  if (!token || !sessions?.isSessionToken(token)) return undefined;
  const { userId } = await sessions.verify(token);
  return { kind: 'session', userId, usageIdentifierKey: sessions.usageIdentifierKey };
}
