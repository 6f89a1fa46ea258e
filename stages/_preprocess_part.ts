/**
 * preprocess-input on a part of the dataset file, so that two threads (the stage and a worker,
 * `_preprocess_worker.ts`) share the work on a large corpus: the dataset's records are cut in
 * two at a line near the middle of the file, each thread counts the words of its training
 * texts (the counts are merged in order, so the learned vocabulary is the one a single pass
 * learns), then encodes its documents; the worker's windows are written to a file of their
 * own that the stage appends to its output, after its own. Counts and reports are sums, so the
 * output is the bytes a single pass writes.
 *
 * Anything unexpected in a part (a record of the wrong shape, splits out of order, a line that
 * is not JSON) throws {@link PartProblem}: the stage then runs the single pass, which reports
 * the problem as it always has (naming the file and line).
 *
 * @module
 */

import { boundaryCoverage } from "../ner/align.ts";
import { encodeDocument, type NerTokenizer, WordCounts } from "../ner/tokenizer/mod.ts";
import type { Document } from "../ner/types.ts";
import type { EncodedRecord, Split } from "./_artifacts.ts";
import { type ByteRange, countLines, middleLine, PartProblem, rangeRecords } from "./_parts.ts";

/** One of the two parts: its bytes, the index of its first record and the training count. */
export interface Part {
  path: string;
  range: ByteRange;
  /** Index (over both splits) of the part's first record. */
  firstRecord: number;
  /** Training documents in the dataset (they come first). */
  trainTotal: number;
}

/** The two parts of a dataset file. */
export interface PartsPlan {
  first: Part;
  second: Part;
}

/**
 * Cuts a dataset file in two parts of its records at the first line that starts after the
 * middle of the file, or returns undefined when the file is smaller than `minBytes`.
 *
 * @param path The dataset file (a stream artifact: header, records, trailer).
 * @param trainTotal Its training documents (from its trailer).
 * @param minBytes The smallest file worth cutting.
 * @returns The two parts, or undefined.
 */
export function planParts(
  path: string,
  trainTotal: number,
  minBytes: number,
): PartsPlan | undefined {
  const cut = middleLine(path, minBytes);
  if (cut === undefined) return undefined;
  const { layout: { records }, at: mid } = cut;
  const before = countLines(path, { start: records.start, end: mid }).lines;
  return {
    first: { path, range: { start: records.start, end: mid }, firstRecord: 0, trainTotal },
    second: { path, range: { start: mid, end: records.end }, firstRecord: before, trainTotal },
  };
}

/** The documents of a part with their split and index in it, each record checked. */
async function* documents(
  part: Part,
): AsyncGenerator<{ split: Split; doc: number; document: Document }> {
  let r = part.firstRecord;
  for await (const value of rangeRecords("ner-dataset", part.path, part.range)) {
    const { split, ...document } = value;
    const expected: Split = r < part.trainTotal ? "train" : "validation";
    if (split !== expected) throw new PartProblem(`record ${r} is not of the ${expected} split`);
    yield { split, doc: split === "train" ? r : r - part.trainTotal, document };
    r++;
  }
}

/**
 * Counts the words of the training texts of a part.
 *
 * @param part The part.
 * @param lowercase The normalisation (as the tokenizer will).
 * @param cut Cut words at the entities' starts and ends.
 * @param each Called every 2,000 documents (to look at an abort signal).
 * @returns The counts.
 * @throws {PartProblem} When a record is not as expected.
 */
export async function countPart(
  part: Part,
  lowercase: boolean,
  cut: boolean,
  each?: () => Promise<void>,
): Promise<WordCounts> {
  const counts = new WordCounts(lowercase);
  let n = 0;
  for await (const { split, document } of documents(part)) {
    if (split !== "train") break;
    if (each && n++ % 2000 === 0) await each();
    counts.add(document.text, cut ? document.entities.flatMap((e) => [e.start, e.end]) : undefined);
  }
  return counts;
}

/** What encoding a part (or the whole dataset) counted. */
export interface EncodeStats {
  report: { documents_windowed: number; windows_added: number; documents_truncated: number };
  windows: Record<Split, number>;
  pieces: Record<Split, number>;
  coverage: Record<Split, { entities: number; onBoundaries: number }>;
}

/** Empty stats. */
export function emptyStats(): EncodeStats {
  return {
    report: { documents_windowed: 0, windows_added: 0, documents_truncated: 0 },
    windows: { train: 0, validation: 0 },
    pieces: { train: 0, validation: 0 },
    coverage: {
      train: { entities: 0, onBoundaries: 0 },
      validation: { entities: 0, onBoundaries: 0 },
    },
  };
}

/**
 * Encodes one document into its window records and counts them in `stats` (what the single
 * pass and the parts do with each document).
 *
 * @param tok The tokenizer.
 * @param split The document's split.
 * @param doc Its index in the split.
 * @param document The document.
 * @param opts `max_length` and `overflow`.
 * @param stats Where the windows are counted.
 * @returns The window records.
 */
export function encodeRecords(
  tok: NerTokenizer,
  split: Split,
  doc: number,
  document: Document,
  opts: { maxLength: number; overflow: "window" | "truncate" },
  stats: EncodeStats,
): EncodedRecord[] {
  const r = encodeDocument(tok, document.text, {
    maxLength: opts.maxLength,
    stride: opts.overflow,
    tokens: false,
  });
  if (r.truncated && opts.overflow === "window") {
    stats.report.documents_windowed++;
    stats.report.windows_added += r.windows.length - 1;
  } else if (r.truncated) stats.report.documents_truncated++;
  const records = r.windows.map(({ tokens: _, ...w }): EncodedRecord => ({ split, doc, ...w }));
  stats.windows[split] += records.length;
  for (const w of records) stats.pieces[split] += w.ids.length;
  const c = boundaryCoverage([{ windows: records, entities: document.entities }]);
  stats.coverage[split].entities += c.entities;
  stats.coverage[split].onBoundaries += c.onBoundaries;
  return records;
}

/**
 * Encodes the documents of a part, giving each window record to `write` in order.
 *
 * @param tok The tokenizer.
 * @param part The part.
 * @param opts `max_length` and `overflow`.
 * @param write Receives each window record.
 * @param each Called with each document before it is encoded (checks, progress).
 * @returns The counts.
 * @throws {PartProblem} When a record is not as expected.
 */
export async function encodePart(
  tok: NerTokenizer,
  part: Part,
  opts: { maxLength: number; overflow: "window" | "truncate" },
  write: (record: EncodedRecord) => Promise<void>,
  each?: (split: Split, doc: number, document: Document) => Promise<void> | void,
): Promise<EncodeStats> {
  const stats = emptyStats();
  for await (const { split, doc, document } of documents(part)) {
    await each?.(split, doc, document);
    for (const w of encodeRecords(tok, split, doc, document, opts, stats)) await write(w);
  }
  return stats;
}
