import {
  axisWidth,
  daysBetween,
  formatInteger,
  formatLastUsed,
  formatPricePerMillion,
  formatResets,
  formatSeconds,
  formatUsd,
  legendDay,
  legendValue,
  MODEL_COLOURS,
  modelColour,
  nextMonthStart,
  nextTier,
  percentOf,
  replyCostUsd,
  shortModelName,
  spendMarks,
  spendStanding,
  stackSeries,
  usageSeries,
} from '../../console/src/format';
import { modelPricing } from '../../console/src/jobs-format';

describe('console formatting', () => {
  it('shows limits exactly, with separators, never rounded', () => {
    expect(formatInteger(14_400)).toBe('14,400');
    expect(formatInteger(1_000_000_000)).toBe('1,000,000,000');
    expect(formatInteger(30)).toBe('30');
  });

  it('shows prices per 1M tokens to the millionth of a dollar, with cents at least', () => {
    expect(formatPricePerMillion(0)).toBe('Free');
    expect(formatPricePerMillion(0.59)).toBe('$0.59');
    expect(formatPricePerMillion(0.05)).toBe('$0.05');
    expect(formatPricePerMillion(0.5)).toBe('$0.50');
    // Half of $0.05 (a batch discount) is $0.025, not $0.03.
    expect(formatPricePerMillion(0.05 * 0.5)).toBe('$0.025');
    expect(formatPricePerMillion(0.79 * 1.25)).toBe('$0.9875');
    expect(formatPricePerMillion(12)).toBe('$12.00');
  });

  it('shows amounts of USD from the API (decimal strings) and tiny costs with their digits', () => {
    expect(formatUsd('12.3456')).toBe('$12.35');
    expect(formatUsd('0')).toBe('$0.00');
    expect(formatUsd(0.000005)).toBe('$0.000005');
    expect(formatUsd(null)).toBe('—');
    expect(formatUsd('not a number')).toBe('—');
  });

  it('shows durations as people read them, each number with its unit', () => {
    expect(formatSeconds(0.2)).toBe('1 s');
    expect(formatSeconds(59)).toBe('59 s');
    expect(formatSeconds(60)).toBe('1 min');
    expect(formatSeconds(200)).toBe('3 min 20 s');
    expect(formatSeconds(3600)).toBe('1 h');
    expect(formatSeconds(5 * 3600 + 12 * 60 + 5)).toBe('5 h 12 min');
  });

  it("says when the minute's and the day's windows reset, apart (not '45 23m')", () => {
    expect(formatResets(45, 23 * 60)).toBe(
      'This minute resets in 45 s · today (UTC) resets in 23 min',
    );
    expect(formatResets(3, 11 * 3600 + 30 * 60)).toBe(
      'This minute resets in 3 s · today (UTC) resets in 11 h 30 min',
    );
  });

  it("shows the range's total in a chart legend when no day is hovered, the day's value when one is", () => {
    const usd = (v: number) => formatUsd(v);
    expect(legendValue([1, 0, 2.5], null, String)).toBe('3.5');
    expect(legendValue([0.000001, 0.000002], undefined, usd)).toBe('$0.000003');
    expect(legendValue([1, 0, 2], 2, String)).toBe('2');
    expect(legendValue([1], 5, String)).toBe('—');
    expect(legendDay(['2026-11-25', '2026-11-26', '2026-12-01'], null)).toBe(
      '2026-11-25 to 2026-12-01 (total)',
    );
    expect(legendDay(['2026-12-01'], null)).toBe('2026-12-01 (total)');
    expect(legendDay(['2026-11-25', '2026-11-26'], 1)).toBe('2026-11-26');
    expect(legendDay([], null)).toBe('—');
  });

  it("sizes a chart's axis to its widest label, so a long cost label is not clipped", () => {
    // A stand-in for canvas measureText: 7 px a character.
    const measure = (text: string) => text.length * 7;
    expect(axisWidth(['$0.00', '$0.000125', '$0.00025'], measure, 18)).toBe(9 * 7 + 18);
    expect(axisWidth(['0', '5', '10'], measure, 18)).toBe(2 * 7 + 18);
    expect(axisWidth([], measure, 18)).toBe(18);
  });

  it("shows a key's last use to the hour it is recorded at", () => {
    const now = new Date('2026-12-01T12:30:00Z');
    expect(formatLastUsed(null, now)).toBe('Not yet');
    expect(formatLastUsed(Date.parse('2026-12-01T12:00:00Z') / 1000, now)).toBe(
      'Within the last hour',
    );
    expect(formatLastUsed(Date.parse('2026-11-30T09:15:00Z') / 1000, now)).toBe('2026-11-30 09:15');
  });

  it('floors shares so a limit is never shown as full before it is', () => {
    expect(percentOf(999, 1000)).toBe(99.9);
    expect(percentOf(9999, 10000)).toBe(99.9);
    expect(percentOf(5, 0)).toBe(0);
    expect(percentOf(20, 10)).toBe(100);
  });

  it('fills days without usage with zeros, one series per model', () => {
    const buckets = [
      {
        date: '2026-11-02',
        models: [
          { model: 'b', requests: 2, input_tokens: 20, output_tokens: 4, cost_usd: '0.000010' },
          { model: 'a', requests: 1, input_tokens: 10, output_tokens: 2, cost_usd: '0.000005' },
        ],
      },
      {
        date: '2026-11-04',
        models: [{ model: 'a', requests: 3, input_tokens: 1, output_tokens: 1, cost_usd: '0' }],
      },
    ];
    expect(usageSeries(buckets, '2026-11-01', '2026-11-04', 'requests')).toEqual({
      days: ['2026-11-01', '2026-11-02', '2026-11-03', '2026-11-04'],
      models: ['a', 'b'],
      values: [
        [0, 1, 0, 3],
        [0, 2, 0, 0],
      ],
    });
    expect(usageSeries(buckets, '2026-11-02', '2026-11-02', 'cost_usd').values).toEqual([
      [0.000005],
      [0.00001],
    ]);
    expect(daysBetween('2026-12-31', '2027-01-01')).toEqual(['2026-12-31', '2027-01-01']);
  });

  it('charts audio seconds of speech models, 0 for models that have none', () => {
    const buckets = [
      {
        date: '2026-11-02',
        models: [
          { model: 'qwen3-8b', requests: 2, input_tokens: 20, output_tokens: 4, cost_usd: '0' },
          {
            model: 'whisper-large-v3-turbo',
            requests: 3,
            input_tokens: 0,
            output_tokens: 0,
            audio_seconds: 95,
            cost_usd: '0.001056',
          },
        ],
      },
    ];
    expect(usageSeries(buckets, '2026-11-01', '2026-11-02', 'audio_seconds')).toEqual({
      days: ['2026-11-01', '2026-11-02'],
      models: ['qwen3-8b', 'whisper-large-v3-turbo'],
      values: [
        [0, 0],
        [0, 95],
      ],
    });
  });

  it('places the 50/75/90% marks of a spend limit and says which were passed', () => {
    expect(spendMarks(40, 31, [50, 75, 90])).toEqual([
      { percent: 50, usd: 20, reached: true },
      { percent: 75, usd: 30, reached: true },
      { percent: 90, usd: 36, reached: false },
    ]);
    expect(spendMarks(null, 10, [50])).toEqual([]);
  });

  it('prices a reply at the plan prices and finds the next tier', () => {
    const pricing = { input_usd_per_million_tokens: 0.59, output_usd_per_million_tokens: 0.79 };
    expect(
      replyCostUsd({ prompt_tokens: 1_000_000, completion_tokens: 500_000 }, pricing),
    ).toBeCloseTo(0.985, 10);
    const plans = [{ id: 'free' }, { id: 'developer' }, { id: 'enterprise' }];
    expect(nextTier(plans, 'free')?.id).toBe('developer');
    expect(nextTier(plans, 'enterprise')).toBeUndefined();
  });

  it('gives a model the same colour from its id alone, whatever else is charted', () => {
    const ft = 'ft:qwen3-8b:org_7Hq2:support-bot:Zx81LmQ0aa9PqR';
    expect(modelColour(ft)).toBe(modelColour(ft));
    expect(MODEL_COLOURS).toContain(modelColour('qwen3-8b'));
    // Spread over the palette: ten ids use more than half of its colours.
    const ids = Array.from({ length: 10 }, (_, i) => `model-${i}`);
    expect(new Set(ids.map(modelColour)).size).toBeGreaterThan(MODEL_COLOURS.length / 2);
  });

  it("shortens a fine-tuned id for a legend to base, suffix and the id's end", () => {
    expect(shortModelName('ft:qwen3-8b:org_7Hq2:support-bot:Zx81LmQ0aa9PqR')).toBe(
      'ft:qwen3-8b:support-bot:…aa9PqR',
    );
    expect(shortModelName('qwen3-8b')).toBe('qwen3-8b');
    expect(shortModelName('ft:odd')).toBe('ft:odd');
  });

  it('stacks the models of a day so each bar is as tall as the day total', () => {
    expect(
      stackSeries([
        [1, 0, 2],
        [3, 4, 0],
        [0, 1, 1],
      ]),
    ).toEqual([
      [1, 0, 2],
      [4, 4, 2],
      [4, 5, 3],
    ]);
    expect(stackSeries([])).toEqual([]);
  });

  it('says when a spend limit resets and whether it is reached, counting spend held in flight', () => {
    expect(nextMonthStart('2026-12')).toBe('2027-01-01');
    expect(nextMonthStart('2026-02')).toBe('2026-03-01');
    expect(spendStanding(null, 5, 0)).toEqual({ state: 'none' });
    expect(spendStanding(10, 4, 1)).toEqual({ state: 'under', leftUsd: 5 });
    expect(spendStanding(10, 9, 1)).toEqual({ state: 'reached' });
    expect(spendStanding(0, 0, 0)).toEqual({ state: 'reached' });
  });

  it("prices a fine-tuned model at its base model's fine-tuned prices, as the server sends them", () => {
    const base = { input_usd_per_million_tokens: 0.05, output_usd_per_million_tokens: 0.08 };
    const fineTuned = { input_usd_per_million_tokens: 0.0625, output_usd_per_million_tokens: 0.1 };
    const plan = {
      models: [{ id: 'qwen3-8b', pricing: base, fine_tuned_pricing: fineTuned }],
    } as unknown as Parameters<typeof modelPricing>[0];
    expect(modelPricing(plan, 'ft:qwen3-8b:org:bot:ftjob-1')?.pricing).toEqual(fineTuned);
    expect(modelPricing(plan, 'qwen3-8b')?.pricing).toEqual(base);
    expect(modelPricing(plan, 'qwen3-14b')).toBeUndefined();
  });
});
