/**
 * `status <pipeline.yaml> [--set k=v]... [--json]`: fresh, stale (and why) or skipped for each
 * stage (ops/status.ts), as a table or JSON.
 *
 * @module
 */

import type { SweepVariant } from "../config/sweep.ts";
import { pipelineStatus } from "../ops/status.ts";
import type { Flags } from "./flags.ts";

/**
 * Prints the state of a pipeline's stages (or of a sweep's variants).
 *
 * @param variants The pipeline, or the variants of a sweep.
 * @param flags The command's flags (`--only`, `--from`, `--json`).
 * @returns The exit code (0).
 */
export async function statusCommand(variants: SweepVariant[], flags: Flags): Promise<number> {
  const status = await pipelineStatus(variants, {
    only: flags.only,
    ...(flags.from ? { from: flags.from } : {}),
  });
  const jobs = status.jobs.map(({ job, stage, state }) => ({ job, stage, state }));
  if (flags.json) {
    const [one] = status.variants;
    const value = status.variants.length === 1 && one!.label === undefined
      ? { pipeline: status.pipeline, stages: one!.stages, ...(jobs.length ? { jobs } : {}) }
      : {
        pipeline: status.pipeline,
        variants: status.variants.map((v) => ({ variant: v.label, stages: v.stages })),
      };
    console.log(JSON.stringify(value, null, 2));
    return 0;
  }
  for (const { label, stages } of status.variants) {
    if (label !== undefined) console.log(`variant ${label}:`);
    const pad = label !== undefined ? "  " : "";
    const width = Math.max(...stages.map((r) => r.id.length));
    for (const r of stages) {
      const why = r.reasons.length ? `  ${r.reasons.join("; ")}` : "";
      console.log(`${pad}${r.state.padEnd(6)} ${r.id.padEnd(width)}${why}`);
    }
  }
  for (const executor of new Set(status.jobs.map((j) => j.executor))) {
    console.log(`${executor} jobs of a run in progress:`);
    for (const j of status.jobs.filter((q) => q.executor === executor)) {
      console.log(`  job ${j.job}  ${j.stage}  ${j.state}`);
    }
  }
  return 0;
}
