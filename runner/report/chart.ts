/**
 * Line charts for the run report, as inline SVG: {@link lineChart}, with centred moving
 * averages for noisy series ({@link movingAverage}), and {@link Chart}, a chart as data, which a
 * sweep's page overlays across its variants. Stage code imports them from
 * `runner/html_report.ts` (or `mod.ts`).
 *
 * @module
 */

import { formatNumber, type Html, html } from "./markup.ts";

/** Colours of chart series, distinct from each other and from the page's other colours. */
export const PALETTE = [
  "#d81b60",
  "#1e88e5",
  "#ff8f00",
  "#43a047",
  "#8e24aa",
  "#00897b",
  "#6d4c41",
  "#3949ab",
] as const;

/** One line of a chart. */
export interface Series {
  /** Legend label. */
  name: string;
  /** `[x, y]` points; points with a non-finite coordinate are left out. */
  points: [number, number][];
  /** Stroke colour (default: the next of {@link PALETTE}). */
  color?: string;
}

/** Options of {@link lineChart}. */
export interface ChartOptions {
  /** Title above the chart. */
  title: string;
  /** Label of the x axis. */
  x: string;
  /** Label of the y axis. */
  y?: string;
  /** Width of the SVG in pixels (default 540: two side by side). */
  width?: number;
  /** Height of the SVG in pixels (default 220). */
  height?: number;
  /** Draw a dot at each point (for few points, such as epochs). */
  markers?: boolean;
  /** Start the y axis at 0 when every value is positive (default true). */
  zero?: boolean;
  /**
   * Draw each series' centred moving average over this many points (odd), with the points
   * themselves faint beneath it: for per-step figures, which are mostly noise. `"auto"`:
   * {@link smoothingWindow} of the series' length. Default: no average.
   */
  smooth?: number | "auto";
  /** With `smooth`, draw the faint points beneath the average too (default true). */
  raw?: boolean;
}

/** A line chart as data: what {@link lineChart} draws, kept so that charts can be overlaid. */
export interface Chart {
  /** Its lines. */
  series: Series[];
  /** Its title, axes, size and smoothing. */
  options: ChartOptions;
}

/**
 * The moving-average window `smooth: "auto"` uses for `n` points: none under 50 points, else
 * about a 25th of them, odd (so that the window is centred on its point).
 *
 * @param n How many points the series has.
 * @returns The window, in points (1: no averaging).
 */
export function smoothingWindow(n: number): number {
  return n < 50 ? 1 : 2 * Math.round(n / 50) + 1;
}

/**
 * The centred moving average of a series: each finite point's `y` becomes the mean of the
 * finite points' `y` within `window / 2` places of it (fewer at the ends); points with a
 * non-finite coordinate are left out.
 *
 * @param points `[x, y]` points, in order of `x`.
 * @param window Points averaged (an even one is rounded up to the next odd one).
 * @returns The averaged points.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { movingAverage } from "../html_report.ts";
 *
 * assert.deepEqual(movingAverage([[1, 3], [2, 0], [3, 3], [4, 6]], 3), [
 *   [1, 1.5], [2, 2], [3, 3], [4, 4.5],
 * ]);
 * ```
 */
export function movingAverage(points: [number, number][], window: number): [number, number][] {
  const pts = points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const half = Math.floor(Math.max(1, window) / 2);
  // Prefix sums: each mean in O(1).
  const sums = [0];
  for (const [, y] of pts) sums.push(sums.at(-1)! + y);
  return pts.map(([x], i) => {
    const lo = Math.max(0, i - half);
    const hi = Math.min(pts.length, i + half + 1);
    return [x, (sums[hi]! - sums[lo]!) / (hi - lo)];
  });
}

/** Chart margins: room for the axis labels. */
const MARGIN = { left: 58, right: 14, top: 10, bottom: 34 };

/** About `count` round tick values covering `[lo, hi]`. */
export function ticks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    out.push(Math.abs(v) < step * 1e-9 ? 0 : Number(v.toPrecision(12)));
  }
  return out;
}

/** The x/y ranges of the series' finite points, or null when there are none. */
function extent(series: Series[], zero: boolean) {
  let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
  for (const s of series) {
    for (const [x, y] of s.points) {
      if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
      [x0, x1, y0, y1] = [Math.min(x0, x), Math.max(x1, x), Math.min(y0, y), Math.max(y1, y)];
    }
  }
  if (x0 > x1) return null;
  if (zero && y0 > 0) y0 = 0;
  if (x0 === x1) [x0, x1] = [x0 - 1, x1 + 1];
  if (y0 === y1) [y0, y1] = [y0 - (Math.abs(y0) || 1) / 2, y1 + (Math.abs(y1) || 1) / 2];
  return { x0, x1, y0, y1 };
}

const finite = ([x, y]: [number, number]) => Number.isFinite(x) && Number.isFinite(y);

/**
 * A line chart as inline SVG: one polyline per series with one vertex per finite point, axes
 * with round ticks, and a legend. With `smooth`, each series' moving average is the line, and
 * its points are a faint one beneath (`data-raw`). Without any finite point it says "no data".
 *
 * @param series The lines.
 * @param options Title, axis labels, size, smoothing.
 * @returns The chart (a `<figure>`).
 */
