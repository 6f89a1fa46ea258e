/**
 * The toolkit that stage kinds build their sections of the run report with
 * (`StageDefinition.report`): the {@link html} template, whose every interpolated value is
 * escaped, {@link lineChart} (inline SVG, `report/chart.ts`), {@link table} and {@link heatmap}.
 * The engine's page around the sections (`out/<pipeline>/report.html`) is composed in
 * `report/`. Stage code imports this module by this path (`runner/html_report.ts`), so it stays
 * here.
 *
 * @module
 */

import { formatNumber, type Html, html } from "./report/markup.ts";

export { escapeHtml, formatNumber, Html, html, type HtmlValue } from "./report/markup.ts";
export {
  type Chart,
  type ChartOptions,
  lineChart,
  movingAverage,
  PALETTE,
  type Series,
  smoothingWindow,
  ticks,
} from "./report/chart.ts";

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
