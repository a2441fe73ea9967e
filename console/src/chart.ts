import { html } from 'htm/preact';
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import {
  axisWidth,
  legendDay,
  legendValue,
  modelColour,
  shortModelName,
  stackSeries,
} from './format';

/** Half a day in seconds: the x axis reaches half a day past the first and last days' bars. */
const HALF_DAY = 43_200;

export interface ChartProps {
  title: string;
  days: string[];
  models: string[];
  values: number[][];
  format: (value: number) => string;
  /** Counts (requests, tokens): whole-number steps on the axis. */
  integer?: boolean;
}

/** Whole-number axis steps: 1, 2, 5, 10, 20, 50, ... */
const INTEGER_STEPS = Array.from(
  { length: 30 },
  (_, i) => (i % 3 === 0 ? 1 : i % 3 === 1 ? 2 : 5) * 10 ** Math.floor(i / 3),
);

/**
 * Stacked bars of one metric per day, a segment per model (uPlot: 24 KB gzipped, canvas): a day is
 * a count, so a line drawn between two days would show values that never were. Each model keeps
 * its colour everywhere ({@link modelColour}). The canvas is hidden from screen readers; the page
 * shows the same figures in a table.
 */
export function UsageChart({ title, days, models, values, format, integer }: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = box.current;
    if (!element) return;
    const xs = days.map((d) => Date.parse(`${d}T00:00:00Z`) / 1000);
    const bars = uPlot.paths.bars?.({ size: [0.7, 48], align: 0 });
    const width = () => Math.max(280, element.clientWidth);
    const plot = new uPlot(
      {
        width: width(),
        height: 220,
        // Room on the right for the last day's label, which uPlot centres on the chart's edge.
        padding: [12, 24, 0, 0],
        tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
        scales: {
          x: { time: true, range: (_u, min, max) => [min - HALF_DAY, max + HALF_DAY] },
          y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] },
        },
        axes: [
          {},
          {
            values: (_u, splits) => splits.map(format),
            // As wide as the widest label, measured in the axis's own font: a fixed width clipped
            // `$0.000125` at phone width and wasted space on `0`-`5`.
            size: (u, labels, axisIndex, cycle) => {
              // uPlot keeps the last size as `_size` and the font as [css, px] once it has drawn
              // (not typed).
              const axis = u.axes[axisIndex] as unknown as { _size?: number; font?: unknown };
              if (cycle > 1 && axis._size) return axis._size;
              const ctx = u.ctx;
              const font = Array.isArray(axis.font) ? axis.font[0] : axis.font;
              if (typeof font === 'string') ctx.font = font;
              // The canvas is scaled by the device's pixel ratio; the axis size is in CSS pixels.
              return axisWidth(
                labels ?? [],
                (text) => ctx.measureText(text).width / uPlot.pxRatio,
                18,
              );
            },
            ...(integer ? { incrs: INTEGER_STEPS } : {}),
          },
        ],
        // Model i's segment stands on model i - 1's (uPlot's series 0 is the x axis).
        bands: models.slice(1).map((_m, i) => ({ series: [i + 2, i + 1] as [number, number] })),
        series: [
          // With no day hovered, the legend shows the range's totals instead of "--".
          {
            label: 'Day',
            value: (_u: uPlot, _v: number, _s: number, index: number | null) =>
              legendDay(days, index),
          },
          ...models.map((model, i) => ({
            label: shortModelName(model),
            // A white edge between stacked segments: two models whose ids hash to one colour
            // still read as two.
            stroke: '#ffffff',
            fill: modelColour(model),
            width: 1,
            paths: bars,
            points: { show: false },
            value: (_u: uPlot, _v: number, _s: number, index: number | null) =>
              legendValue(values[i] ?? [], index, format),
          })),
        ],
      },
      [xs, ...stackSeries(values)],
      element,
    );
    const resize = new ResizeObserver(() => plot.setSize({ width: width(), height: 220 }));
    resize.observe(element);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [days, models, values, format, integer]);
  const total = values.flat().reduce((a, b) => a + b, 0);
  return html`<figure class="chart" data-total=${total}>
    <figcaption>${title}</figcaption>
    <div ref=${box} aria-hidden="true"></div>
  </figure>`;
}
