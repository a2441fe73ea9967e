import { Hono } from 'hono';
import { formatDuration, utcWindows } from '../../metering/rate-limits';
import type { Limits } from '../../openai/shapes/limits';
import type { ApiDependencies, AppEnv } from '../types';

/**
 * `GET /limits`: for each model of the caller's tier, its limits, what the current UTC minute and
 * day have used of them (the limiter's own counters, reservations of requests in flight included)
 * and what is left.
 */
export function limitRoutes(deps: ApiDependencies): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.get('/limits', async (c) => {
    const principal = c.get('principal');
    const nowMs = (deps.now?.() ?? new Date()).getTime();
    const windows = utcWindows(nowMs);
    const offers = deps.config.tiers[principal.tier].models;
    const data = await Promise.all(
      Object.entries(offers).map(async ([model, offer]) => {
        // An Enterprise customer's custom plan replaces the tier's limits, as in admission.
        const limits = principal.customModelLimits?.[model] ?? offer;
        const used = await deps.limiter.peek({ customerId: principal.customerId, model, limits });
        const row = (limit: number, usedNow: number) => ({
          limit,
          used: usedNow,
          remaining: Math.max(0, limit - usedNow),
        });
        return {
          object: 'model_limits' as const,
          model,
          requests_per_minute: row(limits.rpm, used.requestsThisMinute),
          requests_per_day: row(limits.rpd, used.requestsToday),
          tokens_per_minute: row(limits.tpm, used.tokensThisMinute),
          tokens_per_day: row(limits.tpd, used.tokensToday),
        };
      }),
    );
    return c.json<Limits>({
      object: 'limits',
      tier: principal.tier,
      minute: windows.minute,
      day: windows.day,
      reset_minute: formatDuration(windows.msToMinuteEnd),
      reset_day: formatDuration(windows.msToDayEnd),
      reset_minute_seconds: Math.ceil(windows.msToMinuteEnd / 1000),
      reset_day_seconds: Math.ceil(windows.msToDayEnd / 1000),
      data,
    });
  });
  return routes;
}
