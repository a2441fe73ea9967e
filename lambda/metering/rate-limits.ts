import type { ModelLimits } from '../../lib/config/schema';

/**
 * Rate-limit arithmetic: UTC windows, Groq-style durations, messages and `x-ratelimit-*` headers,
 * and how a limit is split over counter shards. Pure; the DynamoDB side is limiter.ts beside it.
 *
 * Windows are fixed UTC windows (a minute, a day), not Groq's token buckets: a window's budget
 * comes back whole when the window ends, so every "retry after" and "reset" is the time until the
 * window ends.
 */

export type LimitName = 'rpm' | 'rpd' | 'tpm' | 'tpd';

/** What one customer used of one model in the current windows. */
export interface LimitCounters {
  requestsToday: number;
  tokensToday: number;
  requestsThisMinute: number;
  tokensThisMinute: number;
}

/** Why a request is refused (429), in the terms of Groq's message. */
export interface LimitRefusal {
  reason: LimitName;
  limit: number;
  used: number;
  requested: number;
  retryAfterMs: number;
}

export const NO_USAGE: LimitCounters = {
  requestsToday: 0,
  tokensToday: 0,
  requestsThisMinute: 0,
  tokensThisMinute: 0,
};

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000; // epoch time has no leap seconds: every UTC day is exactly this long

export interface UtcWindows {
  /** `2026-11-28` */
  day: string;
  /**
   * The short window: `2026-11-28T09:37` (a minute), or `2026-11-28T09` (an hour, for audio
   * seconds). Sorts as text in time order (the limiter compares them with `<`); one model's counter
   * item only ever holds one of the two forms.
   */
  minute: string;
  /** `2026-11` */
  month: string;
  msToMinuteEnd: number;
  msToDayEnd: number;
}

/** The short window of `limits`: a minute for tokens, an hour for audio seconds (ASH). */
export function shortWindowOf(limits: Pick<ModelLimits, 'measure'>): 'minute' | 'hour' {
  return limits.measure === 'audio_seconds' ? 'hour' : 'minute';
}

export function utcWindows(epochMs: number, short: 'minute' | 'hour' = 'minute'): UtcWindows {
  const iso = new Date(epochMs).toISOString();
  const shortMs = short === 'hour' ? HOUR_MS : MINUTE_MS;
  return {
    day: iso.slice(0, 10),
    minute: iso.slice(0, short === 'hour' ? 13 : 16),
    month: iso.slice(0, 7),
    msToMinuteEnd: shortMs - mod(epochMs, shortMs),
    msToDayEnd: DAY_MS - mod(epochMs, DAY_MS),
  };
}

function mod(value: number, divisor: number): number {
  return ((value % divisor) + divisor) % divisor;
}

/**
 * Groq's duration text (Go's `time.Duration` style): `390ms`, `7.66s`, `2m59.56s`, `1h2m3s`.
 * Rounded up to the next 10 ms, so a client that waits exactly this long never retries too early.
 * Never negative.
 */
export function formatDuration(ms: number): string {
  if (!(ms > 0)) return '0s';
  const wholeMs = Math.ceil(ms);
  if (wholeMs < 1000) return `${wholeMs}ms`;
  const centis = Math.ceil(ms / 10);
  const hours = Math.floor(centis / 360_000);
  const minutes = Math.floor((centis % 360_000) / 6_000);
  const seconds = `${Number(((centis % 6_000) / 100).toFixed(2))}s`;
  if (hours > 0) return `${hours}h${minutes}m${seconds}`;
  if (minutes > 0) return `${minutes}m${seconds}`;
  return seconds;
}

const LIMIT_LABELS: Record<LimitName, string> = {
  rpm: 'requests per minute (RPM)',
  rpd: 'requests per day (RPD)',
  tpm: 'tokens per minute (TPM)',
  tpd: 'tokens per day (TPD)',
};

