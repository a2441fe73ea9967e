/**
 * Formatting of the console: exact limits, prices, money, durations, and the shapes the charts
 * need. Pure functions (no DOM), unit-tested in test/console/.
 */

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** Exact integers with separators: limits are shown as they are enforced, never rounded (14,400 not 14K). */
export function formatInteger(value: number): string {
  return integer.format(value);
}

/** USD per 1M tokens, e.g. `$0.59`, `$0.05`; 0 is `Free`. */
export function formatPricePerMillion(usd: number): string {
  if (usd === 0) return 'Free';
  // Exact to a millionth of a dollar: $0.025 is not rounded to $0.03.
  return `$${trimZeros(usd.toFixed(6))}`;
}

/** An amount of USD from the API (a decimal string or a number): `$12.34`, small amounts with enough digits. */
export function formatUsd(value: string | number | null | undefined): string {
  if (value === null || value === undefined || value === '') return '—';
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isFinite(n)) return '—';
  if (n === 0) return '$0.00';
  if (Math.abs(n) < 0.01) return `$${trimZeros(n.toFixed(6))}`;
  return `$${n.toFixed(2)}`;
}

function trimZeros(text: string): string {
  if (!text.includes('.')) return text;
  const trimmed = text.replace(/0+$/, '');
  // Keep cents: $0.5 reads wrong, $0.50 right.
  const [whole, fraction = ''] = trimmed.split('.');
  return `${whole}.${fraction.padEnd(2, '0')}`;
}

/** Seconds as a short duration with its units spelled apart: `45 s`, `3 min 20 s`, `5 h 12 min`. */
export function formatSeconds(totalSeconds: number): string {
  const s = Math.max(0, Math.ceil(totalSeconds));
  if (s < 60) return `${s} s`;
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  if (hours > 0) return minutes > 0 ? `${hours} h ${minutes} min` : `${hours} h`;
  return s % 60 > 0 ? `${minutes} min ${s % 60} s` : `${minutes} min`;
}

/** When the limiter's windows turn over: `This minute resets in 45 s · today (UTC) resets in 11 h 30 min`. */
export function formatResets(minuteSeconds: number, daySeconds: number): string {
  return `This minute resets in ${formatSeconds(minuteSeconds)} · today (UTC) resets in ${formatSeconds(daySeconds)}`;
}

/** Milliseconds for a measurement such as time to first token: `85 ms`, `1.24 s`. */
export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

/** A share of a limit in percent, floored so 99.9% never shows as 100%. */
export function percentOf(used: number, limit: number): number {
  if (!(limit > 0)) return 0;
  return Math.min(100, Math.floor((used / limit) * 1000) / 10);
}

export function formatDate(epochSeconds: number | null | undefined): string {
  if (!epochSeconds) return '—';
  return new Date(epochSeconds * 1000).toISOString().slice(0, 16).replace('T', ' ');
}

/** A key's last use: recorded at most once an hour, so a time within the last hour reads as such. */
export function formatLastUsed(
  epochSeconds: number | null | undefined,
  now: Date = new Date(),
): string {
  if (!epochSeconds) return 'Not yet';
  if (now.getTime() - epochSeconds * 1000 < 3_600_000) return 'Within the last hour';
  return formatDate(epochSeconds);
}

/** UTC days from `start` to `end` inclusive, `YYYY-MM-DD`. */
export function daysBetween(start: string, end: string): string[] {
  const days: string[] = [];
  const last = Date.parse(`${end}T00:00:00Z`);
  for (let t = Date.parse(`${start}T00:00:00Z`); t <= last && days.length <= 400; t += 86_400_000) {
    days.push(new Date(t).toISOString().slice(0, 10));
  }
  return days;
}

/** `YYYY-MM-DD` of `now` minus `days` (UTC). */
export function dayOffset(now: Date, days: number): string {
  return new Date(now.getTime() - days * 86_400_000).toISOString().slice(0, 10);
}

export type UsageMetric =
  | 'requests'
  | 'input_tokens'
  | 'output_tokens'
  | 'audio_seconds'
  | 'cost_usd';

export const METRIC_LABELS: Record<UsageMetric, string> = {
  requests: 'Requests',
  input_tokens: 'Input tokens',
  output_tokens: 'Output tokens',
  audio_seconds: 'Audio seconds',
  cost_usd: 'Cost (USD)',
};

interface DayBucket {
  date: string;
  // `audio_seconds` is there only for speech-to-text models.
  models: ({ model: string } & Partial<Record<UsageMetric, number | string>>)[];
}

/**
 * One series per model over every day of the range (days without usage are 0: the API leaves them
 * out), for a chart of `metric` per day and model.
 */
export function usageSeries(
  buckets: DayBucket[],
  start: string,
  end: string,
  metric: UsageMetric,
): { days: string[]; models: string[]; values: number[][] } {
  const days = daysBetween(start, end);
  const models = [...new Set(buckets.flatMap((b) => b.models.map((m) => m.model)))].sort();
  const index = new Map(days.map((d, i) => [d, i]));
  const values = models.map(() => days.map(() => 0));
  for (const bucket of buckets) {
    const i = index.get(bucket.date);
    if (i === undefined) continue;
    for (const m of bucket.models) {
      const row = values[models.indexOf(m.model)];
      if (row) row[i] = (row[i] ?? 0) + Number(m[metric] ?? 0);
    }
  }
  return { days, models, values };
}

