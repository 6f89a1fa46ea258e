/**
 * What a run is asked to do: which stages, how many at once, forced or dry, where its cache and
 * outputs are, the remote cache, the executor.
 *
 * @module
 */

import type { StageExecutor } from "../exec/executor.ts";
import type { RemoteOptions } from "../remote/schemes.ts";
import type { Reporter } from "../report.ts";

/** Options of a run. */
export interface RunOptions {
  /** Most stages running at once. */
  jobs?: number;
  /** Run only these stages (and what they need). */
  only?: string[];
  /** Run this stage and everything downstream of it (and what they need). */
  from?: string;
  /** `true` reruns every selected stage; a list reruns those. */
  force?: boolean | string[];
  /** Compute keys and report what would run, without running anything. */
  dryRun?: boolean;
  /** Cache directory, default `<root>/.pipeline`. */
  cacheDir?: string;
  /** Where outputs are materialised, default `<root>/out`. */
  outDir?: string;
  /** Where stage lines, logs and progress go. */
  reporter: Reporter;
  /** Interrupts the run: no further stage runs, and a running one sees the abort and fails. */
  signal?: AbortSignal;
  /**
   * The shared remote cache (`remote:`, `NERPIPE_REMOTE`): a local miss is looked up there,
   * and what a stage makes is pushed there. Loaded only when a stage misses the local cache.
   */
  remote?: RemoteOptions;
  /**
   * Where stages that must run are run: in this process (the default) or elsewhere (a batch
   * executor, such as Slurm's; see exec/registry.ts).
   *
   * @internal The executor interface is the engine's own (`--executor`), not yet a public API.
   */
  executor?: StageExecutor;
}