/** The same limits of a speech-to-text model, as Groq names them. */
const AUDIO_LIMIT_LABELS: Record<LimitName, string> = {
  ...LIMIT_LABELS,
  // One counter item keeps one short window: an audio model's RPM is counted by the hour, as
  // 60 x RPM (RequestMetering.limitsOf); the usage plan's throttle still stops bursts at the edge.
  rpm: 'requests per hour (60 x RPM)',
  tpm: 'audio seconds per hour (ASH)',
  tpd: 'audio seconds per day (ASD)',
};

function labelOf(name: LimitName, measure: ModelLimits['measure']): string {
  return (measure === 'audio_seconds' ? AUDIO_LIMIT_LABELS : LIMIT_LABELS)[name];
}

/** The 429 message, word for word as Groq writes it. */
export function rateLimitMessage(
  model: string,
  organization: string,
  refusal: LimitRefusal,
  measure?: ModelLimits['measure'],
): string {
  return (
    `Rate limit reached for model \`${model}\` in organization \`${organization}\` on ${labelOf(refusal.reason, measure)}: ` +
    `Limit ${refusal.limit}, Used ${refusal.used}, Requested ${refusal.requested}. ` +
    `Please try again in ${formatDuration(refusal.retryAfterMs)}.`
  );
}

/** The 413 message for a request that no budget can ever admit, as Groq writes it. */
export function requestTooLargeMessage(
  model: string,
  organization: string,
  tooLarge: { limitName: 'tpm' | 'tpd'; limit: number; requested: number },
  measure?: ModelLimits['measure'],
): string {
  const reduce =
    measure === 'audio_seconds' ? 'send a shorter recording' : 'reduce your message size';
  return (
    `Request too large for model \`${model}\` in organization \`${organization}\` on ${labelOf(tooLarge.limitName, measure)}: ` +
    `Limit ${tooLarge.limit}, Requested ${tooLarge.requested}, please ${reduce} and try again.`
  );
}

export function usedOf(name: LimitName, counters: LimitCounters): number {
  switch (name) {
    case 'rpm':
      return counters.requestsThisMinute;
    case 'rpd':
      return counters.requestsToday;
    case 'tpm':
      return counters.tokensThisMinute;
    case 'tpd':
      return counters.tokensToday;
  }
}

/** The four checks of one request, day limits first: waiting for the minute would not help against them. */
function checks(
  limits: ModelLimits,
  counters: LimitCounters,
  reserve: number,
  nowMs: number,
): LimitRefusal[] {
  const { msToMinuteEnd, msToDayEnd } = utcWindows(nowMs, shortWindowOf(limits));
  const check = (reason: LimitName, requested: number, retryAfterMs: number): LimitRefusal => ({
    reason,
    limit: limits[reason],
    used: usedOf(reason, counters),
    requested,
    retryAfterMs,
  });
  return [
    check('rpd', 1, msToDayEnd),
    check('tpd', reserve, msToDayEnd),
    check('rpm', 1, msToMinuteEnd),
    check('tpm', reserve, msToMinuteEnd),
  ];
}

/** The first limit that a request reserving `reserve` tokens would exceed, or undefined when it fits. */
export function refusalFor(
  limits: ModelLimits,
  counters: LimitCounters,
  reserve: number,
  nowMs: number,
): LimitRefusal | undefined {
  return checks(limits, counters, reserve, nowMs).find((c) => c.used + c.requested > c.limit);
}

/**
 * The limit closest to its end (highest share used). The answer when the counters keep changing
 * under contention faster than a refusal can be explained: the busiest limit is the honest guess.
 */
export function tightestLimit(
  limits: ModelLimits,
  counters: LimitCounters,
  reserve: number,
  nowMs: number,
): LimitRefusal {
  const share = (c: LimitRefusal) => (c.used + c.requested) / c.limit;
  return checks(limits, counters, reserve, nowMs).reduce((a, b) => (share(b) > share(a) ? b : a));
}