/** The 50/75/90% marks of a monthly spend limit, and whether this month's spend passed each. */
export function spendMarks(
  limitUsd: number | null,
  spentUsd: number,
  thresholds: number[],
): { percent: number; usd: number; reached: boolean }[] {
  if (limitUsd === null || !(limitUsd > 0)) return [];
  return thresholds.map((percent) => {
    const usd = (limitUsd * percent) / 100;
    return { percent, usd, reached: spentUsd >= usd };
  });
}

/** The tier above `current` in the published order, if any. */
export function nextTier<T extends { id: string }>(plans: T[], current: string): T | undefined {
  const i = plans.findIndex((p) => p.id === current);
  return i >= 0 ? plans[i + 1] : undefined;
}

/** The cost of one reply at the plan's prices (USD per 1M input and output tokens). */
export function replyCostUsd(
  usage: { prompt_tokens: number; completion_tokens: number },
  pricing: { input_usd_per_million_tokens: number; output_usd_per_million_tokens: number },
): number {
  return (
    (usage.prompt_tokens * pricing.input_usd_per_million_tokens +
      usage.completion_tokens * pricing.output_usd_per_million_tokens) /
    1_000_000
  );
}

/**
 * What a chart's legend shows for a model: the hovered day's value, or, with no day hovered, the
 * range's total (a legend reading "--" says nothing).
 */
export function legendValue(
  values: readonly number[],
  index: number | null | undefined,
  format: (value: number) => string,
): string {
  if (index === null || index === undefined) return format(values.reduce((sum, v) => sum + v, 0));
  const value = values[index];
  return value === undefined ? '—' : format(value);
}

/** The legend's day: the hovered day, or the range the totals cover. */
export function legendDay(days: readonly string[], index: number | null | undefined): string {
  if (index === null || index === undefined) {
    if (days.length === 0) return '—';
    return days.length === 1 ? `${days[0]} (total)` : `${days[0]} to ${days.at(-1)} (total)`;
  }
  return days[index] ?? '—';
}

/**
 * Pixels an axis needs for its widest label (the tick labels measured by `measure`), so a long
 * label such as `$0.000125` is never clipped at the chart's edge.
 */
export function axisWidth(
  labels: readonly string[],
  measure: (text: string) => number,
  gap = 14,
): number {
  const widest = labels.reduce((most, label) => Math.max(most, measure(label)), 0);
  return Math.ceil(widest + gap);
}

/**
 * Colours for the models of a chart: each at least 4.5:1 against the white background (WCAG AA),
 * so a bar and its legend swatch read as well as text.
 */
export const MODEL_COLOURS = [
  '#1f5fbf',
  '#b3261e',
  '#1b7a3a',
  '#7a4fb3',
  '#a35200',
  '#006b75',
  '#9c1f6e',
  '#4d5b00',
  '#3f51b5',
  '#795548',
] as const;

/**
 * A model's colour from its id alone (FNV-1a hash into {@link MODEL_COLOURS}): the same model has
 * the same colour on every chart, page and reload, whichever other models a range holds.
 */
export function modelColour(model: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < model.length; i++) {
    hash ^= model.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return MODEL_COLOURS[hash % MODEL_COLOURS.length] as string;
}

/**
 * A model's name short enough for a legend: a fine-tuned id `ft:<base>:<owner>:<suffix>:<id>`
 * becomes `ft:<base>:<suffix>:…<last 6 of id>` (the owner is always the reader's own account);
 * other ids are kept. The full id stays in the table under the charts.
 */
export function shortModelName(model: string): string {
  const parts = model.split(':');
  if (parts[0] !== 'ft' || parts.length < 5) return model;
  const [, base, , suffix, id = ''] = parts;
  return `ft:${base}:${suffix}:…${id.slice(-6)}`;
}

/**
 * Stacked bars: row `i` is the sum of the models 0..i each day, so model `i`'s bar is drawn from
 * row `i - 1` up to row `i` and a day's bar is as tall as its total.
 */
export function stackSeries(values: readonly (readonly number[])[]): number[][] {
  const stacked: number[][] = [];
  for (const [i, row] of values.entries()) {
    const below = stacked[i - 1];
    stacked.push(row.map((v, day) => v + (below?.[day] ?? 0)));
  }
  return stacked;
}

/** The first day of the month after `month` (`2026-12` -> `2027-01-01`): when a spend limit resets. */
export function nextMonthStart(month: string): string {
  const [year = 1970, monthNumber = 1] = month.split('-').map(Number);
  return new Date(Date.UTC(year, monthNumber, 1)).toISOString().slice(0, 10);
}

/**
 * Where this month's spend stands against a monthly limit: what is left before requests are
 * refused, or that they are refused now. Spend held by requests in flight counts, as the API counts
 * it when it admits a request.
 */
export function spendStanding(
  limitUsd: number | null,
  spentUsd: number,
  reservedUsd: number,
): { state: 'none' } | { state: 'under'; leftUsd: number } | { state: 'reached' } {
  if (limitUsd === null) return { state: 'none' };
  const left = limitUsd - spentUsd - reservedUsd;
  return left > 0 ? { state: 'under', leftUsd: left } : { state: 'reached' };
}
