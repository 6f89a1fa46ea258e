/**
 * Writing the run report after a run: `out/<pipeline>/report.html` from the run's summary and
 * the stages' outputs in the cache, unless the report there is of this run already.
 *
 * @module
 */

import { Cache } from "../store/cache.ts";
import type { Pipeline } from "../core/pipeline.ts";
import { describeFailure } from "../core/failure.ts";
import { html } from "../html_report.ts";
import { stageMetrics } from "../core/metrics.ts";
import { metricsSection } from "./metrics.ts";
import { treeDir } from "../materialise/out_paths.ts";
import { dirname, relative } from "../paths.ts";
import { renderReport, type ReportPage, type StageRow } from "./page.ts";
import { reportIsCurrent, reportStampLine } from "./stamp.ts";
import type { RunSummary } from "../core/result.ts";
import { writeAtomic } from "../lib/atomic.ts";

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
 * sections of each stage that ran or was cached, from its outputs in the cache: those its kind's
 * `report` hook builds, or for a kind without one, a table of its metrics outputs' numbers. The
 * file is written to a temporary name and renamed, so a reader never sees half of it.
 *
 * A run in which every stage was cached, with the same keys as the run the report there was
 * written for (its first lines name them, as a hash), leaves that report as it is: it would
 * say the same but for the date and the run's time, and building it costs a no-op rerun a
 * fifth of its time. A report that is missing, was written for other stages or keys, or after
 * a run in which something ran, is written. (Bump `REPORT_FORMAT` in stamp.ts when what
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
  const cache = await Cache.open(options.cacheDir ?? `${pipeline.root}/.pipeline`, {
    hashes: false,
  });
  const { stages, sections } = await collectSections(pipeline, summary, cache, options.warn);
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

/**
 * The stage table's rows of a run, and the sections of each stage that ran or was cached, built
 * by its kind's `report` hook from its outputs in the cache (a hook that fails gives a section
 * that says so, and a warning).
 *
 * @param pipeline The pipeline that ran.
 * @param summary What the run did.
 * @param cache The cache the run used.
 * @param warn Told when a stage's sections could not be built.
 * @returns The rows and the sections, in pipeline order.
 */
export async function collectSections(
  pipeline: Pipeline,
  summary: RunSummary,
  cache: Cache,
  warn?: (message: string) => void,
): Promise<{ stages: StageRow[]; sections: ReportPage["sections"] }> {
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
    if (!hook) {
      // A stage kind without sections of its own: its metrics, if it has any.
      const metrics = metricsSection(stageMetrics(stage.definition.outputs, (name) => {
        const out = record.outputs[name];
        return out?.kind === "file" ? cache.objectPath(out) : undefined;
      }));
      if (metrics) sections.push({ stage: s.id, sections: [metrics] });
      continue;
    }
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
      warn?.(`the report's sections of stage "${s.id}" could not be built: ${message}`);
      sections.push({
        stage: s.id,
        sections: [{
          title: "report unavailable",
          body: html`<p class="note">The sections of this stage could not be built: ${message}</p>`,
        }],
      });
    }
  }
  return { stages, sections };
}
