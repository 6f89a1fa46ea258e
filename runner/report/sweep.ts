/**
 * A sweep's page, `out/<pipeline>/sweep.html`: its variants (each with a link to its own
 * report) and every chart the stages' sections draw (`ReportSection.charts`) overlaid across
 * the variants, one line per variant in its colour, as `dvc plots diff` overlays revisions. A
 * chart of several series becomes one overlay per series; a smoothed one shows each variant's
 * moving average only.
 *
 * @module
 */

import type { Pipeline } from "../core/pipeline.ts";
import type { RunSummary } from "../core/result.ts";
import { writeAtomic } from "../lib/atomic.ts";
import { dirname, relative } from "../paths.ts";
import { formatSeconds } from "../report.ts";
import { Cache } from "../store/cache.ts";
import {
  type Cell,
  type Chart,
  type Html,
  html,
  lineChart,
  PALETTE,
  table,
} from "../html_report.ts";
import { htmlDocument, type ReportPage } from "./page.ts";
import { reportIsCurrent, reportStampLine, sweepReportPath, sweepStamp } from "./stamp.ts";
import { collectSections } from "./write.ts";

/** One variant of a sweep, after it ran. */
export interface SweepRun {
  /** The variant's label (`learning_rate=0.001`): its folder under `out/<pipeline>/`. */
  label: string;
  /** The variant's pipeline. */
  pipeline: Pipeline;
  /** What it did. */
  summary: RunSummary;
  /** Seconds its stages ran for. */
  seconds: number;
}

/** What {@link renderSweepReport} shows of one variant. */
export interface SweepPageVariant {
  label: string;
  /** Its report, relative to the sweep's page. */
  href: string;
  summary: RunSummary;
  seconds: number;
  /** Its stages' sections, in pipeline order. */
  sections: ReportPage["sections"];
}

/** What {@link renderSweepReport} composes. */
export interface SweepPage {
  pipeline: string;
  /** The pipeline file, as shown. */
  file: string;
  /** When the sweep ended. */
  when: Date;
  variants: SweepPageVariant[];
}

/** One overlaid chart: a series of a stage's chart, a line per variant. */
interface Overlay {
  heading: string;
  chart: Chart;
}

/**
 * The overlays of every variant's charts, by section (`<stage>: <section title>`), in the order
 * they first appear: the lines of a chart are matched across variants by the stage, the
 * section's title, the chart's title and the series' name.
 */
function overlays(variants: SweepPageVariant[]): Map<string, Overlay[]> {
  const bySection = new Map<string, Overlay[]>();
  const byKey = new Map<string, Overlay>();
  variants.forEach((v, i) => {
    const color = PALETTE[i % PALETTE.length]!;
    for (const { stage, sections } of v.sections) {
      for (const section of sections) {
        const heading = `${stage}: ${section.title}`;
        for (const chart of section.charts ?? []) {
          for (const series of chart.series) {
            const key = JSON.stringify([heading, chart.options.title, series.name]);
            let overlay = byKey.get(key);
            if (!overlay) {
              const title = chart.series.length > 1
                ? `${chart.options.title}: ${series.name}`
                : chart.options.title;
              overlay = { heading, chart: { series: [], options: { ...chart.options, title } } };
              overlay.chart.options.raw = false;
              byKey.set(key, overlay);
              const list = bySection.get(heading) ?? [];
              list.push(overlay);
              bySection.set(heading, list);
            }
            overlay.chart.series.push({ name: v.label, points: series.points, color });
          }
        }
      }
    }
  });
  return bySection;
}

const slug = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");

/**
 * Composes a sweep's page: the variants' table, then the overlaid charts by section.
 *
 * @param page What the page shows.
 * @returns The HTML document.
 */
export function renderSweepReport(page: SweepPage): string {
  const count = (v: SweepPageVariant, status: string) =>
    v.summary.stages.filter((s) => s.status === status).length;
  const rows = page.variants.map((v, i) =>
    [
      html`<span class="swatch" style="background:${PALETTE[i % PALETTE.length]}"></span>`,
      html`<a href="${v.href}">${v.label}</a>`,
      count(v, "ran"),
      count(v, "cached"),
      count(v, "failed"),
      formatSeconds(v.seconds),
    ] as Cell[]
  );
  const sections: Html[] = [];
  const anchors: [string, string][] = [["variants", "Variants"]];
  for (const [heading, list] of overlays(page.variants)) {
    const id = slug(heading);
    anchors.push([id, heading]);
    sections.push(
      html`
        <section id="${id}">
          <h2>${heading}</h2>
          <div class="charts">${list.map((o) => lineChart(o.chart.series, o.chart.options))}</div>
        </section>
      `,
    );
  }
  const title = `Sweep report: ${page.pipeline}`;
  return htmlDocument(
    title,
    html`<main><h1>${title}</h1><p class="meta">Pipeline file <b>${page.file}</b> · finished <b>${
      page.when.toISOString().slice(0, 19).replace("T", " ")
    } UTC</b> · ${page.variants.length} variants, each line of a chart one of them</p><nav>${
      anchors.map(([id, text]) => html`<a href="#${id}">${text}</a>`)
    }</nav>
<section id="variants"><h2>Variants</h2>${
      table(["", "variant (its report)", "ran", "cached", "failed", "time"], rows)
    }</section>
${sections.length ? sections : html`<p>No stage of this pipeline draws a chart.</p>`}</main>`,
  );
}

/** Options of {@link writeSweepReport}. */
export interface WriteSweepOptions {
  /** The cache directory (default `<root>/.pipeline`). */
  cacheDir?: string;
  /** Where outputs are materialised (default `<root>/out`). */
  outDir?: string;
  /** When the sweep ended (default now). */
  when?: Date;
  /** Called with a message when a stage's sections could not be built. */
  warn?: (message: string) => void;
}

/**
 * Writes `out/<pipeline>/sweep.html` after a sweep (atomically), unless the page there is of
 * this sweep already: every stage of every variant cached, with the same keys.
 *
 * @param pipeline The sweep's pipeline (its base).
 * @param variants Each variant, after it ran.
 * @param options Where the cache and the outputs are, and when the sweep ended.
 * @returns The path of the page.
 */
export async function writeSweepReport(
  pipeline: Pipeline,
  variants: SweepRun[],
  options: WriteSweepOptions = {},
): Promise<string> {
  const path = sweepReportPath(options.outDir ?? `${pipeline.root}/out`, pipeline.name);
  const stamped = sweepStamp(pipeline, variants);
  if (await reportIsCurrent(path, stamped.pipeline, stamped.summary)) return path;
  const stamp = await reportStampLine(stamped.pipeline, stamped.summary);
  const cache = await Cache.open(options.cacheDir ?? `${pipeline.root}/.pipeline`, {
    hashes: false,
  });
  const shown: SweepPageVariant[] = [];
  for (const v of variants) {
    const { sections } = await collectSections(v.pipeline, v.summary, cache, options.warn);
    shown.push({
      label: v.label,
      href: `${v.label.split("/").map(encodeURIComponent).join("/")}/report.html`,
      summary: v.summary,
      seconds: v.seconds,
      sections,
    });
  }
  const file = relative(pipeline.root, pipeline.file) || pipeline.file;
  const text = renderSweepReport({
    pipeline: pipeline.name,
    file: file.startsWith("..") ? pipeline.file : file,
    when: options.when ?? new Date(),
    variants: shown,
  });
  await Deno.mkdir(dirname(path), { recursive: true });
  await writeAtomic(path, text.replace(/^<!DOCTYPE html>\n/, (d) => `${d}${stamp}\n`));
  return path;
}
