/**
 * Artifact formats passed between the NER stages, and small I/O helpers.
 *
 * @module
 */

import type { EncodedDocument } from "../ner/types.ts";

/** `encoded` artifact of preprocess-input. */
export interface EncodedArtifact {
  max_length: number;
  overflow: "window" | "truncate";
  pad_id: number;
  vocab_size: number;
  splits: Record<"train" | "validation", EncodedDocument[]>;
  report: {
    documents_windowed: number;
    windows_added: number;
    documents_truncated: number;
    /** Entities whose two ends fall on word-piece boundaries, per split. */
    boundary_coverage: Record<"train" | "validation", CoverageReport>;
  };
}

/** Boundary coverage of one split (see `boundaryCoverage` in ner/align.ts). */
export interface CoverageReport {
  entities: number;
  on_boundaries: number;
  share: number;
}

/** `targets` artifact of preprocess-target: a tag (or null = ignore) per piece per window. */
export interface TargetsArtifact {
  label_all_tokens: boolean;
  splits: Record<"train" | "validation", (string | null)[][]>;
  report: Record<"train" | "validation", {
    entities: number;
    outside_window: number;
    not_on_boundary: number;
    crosses_window: number;
  }>;
}

/** `labels` artifact of embed-pad: the label dictionary and how pieces were labelled. */
export interface LabelsArtifact {
  /** Tag of each class id (`O` first). */
  labels: string[];
  /** Whether continuation pieces carry labels (preprocess-target's `label_all_tokens`). */
  label_all_tokens: boolean;
}

/** One split of the `padded` artifact of embed-pad (rows of equal length). */
export interface PaddedSplit {
  ids: number[][];
  mask: number[][];
  labels: number[][];
}

/** `padded` artifact of embed-pad. */
export interface PaddedArtifact {
  seq_len: number;
  splits: Record<"train" | "validation", PaddedSplit>;
}

/** The windows of one split grouped by document index, in window order. */
export function windowsByDoc(
  windows: readonly EncodedDocument[],
): Map<number, EncodedDocument[]> {
  const byDoc = new Map<number, EncodedDocument[]>();
  for (const w of windows) {
    let list = byDoc.get(w.doc);
    if (!list) byDoc.set(w.doc, list = []);
    list.push(w);
  }
  return byDoc;
}

/** Reads a JSON artifact. */
export async function readJson<T>(path: string): Promise<T> {
  return JSON.parse(await Deno.readTextFile(path)) as T;
}

/** Writes a JSON artifact (compact). */
export async function writeJson(path: string, value: unknown): Promise<void> {
  await Deno.writeTextFile(path, JSON.stringify(value));
}
