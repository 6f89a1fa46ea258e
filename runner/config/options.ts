/**
 * What `loadPipeline` (`./load.ts`) is given besides the file: the stage kinds, overrides, where
 * a checked pipeline is remembered, outside paths allowed, a sweep's variant.
 *
 * @module
 */

import type { Registry } from "../registry.ts";

/** Options of `loadPipeline` (`./load.ts`). */
export interface LoadOptions {
  /** Stage kinds that `uses:` names resolve to; module paths are imported instead. */
  registry: Registry;
  /** `key=value` overrides from `--set`. */
  sets?: string[];
  /**
   * Cache directory where a checked pipeline is remembered (default `<root>/.pipeline`), so
   * that an unchanged file is not parsed and checked again; `false` turns that off.
   */
  cacheDir?: string | false;
  /**
   * Paths outside the project that the pipeline may read (`--allow-outside`), relative to the
   * project root or absolute, added to the file's own `allow_outside:` list.
   */
  allowOutside?: string[];
  /**
   * One variant of the file's `matrix:` block: for each of its paths (or some of them), the
   * index of the value to use. Applied before `sets`, so that `--set` wins.
   */
  variant?: Record<string, number>;
}