/**
 * The six `x-ratelimit-*` headers, with Groq's meaning: requests are counted against the day (RPD),
 * tokens against the minute (TPM). Reset times are the time until that window ends, when the whole
 * budget comes back (fixed windows free nothing earlier); they are given even when nothing was used
 * yet.
 */
export function rateLimitHeaders(
  limits: ModelLimits,
  counters: LimitCounters,
  nowMs: number,
): Record<string, string> {
  if (limits.measure === 'audio_seconds') return audioRateLimitHeaders(limits, counters, nowMs);
  const { msToMinuteEnd, msToDayEnd } = utcWindows(nowMs);
  return {
    'x-ratelimit-limit-requests': String(limits.rpd),
    'x-ratelimit-limit-tokens': String(limits.tpm),
    'x-ratelimit-remaining-requests': String(Math.max(0, limits.rpd - counters.requestsToday)),
    'x-ratelimit-remaining-tokens': String(Math.max(0, limits.tpm - counters.tokensThisMinute)),
    'x-ratelimit-reset-requests': formatDuration(msToDayEnd),
    'x-ratelimit-reset-tokens': formatDuration(msToMinuteEnd),
  };
}

/**
 * A speech-to-text model's headers: requests against the day (RPD), as for chat, and audio seconds
 * against the hour (ASH) in `x-ratelimit-*-audio-seconds`; no token headers, since nothing is
 * counted in tokens.
 */
function audioRateLimitHeaders(
  limits: ModelLimits,
  counters: LimitCounters,
  nowMs: number,
): Record<string, string> {
  const { msToMinuteEnd: msToHourEnd, msToDayEnd } = utcWindows(nowMs, 'hour');
  return {
    'x-ratelimit-limit-requests': String(limits.rpd),
    'x-ratelimit-remaining-requests': String(Math.max(0, limits.rpd - counters.requestsToday)),
    'x-ratelimit-reset-requests': formatDuration(msToDayEnd),
    'x-ratelimit-limit-audio-seconds': String(limits.tpm),
    'x-ratelimit-remaining-audio-seconds': String(
      Math.max(0, limits.tpm - counters.tokensThisMinute),
    ),
    'x-ratelimit-reset-audio-seconds': formatDuration(msToHourEnd),
  };
}

/** Each request writes its counter item twice (admission, settlement). */
const WRITES_PER_REQUEST = 2;
/** DynamoDB serves about 1,000 writes/s on one item (one partition); keep 20% headroom. */
const WRITES_PER_SECOND_PER_ITEM = 800;

/** How many counter items share one (customer, model, day): 1 unless the RPM would make one item hot. */
export function shardCount(limits: ModelLimits): number {
  return Math.max(
    1,
    Math.ceil((limits.rpm * WRITES_PER_REQUEST) / 60 / WRITES_PER_SECOND_PER_ITEM),
  );
}

/** Shard `shard`'s part of each limit: equal parts, the remainder to the first shards, summing to the limit. */
export function shardLimits(limits: ModelLimits, shards: number, shard: number): ModelLimits {
  const part = (limit: number) => Math.floor(limit / shards) + (shard < limit % shards ? 1 : 0);
  return {
    rpm: part(limits.rpm),
    rpd: part(limits.rpd),
    tpm: part(limits.tpm),
    tpd: part(limits.tpd),
    ...(limits.measure ? { measure: limits.measure } : {}),
  };
}

export function sumCounters(all: readonly LimitCounters[]): LimitCounters {
  return all.reduce(
    (sum, c) => ({
      requestsToday: sum.requestsToday + c.requestsToday,
      tokensToday: sum.tokensToday + c.tokensToday,
      requestsThisMinute: sum.requestsThisMinute + c.requestsThisMinute,
      tokensThisMinute: sum.tokensThisMinute + c.tokensThisMinute,
    }),
    NO_USAGE,
  );
}
