/**
 * The run report's page, `out/<pipeline>/report.html`: one self-contained HTML file (inline CSS
 * and SVG; no script, font, image or stylesheet from anywhere). The engine composes the page
 * (the run, the stage table, the parameters) around the sections each stage kind's `report`
 * hook builds from its outputs, in pipeline order; it knows nothing of what a stage does.
 *
 * @module
 */

import { type Cell, escapeHtml, type Html, html, table } from "../html_report.ts";
import { formatSeconds } from "../report.ts";
import type { ReportSection } from "../stage.ts";

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
.key{font-weight:400;margin-left:10px;color:#444;white-space:nowrap}
.swatch{display:inline-block;width:14px;height:3px;vertical-align:middle;margin-right:4px}
.note{color:#b71c1c}code{font:12px ui-monospace,Menlo,Consolas,monospace}
.params{display:flex;flex-wrap:wrap;gap:0 28px;align-items:flex-start}
.params h3{margin:10px 0 2px}.params td:first-child{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
`;

/**
 * A stage's parameters as `[dotted path, value]` rows. An empty object is a row `{}` where it is
 * a parameter's value; a stage without parameters has no rows.
 */
function flatten(value: unknown, prefix: string, out: [string, string][]): [string, string][] {
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 0 && prefix) out.push([prefix, "{}"]);
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
      ? `cached (ran in ${formatSeconds(s.ranSeconds)}${
        s.finished ? `, ${s.finished.slice(0, 19).replace("T", " ")}` : ""
      })`
      : formatSeconds(s.seconds);
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
          · <b>${formatSeconds(page.seconds)}</b>
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
  return htmlDocument(title, body);
}

/**
 * A report page around its `<main>`: the doctype, the title and the report's style sheet.
 *
 * @param title The page's title.
 * @param main The page's content.
 * @returns The HTML document (its first line the doctype).
 */
export function htmlDocument(title: string, main: Html): string {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body>${main.markup}</body></html>
`;
}
