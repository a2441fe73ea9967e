import fc from 'fast-check';
import {
  formatDuration,
  type LimitRefusal,
  NO_USAGE,
  rateLimitHeaders,
  rateLimitMessage,
  refusalFor,
  requestTooLargeMessage,
  shardCount,
  shardLimits,
  utcWindows,
} from '../../../lambda/metering/rate-limits';

const AT = Date.parse('2026-11-28T09:37:12.345Z');
const LIMITS = { rpm: 30, rpd: 1000, tpm: 12000, tpd: 100000 };

describe('UTC windows', () => {
  it('names the day, minute and month and the time left in the minute and day', () => {
    expect(utcWindows(AT)).toEqual({
      day: '2026-11-28',
      minute: '2026-11-28T09:37',
      month: '2026-11',
      msToMinuteEnd: 47_655,
      msToDayEnd: 51_767_655,
    });
  });

  it('starts a new minute and day exactly at the boundary', () => {
    const midnight = Date.parse('2026-11-29T00:00:00.000Z');

    expect(utcWindows(midnight - 1)).toMatchObject({
      day: '2026-11-28',
      minute: '2026-11-28T23:59',
      msToDayEnd: 1,
    });
    expect(utcWindows(midnight)).toMatchObject({
      day: '2026-11-29',
      minute: '2026-11-29T00:00',
      msToMinuteEnd: 60_000,
      msToDayEnd: 86_400_000,
    });
  });

  it('orders minutes as text in time order (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4e12 }), fc.integer({ min: 0, max: 4e12 }), (a, b) => {
        const [x, y] = [utcWindows(Math.min(a, b)).minute, utcWindows(Math.max(a, b)).minute];
        return x <= y;
      }),
    );
  });
});

