/**
 * What the pulls and pushes of one run share (the store, the names found damaged so far), and
 * what they count for the `pull` and `push` commands.
 *
 * @module
 */

import type { RemoteStore } from "./store.ts";

/** What the pulls and pushes of one run share. */
export interface Session {
  /** Where the objects are. */
  store: RemoteStore;
  /** The remote as shown (no credentials). */
  display: string;
  /** Remote names found damaged or missing in this run: a push writes them again. */
  rewrite: Set<string>;
  /** Where warnings and reports of damaged remote entries go. */
  warn: (line: string) => void;
}

/** What a pull or push did, for the `pull` and `push` commands. */
export interface TransferCount {
  /** Objects (files) downloaded or uploaded. */
  moved: number;
  /** Objects already there (not moved again). */
  present: number;
  /** Bytes downloaded or uploaded. */
  bytes: number;
}
