/**
 * The built-in stage kinds: the seven stages of the NER pipeline, and `embed-pad`, the old
 * name of `label-ids` (deprecated; it warns when it runs).
 *
 * Stage modules import only light code at the top; tokenizers and TensorFlow.js are imported
 * inside `run`, so a fully cached rerun never loads them.
 *
 * @module
 */

import { Registry } from "../runner/registry.ts";
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
