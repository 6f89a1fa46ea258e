/**
 * The built-in stage kinds.
 *
 * @module
 */

import { Registry } from "../runner/registry.ts";

/** A new registry holding every built-in stage kind. */
export function builtinStages(): Registry {
  const registry = new Registry();
  return registry;
}