export function lineChart(series: Series[], options: ChartOptions): Html {
  const width = options.width ?? 540;
  const height = options.height ?? 220;
  const showRaw = options.raw ?? true;
  const drawn = series.map((s, i) => {
    const n = s.points.filter(finite).length;
    const window = options.smooth === undefined
      ? 1
      : options.smooth === "auto"
      ? smoothingWindow(n)
      : Math.max(1, Math.round(options.smooth));
    return {
      ...s,
      color: s.color ?? PALETTE[i % PALETTE.length]!,
      window,
      average: window > 1 ? movingAverage(s.points, window) : null,
    };
  });
  const box = extent(
    drawn.map((d) => ({ name: d.name, points: d.average && !showRaw ? d.average : d.points })),
    options.zero ?? true,
  );
  const windows = [...new Set(drawn.filter((d) => d.average).map((d) => d.window))];
  // On a line of its own, so that it never widens the figure.
  const unit = /^[a-z]+$/.test(options.x) ? options.x : "point";
  const smoothing = windows.length
    ? html`
      <div
        style="font-weight:400;font-size:12px;color:#666">line: moving average of ${windows
          .sort((a, b) => a - b).join("/")} ${unit}s${showRaw ? `; faint: each ${unit}` : ""}</div>
    `
    : "";
  // As wide as the chart at most: a long legend wraps instead of widening the figure.
  const legend = html`<figcaption style="max-width:${width}px">${options.title}${
    drawn.map((s) =>
      html`
        <span class="key"><span class="swatch" style="background:${s.color}"></span>${s.name}</span>
      `
    )
  }${smoothing}</figcaption>`;
  if (!box) {
    return html`
      <figure
        class="chart">${legend}<svg width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img"><rect x="0.5" y="0.5" width="${width -
          1}" height="${height - 1}" fill="none" stroke="#ccc"/><text x="${width / 2}" y="${height /
          2}" text-anchor="middle" fill="#888">no data</text></svg></figure>
    `;
  }
  const plotW = width - MARGIN.left - MARGIN.right;
  const plotH = height - MARGIN.top - MARGIN.bottom;
  const sx = (x: number) => MARGIN.left + ((x - box.x0) / (box.x1 - box.x0)) * plotW;
  const sy = (y: number) => MARGIN.top + (1 - (y - box.y0) / (box.y1 - box.y0)) * plotH;
  const r = (v: number) => Math.round(v * 10) / 10;
  const grid: Html[] = [];
  for (const t of ticks(box.y0, box.y1)) {
    const y = r(sy(t));
    grid.push(
      html`
        <line x1="${MARGIN.left}" x2="${width -
          MARGIN.right}" y1="${y}" y2="${y}" stroke="#e6e6e6" />
        <text x="${MARGIN.left - 6}" y="${y}" dy="0.32em" text-anchor="end">${formatNumber(
          t,
          3,
        )}</text>
      `,
    );
  }
  // Whole numbers on the x axis when every x is one (epochs).
  const whole = drawn.every((d) =>
    d.points.every(([x]) => Number.isInteger(x) || !Number.isFinite(x))
  );
  for (const t of ticks(box.x0, box.x1, 8).filter((t) => !whole || Number.isInteger(t))) {
    const x = r(sx(t));
    grid.push(
      html`
        <line x1="${x}" x2="${x}" y1="${height - MARGIN.bottom}" y2="${height - MARGIN.bottom +
          4}" stroke="#888" />
        <text x="${x}" y="${height - MARGIN.bottom + 16}" text-anchor="middle">${formatNumber(
          t,
          4,
        )}</text>
      `,
    );
  }
  const coords = (pts: [number, number][]) => pts.map(([x, y]) => `${r(sx(x))},${r(sy(y))}`);
  const lines = drawn.map((s) => {
    const pts = s.points.filter(finite);
    if (s.average) {
      return html`
        ${showRaw
          ? html`
            <polyline data-series="${s.name}" data-raw="" points="${coords(pts).join(" ")}"
              fill="none" stroke="${s.color}" stroke-opacity="0.3" stroke-width="1" />
          `
          : ""}
                <polyline data-series="${s.name}" points="${coords(s.average).join(
                  " ",
                )}" fill="none"
          stroke="${s.color}" stroke-width="2" stroke-linejoin="round" />
      `;
    }
    const dots = options.markers || pts.length === 1
      ? pts.map(([x, y]) =>
        html`
          <circle cx="${r(sx(x))}" cy="${r(sy(y))}" r="3.5" fill="${s.color}" />
        `
      )
      : [];
    return html`
      <polyline data-series="${s.name}" points="${coords(pts).join(" ")}" fill="none" stroke="${s
        .color}"
        stroke-width="2" stroke-linejoin="round" />${dots}
    `;
  });
  return html`
    <figure
      class="chart">${legend}<svg width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" font-size="11" fill="#444">${grid}<line x1="${MARGIN
        .left}" x2="${width - MARGIN.right}" y1="${height - MARGIN.bottom}" y2="${height -
        MARGIN.bottom}" stroke="#888"/>${lines}<text x="${MARGIN.left + plotW / 2}" y="${height -
        4}" text-anchor="middle">${options.x}</text>${options.y
        ? html`<text transform="translate(12 ${
          MARGIN.top + plotH / 2
        }) rotate(-90)" text-anchor="middle">${options.y}</text>`
        : ""}</svg></figure>
  `;
}
