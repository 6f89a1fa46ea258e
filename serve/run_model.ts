/**
 * `--run <id prefix>|last`: the model a recorded run of a pipeline trained (see `deno task
 * runs`), whatever `--set` values it was run with: the run's record names the key of each
 * stage, and the key's run record in the cache names the model's object.
 *
 * @module
 */

import type { FoundModel } from "../predict_model.ts";
import { UserError } from "../runner/errors.ts";

/** The model of a recorded run: its directory, the stage and key, and the run's id. */
export interface RunModel extends FoundModel {
  /** The stage that made the model, and its cache key. */
  stage: { id: string; key: string };
  /** The run's id (64 hex digits). */
  run: string;
  /** The `--set` values of the run, when it was one variant of a sweep. */
  variant?: string[];
}

/**
 * Finds the model of a recorded run of a pipeline.
 *
 * @param target The pipeline file.
 * @param run A prefix of the run's id, or `last`: the configuration run most recently (cached
 *   or not).
 * @param options The stage when several make a model; paths outside the project the pipeline
 *   may read.
 * @returns The model directory (an object of the cache) and where it came from.
 * @throws {UserError} When the target is not a pipeline file, no run (or several) matches, the
 *   run has no model, or its model is no longer in the cache.
 */
export async function findRunModel(
  target: string,
  run: string,
  options: { stage?: string; allowOutside?: string[] } = {},
): Promise<RunModel> {
  if (!/\.ya?ml$/.test(target)) {
    throw new UserError(
      `--run "${run}" names a run of a pipeline: give the pipeline file (.yaml), not "${target}"`,
    );
  }
  const { loadPipeline } = await import("../runner/config/load.ts");
  const { builtinStages } = await import("../stages/mod.ts");
  const { findRun, listRuns } = await import("../runner/history/record.ts");
  const { Cache } = await import("../runner/store/cache.ts");
  const { cachedResult } = await import("../runner/store/hit.ts");
  const outside = options.allowOutside ?? [];
  const pipeline = await loadPipeline(target, {
    registry: builtinStages(),
    ...(outside.length ? { allowOutside: outside } : {}),
  });
  const cacheDir = `${pipeline.root}/.pipeline`;
  const runs = await listRuns(cacheDir, pipeline.name);
  if (runs.length === 0) {
    throw new UserError(
      `No run of "${pipeline.name}" is recorded: run the pipeline first: deno task run ${target}`,
    );
  }
  const chosen = run === "last"
    ? runs.reduce((a, b) => (b.last_seen.localeCompare(a.last_seen) >= 0 ? b : a))
    : findRun(runs, run);
  const short = chosen.id.slice(0, 8);
  const found: { id: string; output: string; key: string }[] = [];
  for (const s of chosen.stages) {
    const stage = pipeline.stages.get(s.id);
    if (!stage || !s.key || (options.stage && s.id !== options.stage)) continue;
    for (const [output, spec] of Object.entries(stage.definition.outputs)) {
      if (spec.type === "model") found.push({ id: s.id, output, key: s.key });
    }
  }
  if (found.length !== 1) {
    throw new UserError(
      found.length === 0
        ? `Run ${short} of "${target}" has no ${
          options.stage ? `stage "${options.stage}" with a ` : ""
        }model output: deno task runs lists the runs`
        : `Several stages of run ${short} output a model (${
          found.map((f) => `"${f.id}"`).join(", ")
        }): choose one with --stage`,
    );
  }
  const { id, output, key } = found[0]!;
  const cache = await Cache.open(cacheDir);
  const outputs = Object.keys(pipeline.stages.get(id)!.definition.outputs);
  const stored = (await cachedResult(cache, key, { outputs, reread: "hit" }))?.outputs[output];
  if (!stored) {
    const sets = chosen.variant
      ? `: deno task run ${target}${chosen.variant.map((s) => ` --set ${s}`).join("")}`
      : ` with its parameters (deno task runs ${target} shows them)`;
    throw new UserError(
      `The model of run ${short} (stage "${id}", key ${key.slice(0, 12)}…) is not in the ` +
        `cache, or is damaged: run the pipeline again${sets}`,
    );
  }
  return {
    dir: cache.objectPath(stored),
    stage: { id, key },
    run: chosen.id,
    ...(chosen.variant ? { variant: chosen.variant } : {}),
  };
}
