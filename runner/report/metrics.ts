/**
 * The run report's section for a stage's metrics, for a stage kind that builds no sections of
 * its own: a table of every number of each of its `metrics` outputs, the headline first.
 *
 * @module
 */

import type { StageMetrics } from "../core/metrics.ts";
import { html, table } from "../html_report.ts";
import type { ReportSection } from "../stage.ts";

/**
 * A section with one table per metrics output: each number by name, the headline first and in
 * bold, then the others in the file's order (numbers as `table` formats them).
 *
 * @param metrics The stage's metrics by output name (see `stageMetrics`).
 * @returns The section, or undefined when there are no metrics.
 */
export function metricsSection(metrics: Map<string, StageMetrics>): ReportSection | undefined {
  const tables = [...metrics].filter(([, m]) => Object.keys(m.values).length > 0).map(
    ([output, m]) => {
      const names = Object.keys(m.values);
      const order = m.headline === undefined
        ? names
        : [m.headline, ...names.filter((n) => n !== m.headline)];
      const rows = order.map((name) =>
        name === m.headline
          ? [html`<b>${name}</b> (headline)`, m.values[name]!]
          : [name, m.values[name]!]
      );
      return html`<div>${metrics.size > 1 ? html`<h3>${output}</h3>` : ""}${
        table(["metric", "value"], rows)
      }</div>`;
    },
  );
  if (!tables.length) return undefined;
  return { title: "metrics", body: html`<div class="charts">${tables}</div>` };
}
