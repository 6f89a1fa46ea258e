/**
 * The run report, `out/<pipeline>/report.html`: one self-contained HTML file (inline CSS and
 * SVG; no script, font, image or stylesheet from anywhere) written after every run. The engine
 * composes the page (the run, the stage table, the parameters) and adds the sections each stage
 * kind's `report` hook builds from its outputs, in pipeline order; it knows nothing of what a
 * stage does. The helpers here (the {@link html} template, {@link lineChart}, {@link table},
 * {@link heatmap}) are what hooks build their sections with; every value they are given is
 * escaped.
 *
 * @module
 */

import { Cache, writeAtomic } from "./cache.ts";
import type { Pipeline } from "./config/types.ts";
import { dirname, relative } from "./paths.ts";
import { reportIsCurrent, reportStampLine } from "./report_stamp.ts";
import { treeDir } from "./out_paths.ts";
import type { RunSummary } from "./execute.ts";
import type { ReportSection } from "./stage.ts";
import { describeFailure } from "./failure.ts";

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

/** A row of the stage table. */
export interface StageRow {
  id: string;
  kind: string;
  status: string;
  /** Seconds of this run (0 when cached). */
  seconds: number;
  /** Seconds the cached result took when it ran. */
  ranSeconds?: number;
  /** When the cached result was made (ISO). */
  finished?: string;
  key: string | null;
  /** A reason or an error, first line. */
  note?: string;
}

/** What {@link renderReport} composes. */
export interface ReportPage {
  pipeline: string;
  /** The pipeline file, as shown. */
  file: string;
  /** When the run ended. */
  when: Date;
  /** Wall seconds of the run. */
  seconds?: number;
  stages: StageRow[];
  /** Parameters by stage id. */
  params: Record<string, Record<string, unknown>>;
  /** Sections by stage id, in pipeline order. */
  sections: { stage: string; sections: ReportSection[] }[];
}

