import type { Context } from 'hono';
import {
  authenticate,
  authenticateSession,
  type KeyLookup,
  type KeyUseRecorder,
  type Principal,
  type SessionAuthentication,
  type SessionIdentity,
} from '../lambda/customers/authenticate';
import { AuthenticationError, HttpError } from '../lambda/openai/errors';
import { GATEWAY_MESSAGES } from '../lambda/openai/gateway-messages';
import type { ApiGatewayEmulator, LocalUsagePlan } from './api-gateway-emulator';
import type { EdgeThrottle } from './edge-throttle';

const PLAN_CACHE_MS = 5_000;

/** Bounds the decision cache; API Gateway's own cache is bounded too. */
const MAX_CACHED_DECISIONS = 10_000;

/** Console sessions: verifying the token (the authorizer's part) and choosing the organization. */
export interface LocalSessions {
  authentication: SessionAuthentication;
  principalOf: (session: SessionIdentity, organization: string | undefined) => Promise<Principal>;
}

/**
 * Local mode's front door, standing in for API Gateway: the real authorizer code resolves the key,
 * and its decision (allow or 401) is cached per Authorization header for the authorizer cache TTL,
 * as API Gateway does, so a revoked key stops working within that time here too. Then the key's
 * usage plan is applied by the throttle emulation, answering the same OpenAI-shaped 401 and 429
 * bodies as the gateway responses.
 */
export function localPrincipal(deps: {
  lookup: KeyLookup;
  /** Marks a key's last use, as the authorizer does in AWS. */
  recordUse?: KeyUseRecorder;
  emulator: ApiGatewayEmulator;
  throttle: EdgeThrottle;
  /** How long a decision is cached, like `authorizerCacheTtlSeconds`; 0 turns the cache off. */
  authorizerCacheTtlMs: number;
  /**
   * Console sessions (when local mode runs a user pool): the authorizer's part (verify the token)
   * and the API's (the organization the session acts for, from `OpenAI-Organization`).
   */
  sessions?: () => LocalSessions | undefined;
  /**
   * The clock of the decision cache (tests: a cached decision's expiry without a real wait).
   * The plan snapshot keeps real time: it stands for changes made by another process.
   * @default Date.now
   */
  now?: () => number;
}): (c: Context) => Promise<Principal> {
  const now = deps.now ?? Date.now;
  type Decision = Principal | SessionIdentity;
  const decisions = new Map<string, { principal?: Decision; expires: number }>();
  const authorize = async (header: string | undefined): Promise<Decision> => {
    const cacheKey = header ?? '';
    const cached = decisions.get(cacheKey);
    if (cached && cached.expires > now()) {
      if (!cached.principal) throw new AuthenticationError();
      return cached.principal;
    }
    const remember = (principal: Decision | undefined) => {
      if (deps.authorizerCacheTtlMs <= 0) return;
      if (decisions.size >= MAX_CACHED_DECISIONS) decisions.clear();
      decisions.set(cacheKey, { principal, expires: now() + deps.authorizerCacheTtlMs });
    };
    try {
      const principal =
        (await authenticateSession(header, deps.sessions?.()?.authentication)) ??
        (await authenticate(header, deps.lookup, { record: deps.recordUse }));
      remember(principal);
      return principal;
    } catch (error) {
      // A 401 is a decision and is cached; a failed lookup is not.
      if (error instanceof AuthenticationError) remember(undefined);
      throw error;
    }
  };
  const sessionPrincipal = (session: SessionIdentity, organization: string | undefined) => {
    const sessions = deps.sessions?.();
    if (!sessions) throw new AuthenticationError();
    return sessions.principalOf(session, organization);
  };
  // One scan of the emulated keys and plans serves every key for a few seconds (changes made by
  // `tierline --local` in another process show up within that time).
  let plans: { byKeyValue: Promise<Map<string, LocalUsagePlan>>; expires: number } | undefined;
  const refresh = () => {
    const snapshot = {
      byKeyValue: deps.emulator.plansByKeyValue(),
      expires: Date.now() + PLAN_CACHE_MS,
    };
    snapshot.byKeyValue.catch(() => {
      if (plans === snapshot) plans = undefined;
    });
    plans = snapshot;
    return snapshot.byKeyValue;
  };
  const planOf = async (usageIdentifierKey: string) => {
    const current =
      !plans || plans.expires <= Date.now() ? await refresh() : await plans.byKeyValue;
    // A key created since the snapshot (a new customer): look again once.
    return current.get(usageIdentifierKey) ?? (await refresh()).get(usageIdentifierKey);
  };

  return async (c) => {
    const decided = await authorize(c.req.header('authorization'));
    // A session's organization is resolved per request, after the cached decision, as the API
    // function does in AWS. Its edge throttle here is the organization's plan (in AWS, sessions
    // share the console's plan: the authorizer cannot know the organization).
    const principal =
      'customerId' in decided
        ? decided
        : await sessionPrincipal(decided, c.req.header('openai-organization'));
    const plan = await planOf(principal.usageIdentifierKey);
    // API Gateway answers INVALID_API_KEY when the key is on no usage plan.
    if (!plan) throw new AuthenticationError(GATEWAY_MESSAGES.invalidApiKey);
    const decision = deps.throttle.admit(principal.usageIdentifierKey, plan.throttle, plan.quota);
    if (!decision.allowed) {
      const throttled = decision.reason === 'throttled';
      throw new HttpError(
        429,
        'requests',
        throttled ? GATEWAY_MESSAGES.throttled : GATEWAY_MESSAGES.quotaExceeded,
        {
          code: 'rate_limit_exceeded',
          headers: throttled ? { 'retry-after': String(decision.retryAfterSeconds ?? 1) } : {},
        },
      );
    }
    return principal;
  };
}

/** The verified console session of a request, before any organization is chosen (accepting an invite). */
export function localSessionOf(sessions: () => LocalSessions | undefined) {
  return (c: Context): Promise<SessionIdentity | undefined> =>
    authenticateSession(c.req.header('authorization'), sessions()?.authentication);
}
