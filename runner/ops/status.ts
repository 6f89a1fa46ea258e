/**
 * `status` as an operation: for each variant, whether each stage is fresh (its key is cached),
 * stale (and why: a dry run's reasons) or skipped, and the jobs of a run in progress on a batch
 * executor; the command (cli/status.ts) prints it.
 *
 * @module
 */

import type { Pipeline } from "../core/pipeline.ts";
import type { QueuedJob } from "../exec/executor.ts";
import { queuedJobs } from "../exec/registry.ts";
import { runPipeline } from "../run/variants.ts";

/** One stage's state. */
export interface StageState {
  id: string;
  kind: string;
  /** `fresh` (cached), `stale` (would run) or `skipped` (not selected). */
  state: "fresh" | "stale" | "skipped";
  /** Why a stale stage would run. */
  reasons: string[];
  /** Its key, when it can be computed (its upstream stages are fresh). */
  key: string | null;
}

/** A pipeline's state: each variant's stages, and the jobs of a run in progress. */
export interface PipelineStatus {
  pipeline: string;
  /** One entry per variant (one without a label for a plain pipeline). */
  variants: { label?: string; stages: StageState[] }[];
  /** Jobs still queued or running on a batch executor, with the executor's name. */
  jobs: (QueuedJob & { executor: string })[];
}

/**
 * The state of a pipeline's stages (or a sweep's variants), computed as a dry run: nothing runs
 * and nothing in the cache is written.
 *
 * @param variants The pipeline, or the variants of a sweep, each with its label.
 * @param options The stages to look at (`--only`, `--from`).
 * @returns The state of each variant's stages, and the jobs in progress.
 */
export async function pipelineStatus(
  variants: { pipeline: Pipeline; label?: string }[],
  options: { only?: string[]; from?: string } = {},
): Promise<PipelineStatus> {
  const shown: PipelineStatus["variants"] = [];
  for (const { pipeline, label } of variants) {
    const summary = await runPipeline(pipeline, {
      dryRun: true,
      reporter: {
        line() {},
        logger: () => ({ info() {}, warn() {} }),
        progress: () => ({ update() {} }),
        done() {},
      },
      ...(options.only ? { only: options.only } : {}),
      ...(options.from ? { from: options.from } : {}),
    });
    const stages = summary.stages.map((s) => ({
      id: s.id,
      kind: s.kind,
      state: s.status === "cached"
        ? "fresh" as const
        : s.status === "skipped"
        ? "skipped" as const
        : "stale" as const,
      reasons: s.status === "would-run" ? (s.reason ?? "").split("; ") : [],
      key: s.key,
    }));
    shown.push({ ...(label !== undefined ? { label } : {}), stages });
  }
  const first = variants[0]!.pipeline;
  return {
    pipeline: first.name,
    variants: shown,
    // The jobs of a run in progress on a batch executor (--executor slurm), queued or running.
    jobs: await queuedJobs(`${first.root}/.pipeline`, first.name),
  };
}
