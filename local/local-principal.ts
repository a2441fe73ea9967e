import type { Context } from 'hono';
import {
  authenticate,
  type KeyLookup,
  type KeyUseRecorder,
  type Principal,
} from '../lambda/customers/authenticate';
import { AuthenticationError, HttpError } from '../lambda/openai/errors';
import { GATEWAY_MESSAGES } from '../lambda/openai/gateway-messages';
import type { ApiGatewayEmulator, LocalUsagePlan } from './api-gateway-emulator';
import type { EdgeThrottle } from './edge-throttle';

const PLAN_CACHE_MS = 5_000;

/** Bounds the decision cache; API Gateway's own cache is bounded too. */
const MAX_CACHED_DECISIONS = 10_000;

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
}): (c: Context) => Promise<Principal> {
  const decisions = new Map<string, { principal?: Principal; expires: number }>();
  const authorize = async (header: string | undefined): Promise<Principal> => {
    const cacheKey = header ?? '';
    const cached = decisions.get(cacheKey);
    if (cached && cached.expires > Date.now()) {
      if (!cached.principal) throw new AuthenticationError();
      return cached.principal;
    }
    const remember = (principal: Principal | undefined) => {
      if (deps.authorizerCacheTtlMs <= 0) return;
      if (decisions.size >= MAX_CACHED_DECISIONS) decisions.clear();
      decisions.set(cacheKey, { principal, expires: Date.now() + deps.authorizerCacheTtlMs });
    };
    try {
      const principal = await authenticate(header, deps.lookup, { record: deps.recordUse });
      remember(principal);
      return principal;
    } catch (error) {
      // A 401 is a decision and is cached; a failed lookup is not.
      if (error instanceof AuthenticationError) remember(undefined);
      throw error;
    }
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
    const principal = await authorize(c.req.header('authorization'));
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
