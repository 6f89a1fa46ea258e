/**
 * The built-in stage kinds: the seven stages of the NER pipeline.
 *
 * Stage modules import only light code at the top; tokenizers and TensorFlow.js are imported
 * inside `run`, so a fully cached rerun never loads them.
 *
 * @module
 */

import { Registry } from "../runner/registry.ts";
import { embedPad } from "./embed_pad.ts";
import { load } from "./load.ts";
import { preprocessInput } from "./preprocess_input.ts";
import { preprocessTarget } from "./preprocess_target.ts";
import { tensorize } from "./tensorize.ts";
import { train } from "./train.ts";
import { validate } from "./validate.ts";

/** The built-in stage kinds, in pipeline order. */
export const BUILTIN_STAGES = [
  load,
  preprocessInput,
  preprocessTarget,
  embedPad,
  tensorize,
  train,
  validate,
] as const;

/** A new registry holding every built-in stage kind. */
export function builtinStages(): Registry {
  const registry = new Registry();
  for (const stage of BUILTIN_STAGES) registry.register(stage);
  return registry;
}
