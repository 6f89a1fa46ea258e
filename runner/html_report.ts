/**
 * The toolkit that stage kinds build their sections of the run report with
 * (`StageDefinition.report`): the {@link html} template, whose every interpolated value is
 * escaped, {@link lineChart} (inline SVG), {@link table} and {@link heatmap}. The engine's page
 * around the sections (`out/<pipeline>/report.html`) is composed in `report/`. Stage code
 * imports this module by this path (`runner/html_report.ts`), so it stays here.
 *
 * @module
 */

/** Markup that is already safe to put in a page: built by {@link html} or the helpers. */
export class Html {
  /** The markup. */
  readonly markup: string;
  /** Wraps markup as is; give it only markup you built, never text from elsewhere. */
  constructor(markup: string) {
    this.markup = markup;
  }
  /** The markup. */
  toString(): string {
    return this.markup;
  }
}

/** A value {@link html} can interpolate. */
export type HtmlValue = Html | string | number | boolean | null | undefined | HtmlValue[];

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Escapes text for HTML content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

function interpolate(value: HtmlValue): string {
  if (value instanceof Html) return value.markup;
  if (Array.isArray(value)) return value.map(interpolate).join("");
  if (value === null || value === undefined || value === false) return "";
  return escapeHtml(String(value));
}

/**
 * A template tag for markup: the literal parts are kept, every interpolated value is escaped
 * unless it is {@link Html} (arrays are joined; `null`, `undefined` and `false` give nothing).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { html } from "./html_report.ts";
 *
 * const name = "<script>";
 * assert.equal(html`<b>${name}</b>`.markup, "<b>&lt;script&gt;</b>");
 * ```
 */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): Html {
  let out = strings[0]!;
  values.forEach((v, i) => out += interpolate(v) + strings[i + 1]!);
  return new Html(out);
}

/** Formats a number for a table or an axis: up to `digits` significant digits, no `-0`. */
export function formatNumber(x: number, digits = 4): string {
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return "0";
  const a = Math.abs(x);
  if (a >= 1e5 || a < 1e-3) {
    const [m, e] = x.toExponential(Math.max(0, digits - 2)).split("e");
    return `${m!.includes(".") ? m!.replace(/\.?0+$/, "") : m}e${e!.replace("+", "")}`;
  }
  if (Number.isInteger(x)) return String(x);
  return String(Number(x.toPrecision(digits)));
}

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

/**
 * A line chart as inline SVG: one polyline per series with one vertex per finite point, axes
 * with round ticks, and a legend. Without any finite point it says "no data".
 *
 * @param series The lines.
 * @param options Title, axis labels, size.
 * @returns The chart (a `<figure>`).
 */
export function lineChart(series: Series[], options: ChartOptions): Html {
  const width = options.width ?? 540;
  const height = options.height ?? 220;
  const colored = series.map((s, i) => ({ ...s, color: s.color ?? PALETTE[i % PALETTE.length]! }));
  const box = extent(colored, options.zero ?? true);
  const legend = html`<figcaption>${options.title}${
    colored.map((s) =>
      html`
        <span class="key"><span class="swatch" style="background:${s.color}"></span>${s.name}</span>
      `
    )
  }</figcaption>`;
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
  for (const t of ticks(box.x0, box.x1, 8)) {
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
  const lines = colored.map((s) => {
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    const coords = pts.map(([x, y]) => `${r(sx(x))},${r(sy(y))}`);
    const dots = options.markers || pts.length === 1
      ? pts.map(([x, y]) =>
        html`
          <circle cx="${r(sx(x))}" cy="${r(sy(y))}" r="3.5" fill="${s.color}" />
        `
      )
      : [];
    return html`
      <polyline data-series="${s.name}" points="${coords.join(" ")}" fill="none" stroke="${s.color}"
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

/** A table cell: text (escaped), a number (formatted, right-aligned) or markup. */
export type Cell = Html | string | number | null | undefined;

/**
 * A table.
 *
 * @param head Column headings (all empty: no heading row).
 * @param rows Rows of cells; numbers are formatted with {@link formatNumber} and right-aligned.
 * @returns The table.
 */
export function table(head: string[], rows: Cell[][]): Html {
  const cell = (c: Cell) =>
    typeof c === "number"
      ? html`<td class="num">${formatNumber(c)}</td>`
      : html`<td>${c ?? ""}</td>`;
  // Headings that are all empty make a table without a heading row.
  const thead = head.some((h) => h !== "")
    ? html`
      <thead>
        <tr>${head.map((h) => html`<th>${h}</th>`)}</tr>
      </thead>
    `
    : "";
  return html`<table>${thead}<tbody>${
    rows.map((row) => html`<tr>${row.map(cell)}</tr>`)
  }</tbody></table>`;
}

/**
 * A matrix of counts as a table, each cell shaded by its count (darker is more), with the
 * cells where `highlight(row, col)` holds (a diagonal) in another hue.
 *
 * @param rowLabels Labels of the rows.
 * @param colLabels Labels of the columns.
 * @param counts `counts[row][col]`.
 * @param options Headings of the row and column axes, and which cells to highlight.
 * @returns The table.
 */
export function heatmap(
  rowLabels: string[],
  colLabels: string[],
  counts: number[][],
  options: { rows: string; cols: string; highlight?: (row: number, col: number) => boolean },
): Html {
  const max = Math.max(1, ...counts.flat());
  const shade = (v: number, good: boolean) => {
    const a = v === 0 ? 0 : 0.12 + 0.7 * (v / max);
    return good ? `rgba(0,137,123,${a.toFixed(3)})` : `rgba(229,57,53,${a.toFixed(3)})`;
  };
  const rows = rowLabels.map((label, i) =>
    html`<tr><th>${label}</th>${
      colLabels.map((_, j) => {
        const v = counts[i]?.[j] ?? 0;
        const good = options.highlight?.(i, j) ?? false;
        const ink = v / max > 0.6 ? "#fff" : "#222";
        return html`<td class="num" style="background:${shade(v, good)};color:${ink}">${
          v || ""
        }</td>`;
      })
    }</tr>`
  );
  return html`
    <table class="matrix">
      <thead>
        <tr><th>${options.rows} ↓ / ${options.cols} →</th>${colLabels.map((c) =>
          html`<th>${c}</th>`
        )}</tr>
      </thead>
      <tbody>${rows}</tbody>
    </table>
  `;
}
