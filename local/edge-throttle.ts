import type { QuotaSettings, ThrottleSettings } from '@aws-sdk/client-api-gateway';

/**
 * An emulation of what an API Gateway usage plan does per API key: a token bucket (rate per second,
 * burst) and a request quota per day, week or month (UTC). In memory: it restarts with local mode.
 * API Gateway's own throttling is best-effort and distributed; this one is exact, which is close
 * enough to try things out.
 */

export type EdgeDecision =
  | { allowed: true }
  | { allowed: false; reason: 'throttled' | 'quota'; retryAfterSeconds?: number };

interface Bucket {
  tokens: number;
  updatedMs: number;
  quotaWindow: string;
  quotaUsed: number;
}

function quotaWindow(period: string | undefined, nowMs: number): string {
  const date = new Date(nowMs);
  if (period === 'DAY') return date.toISOString().slice(0, 10);
  if (period === 'MONTH') return date.toISOString().slice(0, 7);
  // WEEK: weeks start on Monday (UTC), as in API Gateway's default offset.
  const monday = new Date(
    Date.UTC(
      date.getUTCFullYear(),
      date.getUTCMonth(),
      date.getUTCDate() - ((date.getUTCDay() + 6) % 7),
    ),
  );
  return `W${monday.toISOString().slice(0, 10)}`;
}

export class EdgeThrottle {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Counts one request of `key` against its plan's throttle and quota. */
  admit(
    key: string,
    throttle: ThrottleSettings | undefined,
    quota: QuotaSettings | undefined,
  ): EdgeDecision {
    const nowMs = this.now();
    const rate = throttle?.rateLimit ?? Number.POSITIVE_INFINITY;
    const burst = throttle?.burstLimit ?? Number.POSITIVE_INFINITY;
    const window = quotaWindow(quota?.period, nowMs);
    const bucket = this.buckets.get(key) ?? {
      tokens: burst,
      updatedMs: nowMs,
      quotaWindow: window,
      quotaUsed: 0,
    };
    bucket.tokens = Math.min(burst, bucket.tokens + ((nowMs - bucket.updatedMs) / 1000) * rate);
    bucket.updatedMs = nowMs;
    if (bucket.quotaWindow !== window) {
      bucket.quotaWindow = window;
      bucket.quotaUsed = 0;
    }
    this.buckets.set(key, bucket);
    if (quota?.limit !== undefined && bucket.quotaUsed >= quota.limit)
      return { allowed: false, reason: 'quota' };
    if (bucket.tokens < 1) {
      return {
        allowed: false,
        reason: 'throttled',
        retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / rate)),
      };
    }
    bucket.tokens -= 1;
    bucket.quotaUsed += 1;
    return { allowed: true };
  }
}
