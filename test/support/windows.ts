/**
 * The limiter counts in fixed UTC windows (lambda/metering/rate-limits.ts): a minute for requests
 * and tokens, an hour for audio seconds (ASH), a UTC day, and a UTC month for spend and usage. A
 * test that makes requests and then expects a limit to hold (a 429, an `x-ratelimit-remaining-*`
 * value, a counter) must not straddle a window's end, or the second part starts afresh.
 *
 * Every hour, day and month ends on a minute's end, so one guard keeps a short sequence clear of
 * all of them: wait for the next minute when fewer than `marginMs` are left in this one, and keep
 * the guarded requests within that margin. A sequence longer than a margin can cover needs an
 * injected clock (`startLocalMode({ now })`), or, where none reaches (a child process), a guard
 * on the one window it reads ({@link clearOfUtcDayEnd}).
 */

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000; // epoch time has no leap seconds: every UTC day is exactly this long

/** Waits for the next UTC minute when fewer than `marginMs` are left in this one. */
export async function clearOfMinuteBoundary(marginMs = 5_000): Promise<void> {
  await clearOfWindowEnd(MINUTE_MS, marginMs);
}

/** Waits for the next UTC day when fewer than `marginMs` are left in this one (and so the month's). */
export async function clearOfUtcDayEnd(marginMs: number): Promise<void> {
  await clearOfWindowEnd(DAY_MS, marginMs);
}

async function clearOfWindowEnd(windowMs: number, marginMs: number): Promise<void> {
  const left = windowMs - (Date.now() % windowMs);
  if (left < marginMs) await new Promise((resolve) => setTimeout(resolve, left + 50));
}
