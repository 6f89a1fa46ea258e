/**
 * The built-in stage kinds: the seven stages of the NER pipeline, and `embed-pad`, the old
 * name of `label-ids` (deprecated; it warns when it runs).
 *
 * Stage modules import only light code at the top; tokenizers and TensorFlow.js are imported
 * inside `run`, so a fully cached rerun never loads them.
 *
 * @module
 */

import type { EnvVar } from "../runner/env.ts";
import { Registry } from "../runner/registry.ts";
import { BLAS_ENV_VARS } from "../ner/bert/_blas.ts";
import { WEBGPU_ENV_VARS } from "../ner/bert/_webgpu_env.ts";
import { PARTS_ENV_VAR } from "./_parts.ts";
import { embedPad } from "./embed_pad.ts";
import { labelIds } from "./label_ids.ts";
import { load } from "./load.ts";
import { preprocessInput } from "./preprocess_input.ts";
import { preprocessTarget } from "./preprocess_target.ts";
import { tensorize } from "./tensorize.ts";
import { train } from "./train.ts";
import { validate } from "./validate.ts";

/** The built-in stage kinds, in pipeline order (the deprecated `embed-pad` last). */
export const BUILTIN_STAGES = [
  load,
  preprocessInput,
  preprocessTarget,
  labelIds,
  tensorize,
  train,
  validate,
  embedPad,
] as const;

/** A new registry holding every built-in stage kind. */
export function builtinStages(): Registry {
  const registry = new Registry();
  for (const stage of BUILTIN_STAGES) registry.register(stage);
  return registry;
}

/**
 * The environment variables that the built-in stages and the ML library read (`NERPIPE_BLAS`,
 * `NERPIPE_BLAS_THREADS`, `NERPIPE_WEBGPU_FUSED`, `NERPIPE_PARTS_MIN_BYTES`), for the CLI to
 * check when it starts. Each is defined, with the rule its reader uses, beside that reader.
 */
export function builtinEnvVars(): EnvVar[] {
  return [...BLAS_ENV_VARS, ...WEBGPU_ENV_VARS, PARTS_ENV_VAR];
}