const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Noto Sans CJK KR",
"Apple SD Gothic Neo","Malgun Gothic","NanumGothic",sans-serif;color:#222;
margin:0;background:#fafafa}
main{max-width:1180px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:22px;margin:8px 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd;
padding-bottom:4px}h3{font-size:15px;margin:16px 0 6px}
.meta{color:#555}.meta b{color:#222}nav a{margin-right:12px}
table{border-collapse:collapse;margin:6px 0 12px;background:#fff}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f0f0f0;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
.status-ran{color:#1b5e20;font-weight:600}.status-cached{color:#0d47a1}
.status-failed{color:#b71c1c;font-weight:600}.status-skipped{color:#777}
.charts{display:flex;flex-wrap:wrap;gap:8px 20px}
figure.chart{margin:0;background:#fff;border:1px solid #e3e3e3;padding:6px 8px}
figcaption{font-weight:600;margin-bottom:2px}
.key{font-weight:400;margin-left:10px;color:#444}
.swatch{display:inline-block;width:14px;height:3px;vertical-align:middle;margin-right:4px}
.note{color:#b71c1c}code{font:12px ui-monospace,Menlo,Consolas,monospace}
.params{display:flex;flex-wrap:wrap;gap:0 28px;align-items:flex-start}
.params h3{margin:10px 0 2px}.params td:first-child{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
`;

function formatSecondsShort(s: number): string {
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s - 60 * m)} s`;
}

function flatten(value: unknown, prefix: string, out: [string, string][]): [string, string][] {
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 0) out.push([prefix, "{}"]);
    for (const [k, v] of entries) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else {
    out.push([prefix, typeof value === "string" ? value : JSON.stringify(value) ?? "null"]);
  }
  return out;
}

const slug = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");

/**
 * Composes the page: title, when, the pipeline file, the stage table, the parameters, then
 * each stage's sections in the order given.
 *
 * @param page What the page shows.
 * @returns The HTML document.
 */
export function renderReport(page: ReportPage): string {
  const count = (s: string) => page.stages.filter((r) => r.status === s).length;
  const stageRows = page.stages.map((s) => {
    const time = s.status === "cached" && s.ranSeconds !== undefined
      ? `cached (ran in ${formatSecondsShort(s.ranSeconds)}${
        s.finished ? `, ${s.finished.slice(0, 19).replace("T", " ")}` : ""
      })`
      : formatSecondsShort(s.seconds);
    return [
      s.id,
      s.kind,
      html`<span class="status-${s.status}">${s.status}</span>`,
      time,
      s.key ? html`<code>${s.key.slice(0, 12)}</code>` : "",
      s.note ? html`<span class="${s.status === "failed" ? "note" : ""}">${s.note}</span>` : "",
    ] as Cell[];
  });
  const params = Object.entries(page.params).map(([id, p]) => {
    const rows = flatten(p, "", []).map(([k, v]) => [k, v] as Cell[]);
    return html`<div><h3>${id}</h3>${
      rows.length ? table(["parameter", "value"], rows) : html`<p>no parameters</p>`
    }</div>`;
  });
  const anchors: [string, string][] = [["stages", "Stages"], ["parameters", "Parameters"]];
  const parts = page.sections.flatMap(({ stage, sections }) =>
    sections.map((sec) => {
      const id = slug(`${stage}-${sec.title}`);
      anchors.push([id, `${stage}: ${sec.title}`]);
      return html`<section id="${id}"><h2>${stage}: ${sec.title}</h2>${sec.body}</section>`;
    })
  );
  const title = `Run report: ${page.pipeline}`;
  const body =
    html`<main><h1>${title}</h1><p class="meta">Pipeline file <b>${page.file}</b> · finished <b>${
      page.when.toISOString().slice(0, 19).replace("T", " ")
    } UTC</b>${
      page.seconds !== undefined
        ? html`
          · <b>${formatSecondsShort(page.seconds)}</b>
        `
        : ""
    } · ${count("ran")} ran, ${count("cached")} cached, ${count("skipped")} skipped, ${
      count("failed")
    } failed</p><nav>${anchors.map(([id, text]) => html`<a href="#${id}">${text}</a>`)}</nav>
<section id="stages"><h2>Stages</h2>${
      table(["stage", "kind", "status", "time", "key", "note"], stageRows)
    }</section>
<section id="parameters"><h2>Parameters</h2><div class="params">${params}</div></section>
${parts}</main>`;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body>${body.markup}</body></html>
`;
}

/** Options of {@link writePipelineReport}. */
export interface WriteReportOptions {
  /** The cache directory (default `<root>/.pipeline`). */
  cacheDir?: string;
  /** Where outputs are materialised (default `<root>/out`); the report goes to its `<pipeline>/`. */
  outDir?: string;
  /** Wall seconds of the run. */
  seconds?: number;
  /** When the run ended (default now). */
  when?: Date;
  /** Called with a message when a stage's sections could not be built. */
  warn?: (message: string) => void;
}

const firstLine = (s: string) => s.split("\n")[0]!.slice(0, 300);

/**
 * Writes `out/<pipeline>/report.html` for a run: the stage table from the summary, and the
 * sections of each stage that ran or was cached, from its outputs in the cache. The file is
 * written to a temporary name and renamed, so a reader never sees half of it.
 *
 * A run in which every stage was cached, with the same keys as the run the report there was
 * written for (its first lines name them, as a hash), leaves that report as it is: it would
 * say the same but for the date and the run's time, and building it costs a no-op rerun a
 * fifth of its time. A report that is missing, was written for other stages or keys, or after
 * a run in which something ran, is written. (Bump `REPORT_FORMAT` in report_stamp.ts when what
 * the report shows changes.)
 *
 * @param pipeline The pipeline that ran.
 * @param summary What the run did.
 * @param options Where the cache and the outputs are, and the run's time.
 * @returns The path of the report.
 */
export async function writePipelineReport(
  pipeline: Pipeline,
  summary: RunSummary,
  options: WriteReportOptions = {},
): Promise<string> {
  const outDir = options.outDir ?? `${pipeline.root}/out`;
  const path = `${treeDir(outDir, pipeline.name)}/report.html`;
  if (await reportIsCurrent(path, pipeline, summary)) return path;
  const stamp = await reportStampLine(pipeline, summary);
  const cache = await Cache.open(options.cacheDir ?? `${pipeline.root}/.pipeline`);
  const stages: StageRow[] = [];
  const sections: ReportPage["sections"] = [];
  for (const s of summary.stages) {
    const row: StageRow = {
      id: s.id,
      kind: s.kind,
      status: s.status,
      seconds: s.seconds,
      key: s.key,
    };
    const note = s.error ?? s.reason;
    if (note) row.note = firstLine(note);
    stages.push(row);
    const stage = pipeline.stages.get(s.id);
    if ((s.status !== "ran" && s.status !== "cached") || !s.key || !stage) continue;
    const record = await cache.record(s.key);
    if (!record) continue;
    if (s.status === "cached") {
      row.ranSeconds = record.seconds;
      row.finished = record.finished;
    }
    const hook = stage.definition.report;
    if (!hook) continue;
    const outputs: Record<string, string> = {};
    for (const [name, out] of Object.entries(record.outputs)) outputs[name] = cache.objectPath(out);
    try {
      const built = await hook.call(stage.definition, {
        id: s.id,
        params: stage.params,
        outputs,
        root: pipeline.root,
      });
      sections.push({ stage: s.id, sections: built });
    } catch (error) {
      const message = firstLine(describeFailure(error).message);
      options.warn?.(`the report's sections of stage "${s.id}" could not be built: ${message}`);
      sections.push({
        stage: s.id,
        sections: [{
          title: "report unavailable",
          body: html`<p class="note">The sections of this stage could not be built: ${message}</p>`,
        }],
      });
    }
  }
  const params: Record<string, Record<string, unknown>> = {};
  for (const id of pipeline.order) params[id] = pipeline.stages.get(id)!.params;
  const file = relative(pipeline.root, pipeline.file) || pipeline.file;
  const text = renderReport({
    pipeline: pipeline.name,
    file: file.startsWith("..") ? pipeline.file : file,
    when: options.when ?? new Date(),
    ...(options.seconds !== undefined ? { seconds: options.seconds } : {}),
    stages,
    params,
    sections,
  });
  await Deno.mkdir(dirname(path), { recursive: true });
  await writeAtomic(path, text.replace(/^<!DOCTYPE html>\n/, (d) => `${d}${stamp}\n`));
  return path;
}
