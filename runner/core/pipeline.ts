/**
 * The shapes of a checked pipeline, as `loadPipeline` (`config/load.ts`) returns it and every
 * later layer reads it: its stages with their kinds, parameters and wired inputs, in order.
 *
 * @module
 */

import type { AnyStage } from "../registry.ts";

/** An input wired to another stage's output or to a file. */
export type ResolvedInput =
  | { kind: "stage"; stage: string; output: string }
  | { kind: "file"; path: string; abs: string };

/** A parameter whose value is a path: its content is part of the stage's key. */
export interface PathParam {
  /** Config path of the parameter, e.g. `stages.load.with.train`. */
  param: string;
  /** The path as written (relative to the project root, or absolute). */
  path: string;
  /** The path made absolute against the project root. */
  abs: string;
  /** `file` or `dir`, as the schema's `x-path` says. */
  kind: "file" | "dir";
}

/** A stage after every check. */
export interface ResolvedStage {
  /** Stage id: its key under `stages:`. */
  id: string;
  /** The `uses:` value as written: a registered name or a module path. */
  uses: string;
  /** The stage kind `uses:` names. */
  definition: AnyStage;
  /** Parameters (`with:`) after `--set` overrides, `${vars}` and schema defaults. */
  params: Record<string, unknown>;
  /** Inputs by name, each wired to another stage's output or to a file. */
  inputs: Record<string, ResolvedInput>;
  /** Parameters whose values are paths, whose content is part of the stage's key. */
  pathParams: PathParam[];
  /** Ids of stages whose outputs this stage reads. */
  upstream: string[];
  /** What a Slurm job of the stage asks for (`resources:`); not part of its key. */
  resources?: StageResources;
}

/** A stage's `resources:`: sbatch options of its job (`--executor slurm`); a local run ignores them. */
export interface StageResources {
  /** GPUs: `--gres=gpu:N`. */
  gpus?: number;
  /** CPUs: `--cpus-per-task`. */
  cpus?: number;
  /** Memory: `--mem` (e.g. `8G`). */
  mem?: string;
  /** Time limit: `--time` (e.g. `2:00:00`). */
  time?: string;
  /** Partition: `--partition`. */
  partition?: string;
}

/** A checked pipeline. */
export interface Pipeline {
  /** The pipeline file as given. */
  file: string;
  /** Project root: the nearest directory at or above the file holding deno.json. */
  root: string;
  /** Pipeline name, from `name:`; outputs are materialised under a directory of that name. */
  name: string;
  /** The stages by id. */
  stages: Map<string, ResolvedStage>;
  /** Stage ids in a topological order (file order where free). */
  order: string[];
  /**
   * The file's `matrix:` block: config paths and the values each takes in a sweep, in file
   * order (absent or empty when there is none). The pipeline itself has the file's own values;
   * `LoadOptions.variant` picks one value per path.
   */
  matrix?: MatrixAxis[];
  /** Where stages that must run run (`executor:`, a name of exec/registry.ts; `--executor` overrides it). */
  executor?: string;
  /** The shared remote cache (`remote:`); `NERPIPE_REMOTE` overrides it. Never credentials. */
  remote?: string;
}

/** One axis of a sweep: a config path and the values it takes. */
export interface MatrixAxis {
  /** Config path, e.g. `stages.train.with.learning_rate`. */
  path: string;
  /** The values, as written. */
  values: unknown[];
}
