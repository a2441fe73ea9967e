import type { Context } from 'hono';
import { authenticate, type KeyLookup, type Principal } from '../lambda/domain/authenticate';
import { AuthenticationError, HttpError } from '../lambda/domain/errors';
import { GATEWAY_MESSAGES } from '../lambda/domain/gateway-messages';
import type { ApiGatewayEmulator, LocalUsagePlan } from './api-gateway-emulator';
import type { EdgeThrottle } from './edge-throttle';

const PLAN_CACHE_MS = 5_000;

/**
 * Local mode's front door, standing in for API Gateway: the real authorizer code resolves the key (no
 * decision cache, so revocation is immediate here), then the key's usage plan is applied by the throttle
 * emulation, answering the same OpenAI-shaped 401 and 429 bodies as the deployed gateway responses.
 */
export function localPrincipal(deps: {
  lookup: KeyLookup;
  emulator: ApiGatewayEmulator;
  throttle: EdgeThrottle;
}): (c: Context) => Promise<Principal> {
  const plans = new Map<string, { plan: LocalUsagePlan | undefined; expires: number }>();
  const planOf = async (usageIdentifierKey: string) => {
    const cached = plans.get(usageIdentifierKey);
    if (cached && cached.expires > Date.now()) return cached.plan;
    const plan = await deps.emulator.planOfKeyValue(usageIdentifierKey);
    plans.set(usageIdentifierKey, { plan, expires: Date.now() + PLAN_CACHE_MS });
    return plan;
  };

  return async (c) => {
    const principal = await authenticate(c.req.header('authorization'), deps.lookup);
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
        'rate_limit_exceeded',
        null,
        throttled ? { 'retry-after': String(decision.retryAfterSeconds ?? 1) } : {},
      );
    }
    return principal;
  };
}
