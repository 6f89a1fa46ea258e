/**
 * What a run gives back: each stage's outputs as stored in the cache, and how each stage ended
 * (the run's summary, as `--json` prints it).
 *
 * @module
 */

/** Output of a stage as stored in the index. */
export interface StoredOutput {
  hash: string;
  kind: "file" | "dir";
  /**
   * Bytes of the object (of a directory's files, together). A remote's run records declare it,
   * and a pull reads no more; local records need not have it.
   */
  size?: number;
}

/** How a stage ended. */
export type StageStatus = "ran" | "cached" | "skipped" | "failed" | "would-run";

/** One stage's result, as `--json` prints it. */
export interface StageResult {
  /** Stage id. */
  id: string;
  /** Name of the stage kind. */
  kind: string;
  /** How the stage ended. */
  status: StageStatus;
  /** Seconds the stage took to run or fail; 0 when it did not run. */
  seconds: number;
  /** The stage's cache key; `null` when skipped or waiting on a stage that would run. */
  key: string | null;
  /** Materialised output paths by output name. */
  outputs: Record<string, string>;
  /** Why a failed stage failed, in one message (see failure.ts). */
  error?: string;
  /** The stack of the error a failed stage's code threw, for `--verbose`; absent otherwise. */
  stack?: string;
  /** Why a stage was skipped or would run. */
  reason?: string;
}

/** Result of a whole run. */
export interface RunSummary {
  /** Pipeline name. */
  pipeline: string;
  /** One result per stage, in topological order. */
  stages: StageResult[];
  /**
   * Outputs that could not be written under `out/` (the stages' results are cached all the
   * same); absent when there were none.
   */
  materialisation?: MaterialiseProblem[];
}

/** An output that could not be materialised. */
export interface MaterialiseProblem {
  /** Stage id. */
  stage: string;
  /** Output name. */
  output: string;
  /** Where it should have been written. */
  path: string;
  /** What went wrong. */
  message: string;
}
