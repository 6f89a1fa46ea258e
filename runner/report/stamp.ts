/**
 * What a run report is of, and whether the report on disk is of that: so that a fully cached
 * rerun can leave `out/<pipeline>/report.html` as it is without loading the report's code.
 *
 * @module
 */

import type { RunSummary } from "../core/result.ts";
import { sha256, stableJson } from "../lib/digest.ts";
import { treeDir } from "../materialise/out_paths.ts";

/** The version of what the report shows, part of {@link reportStampLine}. */
export const REPORT_FORMAT = 5;

/** What a report needs to know of its pipeline. */
export interface StampedPipeline {
  name: string;
  file: string;
}

/**
 * The line written after the report's doctype: a hash of the pipeline, its file, and each
 * stage's id, status and key.
 */
export async function reportStampLine(
  pipeline: StampedPipeline,
  summary: RunSummary,
): Promise<string> {
  const hash = await sha256(stableJson({
    format: REPORT_FORMAT,
    pipeline: pipeline.name,
    file: pipeline.file,
    stages: summary.stages.map((s) => [s.id, s.status, s.key]),
  }));
  return `<!-- nerpipe report ${hash} -->`;
}

/** The stamp line of the report at `path` (its second line), or undefined. */
export function readReportStamp(path: string): string | undefined {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch {
    return undefined;
  }
  try {
    const head = new Uint8Array(160);
    const n = file.readSync(head) ?? 0;
    return new TextDecoder().decode(head.subarray(0, n)).split("\n")[1];
  } catch {
    return undefined;
  } finally {
    file.close();
  }
}

/**
 * Whether the report at `path` is of this run already: every stage was cached, with the keys
 * of the run the report was written for.
 */
export async function reportIsCurrent(
  path: string,
  pipeline: StampedPipeline,
  summary: RunSummary,
): Promise<boolean> {
  if (!summary.stages.every((s) => s.status === "cached")) return false;
  return readReportStamp(path) === await reportStampLine(pipeline, summary);
}

/** Where a sweep's page goes: `<outDir>/<pipeline>/sweep.html`, beside the variants' folders. */
export function sweepReportPath(outDir: string, pipeline: string): string {
  return `${treeDir(outDir, pipeline)}/sweep.html`;
}

/**
 * What a sweep's page is of, as {@link reportIsCurrent} and {@link reportStampLine} take it:
 * the pipeline, and the stages of every variant as one run's (each id after its variant's
 * label), so that a sweep in which everything was cached leaves its page as it is.
 *
 * @param pipeline The sweep's pipeline.
 * @param variants Each variant's label and what it did.
 * @returns The pipeline and the run to stamp.
 */
export function sweepStamp(
  pipeline: StampedPipeline,
  variants: readonly { label: string; summary: RunSummary }[],
): { pipeline: StampedPipeline; summary: RunSummary } {
  return {
    pipeline: { name: `${pipeline.name} (sweep)`, file: pipeline.file },
    summary: {
      pipeline: pipeline.name,
      stages: variants.flatMap((v) =>
        v.summary.stages.map((s) => ({ ...s, id: `${v.label}/${s.id}` }))
      ),
    },
  };
}
