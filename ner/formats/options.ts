/**
 * Options and results shared by the corpus readers.
 *
 * @module
 */

import type { Document } from "../types.ts";

/** The corpus formats that {@linkcode parseCorpus} understands. */
export type CorpusFormat = "kmou" | "conll" | "klue" | "jsonl";

/** The formats, in the order they are documented. */
export const CORPUS_FORMATS: readonly CorpusFormat[] = ["kmou", "conll", "klue", "jsonl"];

/** How to read a corpus. */
export interface ReadOptions {
  /** The file's format. */
  format: CorpusFormat;
  /**
   * What to do with a malformed record: `"error"` (the default) throws a `CorpusError` for the
   * first one; `"skip"` leaves it out, counts it and records it in `problems`.
   */
  onError?: "error" | "skip";
  /**
   * CoNLL only: the column that holds the BIO tag, 0-based; negative counts from the end of the
   * line. Default -1, the last column. Column 0 is the token and cannot be the tag.
   */
  tagColumn?: number;
  /**
   * {@linkcode readCorpus} only: stops reading (rejecting with the signal's reason) once it is
   * aborted, checked every few hundred records.
   */
  signal?: AbortSignal;
}

/** A record that was skipped because of `onError: "skip"`. */
export interface CorpusProblem {
  file: string;
  /** 1-based line of the problem. */
  line: number;
  /** 1-based column of the problem, when known. */
  column?: number;
  /** The full message, as a `CorpusError` would have carried it. */
  message: string;
}

/** What a reader returns. */
export interface ReadResult {
  documents: Document[];
  /** How many records were skipped; equals `problems.length`. */
  skipped: number;
  problems: CorpusProblem[];
}
