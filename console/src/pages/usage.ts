import { html } from 'htm/preact';
import { useMemo, useState } from 'preact/hooks';
import type { ConsoleApi, LimitRow, Limits, Usage } from '../api-client';
import { UsageChart } from '../chart';
import {
  dayOffset,
  formatInteger,
  formatResets,
  formatUsd,
  METRIC_LABELS,
  percentOf,
  type UsageMetric,
  usageSeries,
} from '../format';
import { ErrorNotice, Loading, TableScroll, useLoad } from '../ui';

/** The Usage page: headroom now (`/v1/limits`), and charts per day and model over a date range (`/v1/usage`). */

const METRICS: UsageMetric[] = ['requests', 'input_tokens', 'output_tokens', 'cost_usd'];
const formatters: Record<UsageMetric, (v: number) => string> = {
  requests: formatInteger,
  input_tokens: formatInteger,
  output_tokens: formatInteger,
  audio_seconds: formatInteger,
  cost_usd: (v) => formatUsd(v),
};

/** The charts to draw: audio seconds only when a speech-to-text model was used in the range. */
function metricsOf(usage: Usage): UsageMetric[] {
  if (!usage.total.audio_seconds) return METRICS;
  return [...METRICS.slice(0, 3), 'audio_seconds', ...METRICS.slice(3)];
}

/** `N audio seconds, ` for the totals line, or nothing when no audio was transcribed. */
function audioTotal(seconds: number | undefined): string {
  return seconds ? `${formatInteger(seconds)} audio seconds, ` : '';
}

function MetricChart({
  metric,
  usage,
  range,
}: {
  metric: UsageMetric;
  usage: Usage;
  range: { start: string; end: string };
}) {
  // The chart is rebuilt only when its data changes, not on every render of the page.
  const series = useMemo(
    () => usageSeries(usage.data, range.start, range.end, metric),
    [usage, range, metric],
  );
  return html`<${UsageChart} title=${METRIC_LABELS[metric]} format=${formatters[metric]} integer=${metric !== 'cost_usd'}
    days=${series.days} models=${series.models} values=${series.values} />`;
}

const HEADROOM: { field: keyof Omit<Limits['data'][number], 'model'>; label: string }[] = [
  { field: 'requests_per_minute', label: 'Requests this minute' },
  { field: 'requests_per_day', label: 'Requests today' },
  { field: 'tokens_per_minute', label: 'Tokens this minute' },
  { field: 'tokens_per_day', label: 'Tokens today' },
];

function Meter({ row, label, model }: { row: LimitRow; label: string; model: string }) {
  const percent = percentOf(row.used, row.limit);
  return html`<div class="meter">
    <dt>${label}</dt>
    <dd>
      <span>${formatInteger(row.remaining)} left of ${formatInteger(row.limit)}</span>
      <progress max="100" value=${percent} aria-label=${`${model} ${label.toLowerCase()}: ${percent}% used`}></progress>
    </dd>
  </div>`;
}

/**
 * Headroom per model as a grid of meters rather than a table: four columns fit a laptop, and on a
 * phone they wrap into two instead of scrolling sideways under a clipped caption.
 */
function Headroom({ limits }: { limits: Limits }) {
  return html`<p data-testid="resets">${`${formatResets(limits.reset_minute_seconds, limits.reset_day_seconds)}.`}</p>
    <ul class="headroom" aria-label="Headroom now, per model">
      ${limits.data.map(
        (m) => html`<li>
          <h3><code>${m.model}</code></h3>
          <dl>${HEADROOM.map((h) => html`<${Meter} row=${m[h.field]} label=${h.label} model=${m.model} />`)}</dl>
        </li>`,
      )}
    </ul>`;
}

export function UsagePage({ api }: { api: ConsoleApi }) {
  const today = dayOffset(new Date(), 0);
  const [range, setRange] = useState({ start: dayOffset(new Date(), 6), end: today });
  const [draft, setDraft] = useState(range);
  const limits = useLoad(() => api.limits(), [api]);
  const usage = useLoad(() => api.usage(range.start, range.end), [api, range.start, range.end]);

  const apply = (event: Event) => {
    event.preventDefault();
    setRange(draft);
  };
  return html`<section aria-labelledby="usage-title">
    <h1 id="usage-title">Usage</h1>
    <h2>Right now</h2>
    ${limits.error ? html`<${ErrorNotice} error=${limits.error} />` : null}
    ${limits.data ? html`<${Headroom} limits=${limits.data} />` : html`<${Loading} what="your limits" />`}
    <p><button type="button" class="secondary" onClick=${() => {
      limits.reload();
      usage.reload();
    }}>Refresh</button></p>

    <h2>Per day and model</h2>
    <form class="inline-form" onSubmit=${apply}>
      <label>From <input type="date" name="start" required value=${draft.start} max=${today}
        onInput=${(e: Event) => setDraft({ ...draft, start: (e.target as HTMLInputElement).value })} /></label>
      <label>To <input type="date" name="end" required value=${draft.end} max=${today}
        onInput=${(e: Event) => setDraft({ ...draft, end: (e.target as HTMLInputElement).value })} /></label>
      <button type="submit">Show</button>
    </form>
    ${usage.error ? html`<${ErrorNotice} error=${usage.error} />` : null}
    ${usage.loading && !usage.data ? html`<${Loading} what="usage" />` : null}
    ${
      usage.data
        ? html`<p class="totals" aria-live="polite" data-testid="usage-totals">
            ${`Total: ${formatInteger(usage.data.total.requests)} ${usage.data.total.requests === 1 ? 'request' : 'requests'}, ${formatInteger(usage.data.total.input_tokens)} input and ${formatInteger(usage.data.total.output_tokens)} output tokens, ${audioTotal(usage.data.total.audio_seconds)}${formatUsd(usage.data.total.cost_usd)}.`}
          </p>
          <div class="charts">
            ${metricsOf(usage.data).map(
              (metric) =>
                html`<${MetricChart} key=${metric} metric=${metric} usage=${usage.data} range=${range} />`,
            )}
          </div>
          <${TableScroll} label="Usage per day and model">
            <table>
              <caption>Usage per day and model</caption>
              <thead><tr><th scope="col">Day</th><th scope="col">Model</th><th scope="col">Requests</th>
                <th scope="col">Input tokens</th><th scope="col">Output tokens</th>
                <th scope="col">Audio seconds</th><th scope="col">Cost</th></tr></thead>
              <tbody>
                ${usage.data.data.flatMap((day) =>
                  day.models.map(
                    (m) => html`<tr><td>${day.date}</td><td><code>${m.model}</code></td>
                      <td>${formatInteger(m.requests)}</td><td>${formatInteger(m.input_tokens)}</td>
                      <td>${formatInteger(m.output_tokens)}</td><td>${formatInteger(m.audio_seconds ?? 0)}</td>
                      <td>${formatUsd(m.cost_usd)}</td></tr>`,
                  ),
                )}
                ${usage.data.data.length === 0 ? html`<tr><td colspan="7">No usage in this range yet.</td></tr>` : null}
              </tbody>
            </table>
          <//>`
        : null
    }
  </section>`;
}
