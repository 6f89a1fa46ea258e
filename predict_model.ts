/**
 * The model `predict` uses: a model directory as given, or the model a pipeline trained, found
 * through the cache (never by what `out/` holds).
 *
 * @module
 */

import { UserError } from "./runner/errors.ts";

/** The model {@link findModel} chose, and what the user should know about it. */
export interface FoundModel {
  /** The model directory: as given, or the cached object of the pipeline's model output. */
  dir: string;
  /** For a pipeline: a note for stderr when `out/` holds another model than `dir`. */
  note?: string;
  /** For a pipeline: the stage that made the model, and its cache key. */
  stage?: { id: string; key: string };
  /** With `run`: the id of the recorded run whose model it is. */
  run?: string;
}

/** A `--set` as a shell word (quoted when it holds more than plain characters). */
function shellWord(word: string): string {
  return /^[\w.,=/:@%+-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * Finds the model to predict with: a model directory as given, or, for a pipeline file, the
 * output of type `model` of the stage that makes it, resolved through the cache key of the
 * pipeline with the given `--set`s (as a dry run computes it), never by what `out/` holds:
 * `out/` is a copy of the last run, whatever its parameters were.
 *
 * With `run` (`--run`), the model is the one of that recorded run of the pipeline instead
 * (runner/ops/history.ts), whatever its parameters were.
 *
 * @param target A model directory or a pipeline file.
 * @param options The `--set` overrides, the stage (`--stage`) when several make a model, and
 *   the paths outside the project the pipeline may read (`--allow-outside`); or the recorded
 *   run (`last` or a prefix of its id).
 * @returns The directory, and a note when `out/` holds another model.
 * @throws {UserError} When the target is neither, no stage (or several) outputs a model, or
 *   the pipeline with these parameters has not been trained (the message says what to run).
 */
export async function findModel(
  target: string,
  options: { sets?: string[]; stage?: string; allowOutside?: string[]; run?: string } = {},
): Promise<FoundModel> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(target);
  } catch {
    throw new UserError(`"${target}" does not exist: give a model directory or a pipeline file`);
  }
  if (info.isDirectory && options.run !== undefined) {
    throw new UserError(
      `--run names a run of a pipeline: give the pipeline file instead of "${target}"`,
    );
  }
  if (info.isDirectory) return { dir: target };
  if (!/\.ya?ml$/.test(target)) {
    throw new UserError(
      `"${target}" is neither a directory nor a .yaml pipeline file: give a model directory ` +
        `(with config.json) or the pipeline that trains one`,
    );
  }
  if (options.run !== undefined) return await modelOfRun(target, options.run, options.stage);
  const sets = options.sets ?? [];
  const outside = options.allowOutside ?? [];
  const { loadPipeline } = await import("./runner/config/load.ts");
  const { builtinStages } = await import("./stages/mod.ts");
  const { runPipeline } = await import("./runner/run/variants.ts");
  const { Cache } = await import("./runner/store/cache.ts");
  const { relative } = await import("node:path");
  const pipeline = await loadPipeline(target, {
    registry: builtinStages(),
    sets,
    ...(outside.length ? { allowOutside: outside } : {}),
  });
  const found: { id: string; output: string; extension: string }[] = [];
  for (const id of pipeline.order) {
    const stage = pipeline.stages.get(id)!;
    for (const [output, spec] of Object.entries(stage.definition.outputs)) {
      if (spec.type === "model") found.push({ id, output, extension: spec.extension ?? "" });
    }
  }
  const pick = options.stage ? found.filter((f) => f.id === options.stage) : found;
  if (pick.length === 0) {
    throw new UserError(
      options.stage
        ? `Stage "${options.stage}" of "${target}" has no output of type "model": choose one of ${
          found.map((f) => `"${f.id}"`).join(", ") || "none"
        }`
        : `No stage of "${target}" outputs a model: give a model directory instead`,
    );
  }
  if (pick.length > 1) {
    throw new UserError(
      `Several stages of "${target}" output a model (${
        pick.map((f) => `"${f.id}"`).join(", ")
      }): choose one with --stage`,
    );
  }
  const { id, output, extension } = pick[0]!;
  const { outputPath, treeDir } = await import("./runner/materialise/out_paths.ts");
  const outPath = outputPath(treeDir(`${pipeline.root}/out`, pipeline.name), id, output, extension);
  const shown = relative(Deno.cwd(), outPath) || outPath;
  const cacheDir = `${pipeline.root}/.pipeline`;

  // The keys a dry run computes: this stage's is cached only if these parameters were run.
  const silent = {
    line() {},
    logger: () => ({ info() {}, warn() {} }),
    progress: () => ({ update() {} }),
    done() {},
  };
  const summary = await runPipeline(pipeline, {
    dryRun: true,
    only: [id],
    cacheDir,
    reporter: silent,
  });
  const result = summary.stages.find((s) => s.id === id)!;
  const cache = await Cache.open(cacheDir);
  const record = result.status === "cached" && result.key
    ? await cache.record(result.key)
    : undefined;
  const stored = record?.outputs?.[output];
  const outHash = await cache.stat.hashPath(outPath, "dir").catch(() => undefined);
  if (!stored) {
    const words = [
      target,
      ...sets.flatMap((s) => ["--set", s]),
      ...outside.flatMap((p) => ["--allow-outside", p]),
    ];
    const run = `deno task run ${words.map(shellWord).join(" ")}`;
    const why = result.reason ? ` (stage "${id}" would run: ${result.reason})` : "";
    throw new UserError(
      outHash === undefined
        ? `No trained model at "${shown}": run the pipeline first: ${run}`
        : `The model at "${shown}" is not the one of "${target}"${
          sets.length ? " with these --set values" : " as it is now"
        }${why}: it was trained with other parameters or code: run the pipeline first: ${run}`,
    );
  }
  const dir = cache.objectPath(stored);
  const note = outHash !== undefined && outHash !== stored.hash
    ? `note: "${shown}" holds another model (from a run with other parameters); predicting ` +
      `with the model of these parameters, cached as ${relative(Deno.cwd(), dir) || dir}`
    : undefined;
  return { dir, ...(note ? { note } : {}), stage: { id, key: result.key! } };
}

/** The model of a recorded run of a pipeline (`--run`), with a note naming the run. */
async function modelOfRun(file: string, which: string, stage?: string): Promise<FoundModel> {
  const { runOutput } = await import("./runner/ops/history.ts");
  const { builtinStages } = await import("./stages/mod.ts");
  const found = await runOutput(file, which, {
    registry: builtinStages(),
    type: "model",
    ...(stage ? { stage } : {}),
  });
  const { run } = found;
  const when = run.last_seen.slice(0, 16).replace("T", " ");
  return {
    dir: found.path,
    stage: { id: found.stage, key: found.key },
    run: run.id,
    note: `note: the model of run ${run.id.slice(0, 8)} (stage "${found.stage}", last run ` +
      `${when} UTC)`,
  };
}
