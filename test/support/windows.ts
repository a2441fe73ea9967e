/**
 * The limiter counts in fixed UTC minutes (lambda/metering/rate-limits.ts): a test that reads a
 * minute's counters after its requests must not straddle a boundary, or the reading starts afresh.
 */

/** Waits for the next UTC minute when fewer than `marginMs` are left in this one. */
export async function clearOfMinuteBoundary(marginMs = 5_000): Promise<void> {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < marginMs) await new Promise((resolve) => setTimeout(resolve, left + 50));
}