describe('durations', () => {
  it.each([
    [179_560, '2m59.56s'],
    [7_660, '7.66s'],
    [3_723_000, '1h2m3s'],
    [1_250, '1.25s'],
    [1_001, '1.01s'],
    [59_999, '1m0s'],
    [390, '390ms'],
    [0, '0s'],
    [-5, '0s'],
  ])('writes %d ms as %s (rounded up, never negative)', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});

describe('messages', () => {
  it('writes the 429 message exactly as Groq does', () => {
    const refusal = {
      reason: 'tpm' as const,
      limit: 12000,
      used: 11950,
      requested: 300,
      retryAfterMs: 1250,
    };

    expect(rateLimitMessage('qwen3-14b', 'cus_x', refusal)).toBe(
      'Rate limit reached for model `qwen3-14b` in organization `cus_x` on tokens per minute (TPM): ' +
        'Limit 12000, Used 11950, Requested 300. Please try again in 1.25s.',
    );
  });

  it('names each limit as Groq does', () => {
    const message = (reason: 'rpm' | 'rpd' | 'tpd') =>
      rateLimitMessage('m', 'o', { reason, limit: 1, used: 1, requested: 1, retryAfterMs: 7_660 });

    expect(message('rpm')).toContain(
      'on requests per minute (RPM): Limit 1, Used 1, Requested 1. Please try again in 7.66s.',
    );
    expect(message('rpd')).toContain('on requests per day (RPD):');
    expect(message('tpd')).toContain('on tokens per day (TPD):');
  });

  it('writes the 413 message for a request larger than the limit', () => {
    expect(
      requestTooLargeMessage('m', 'cus_x', { limitName: 'tpm', limit: 6000, requested: 8418 }),
    ).toBe(
      'Request too large for model `m` in organization `cus_x` on tokens per minute (TPM): Limit 6000, ' +
        'Requested 8418, please reduce your message size and try again.',
    );
  });
});

describe('refusals', () => {
  it('names day limits before minute limits, requests before tokens', () => {
    const full = {
      requestsToday: 1000,
      tokensToday: 100000,
      requestsThisMinute: 30,
      tokensThisMinute: 12000,
    };

    expect(refusalFor(LIMITS, full, 10, AT)).toMatchObject({
      reason: 'rpd',
      retryAfterMs: 51_767_655,
    });
    expect(refusalFor(LIMITS, { ...full, requestsToday: 0 }, 10, AT)).toMatchObject({
      reason: 'tpd',
    });
    expect(refusalFor(LIMITS, { ...full, requestsToday: 0, tokensToday: 0 }, 10, AT)).toEqual({
      reason: 'rpm',
      limit: 30,
      used: 30,
      requested: 1,
      retryAfterMs: 47_655,
    });
    expect(refusalFor(LIMITS, { ...NO_USAGE, tokensThisMinute: 11950 }, 300, AT)).toEqual({
      reason: 'tpm',
      limit: 12000,
      used: 11950,
      requested: 300,
      retryAfterMs: 47_655,
    });
  });

  it('admits what fits exactly', () => {
    expect(
      refusalFor(LIMITS, { ...NO_USAGE, requestsThisMinute: 29, tokensThisMinute: 11700 }, 300, AT),
    ).toBeUndefined();
  });
});

describe('x-ratelimit headers', () => {
  it("counts requests against the day and tokens against the minute, as Groq's headers do", () => {
    const counters = {
      requestsToday: 14,
      tokensToday: 5000,
      requestsThisMinute: 3,
      tokensThisMinute: 340,
    };

    expect(rateLimitHeaders(LIMITS, counters, AT)).toEqual({
      'x-ratelimit-limit-requests': '1000',
      'x-ratelimit-limit-tokens': '12000',
      'x-ratelimit-remaining-requests': '986',
      'x-ratelimit-remaining-tokens': '11660',
      'x-ratelimit-reset-requests': '14h22m47.66s',
      'x-ratelimit-reset-tokens': '47.66s',
    });
  });

  it('never reports a negative remainder', () => {
    const over = {
      requestsToday: 1001,
      tokensToday: 0,
      requestsThisMinute: 0,
      tokensThisMinute: 12500,
    };

    const headers = rateLimitHeaders(LIMITS, over, AT);

    expect(headers['x-ratelimit-remaining-requests']).toBe('0');
    expect(headers['x-ratelimit-remaining-tokens']).toBe('0');
  });
});

describe('counter shards', () => {
  it.each([
    [30, 1],
    [24_000, 1],
    [24_001, 2],
    [240_000, 10],
  ])(
    'keeps RPM %d on %d item(s) (each under 800 writes/s at 2 writes per request)',
    (rpm, shards) => {
      expect(shardCount({ ...LIMITS, rpm })).toBe(shards);
    },
  );

  it('splits every limit into parts that differ by at most one and sum to the limit (property)', () => {
    const limit = fc.integer({ min: 1, max: 1e9 });
    fc.assert(
      fc.property(
        fc.record({ rpm: limit, rpd: limit, tpm: limit, tpd: limit }),
        fc.integer({ min: 1, max: 64 }),
        (limits, n) => {
          const parts = Array.from({ length: n }, (_, shard) => shardLimits(limits, n, shard));
          for (const name of ['rpm', 'rpd', 'tpm', 'tpd'] as const) {
            const values = parts.map((p) => p[name]);
            expect(values.reduce((a, b) => a + b, 0)).toBe(limits[name]);
            expect(Math.max(...values) - Math.min(...values)).toBeLessThanOrEqual(1);
            expect(values[0]).toBe(Math.max(...values));
          }
        },
      ),
    );
  });
});

describe('audio seconds (speech-to-text models)', () => {
  const limits = {
    rpm: 1_200,
    rpd: 2_000,
    tpm: 7_200,
    tpd: 28_800,
    measure: 'audio_seconds' as const,
  };
  // 2026-12-07T09:45:30Z: 14 m 30 s to the end of the hour.
  const at = Date.UTC(2026, 11, 7, 9, 45, 30);

  it('counts the short window by the UTC hour', () => {
    expect(utcWindows(at, 'hour')).toMatchObject({
      minute: '2026-12-07T09',
      msToMinuteEnd: 870_000,
    });
  });

  it('sends the audio-seconds headers against the hour, and no token headers', () => {
    const counters = {
      requestsToday: 3,
      tokensToday: 95,
      requestsThisMinute: 3,
      tokensThisMinute: 95,
    };
    expect(rateLimitHeaders(limits, counters, at)).toEqual({
      'x-ratelimit-limit-requests': '2000',
      'x-ratelimit-remaining-requests': '1997',
      'x-ratelimit-reset-requests': '14h14m30s',
      'x-ratelimit-limit-audio-seconds': '7200',
      'x-ratelimit-remaining-audio-seconds': '7105',
      'x-ratelimit-reset-audio-seconds': '14m30s',
    });
  });

  it("refuses past the ASH until the hour ends, in Groq's words", () => {
    const counters = {
      requestsToday: 10,
      tokensToday: 7_180,
      requestsThisMinute: 10,
      tokensThisMinute: 7_180,
    };
    const refusal = refusalFor(limits, counters, 30, at);
    expect(refusal).toMatchObject({
      reason: 'tpm',
      limit: 7_200,
      used: 7_180,
      retryAfterMs: 870_000,
    });
    expect(
      rateLimitMessage('whisper-large-v3-turbo', 'org', refusal as LimitRefusal, 'audio_seconds'),
    ).toBe(
      'Rate limit reached for model `whisper-large-v3-turbo` in organization `org` on audio seconds per hour (ASH): ' +
        'Limit 7200, Used 7180, Requested 30. Please try again in 14m30s.',
    );
  });
});
