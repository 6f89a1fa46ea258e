/**
 * Where a run's output goes ({@link Reporter}: a line per stage, stage logs, progress), and how
 * it says a duration ({@link formatSeconds}). Stage code imports this module by this path
 * (`runner/report.ts`, for `formatSeconds`), so it stays here; the reporter that writes to the
 * terminal is `report/console.ts`.
 *
 * @module
 */

import type { Logger, Progress } from "./stage.ts";

/** Where run output goes. */
export interface Reporter {
  /** Prints one line of run output. */
  line(text: string): void;
  /** The logger a stage gets, prefixing messages with its id. */
  logger(id: string): Logger;
  /** The progress a stage gets. */
  progress(id: string): Progress;
  /** Clears a progress bar left on screen. */
  done(id: string): void;
}

/** Formats seconds for humans: `0.4 s`, `3.2 s`, `2 min 5 s`. */
export function formatSeconds(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const m = Math.floor(seconds / 60);
  return `${m} min ${Math.round(seconds - 60 * m)} s`;
}
