/**
 * The work of preprocess-target, on whole inputs (the single pass) or on one of two parts
 * (`_parts.ts`): the dataset's documents and the encoded windows are walked side by side, each
 * document's entities tagged on its windows.
 *
 * @module
 */

import { tagDocument } from "../ner/align.ts";
import type {
  DatasetRecord,
  EncodedRecord,
  Split,
  TargetsArtifact,
  TargetsRecord,
} from "./_artifacts.ts";
import {
  type ByteRange,
  countLines,
  lineAfter,
  middleLine,
  PartProblem,
  rangeRecords,
  recordAt,
  streamLayout,
} from "./_parts.ts";

/** What tagging counted: windows and the entity report of each split. */
export interface TagStats {
  windows: Record<Split, number>;
  report: TargetsArtifact["report"];
}

/** Empty counts. */
export function emptyTagStats(): TagStats {
  const report = (): TargetsArtifact["report"]["train"] => ({
    entities: 0,
    outside_window: 0,
    not_on_boundary: 0,
    crosses_window: 0,
  });
  return {
    windows: { train: 0, validation: 0 },
    report: { train: report(), validation: report() },
  };
}

/** How {@link tagStreams} is run. */
export interface TagOptions {
  labelAllTokens: boolean;
  /** Index of the first document of each split in `documents` (0, or where a part starts). */
  first: Record<Split, number>;
  /** Makes the error for inputs that do not line up. */
  mismatch: (problem: string) => Error;
  /** Called before each document (abort checks). */
  each?: ((index: number) => Promise<void> | void) | undefined;
}

/**
 * Tags the documents on their windows, giving each window's tags to `write` in order. Both
 * streams hold the train split, then the validation split, documents in order; the windows of a
 * document follow one another.
 *
 * @param documents The dataset's records.
 * @param windows The encoded records of the same documents.
 * @param opts How.
 * @param write Receives each targets record.
 * @returns The counts.
 */
export async function tagStreams(
  documents: AsyncIterable<DatasetRecord>,
  windows: AsyncIterator<EncodedRecord>,
  opts: TagOptions,
  write: (record: TargetsRecord) => Promise<void>,
): Promise<TagStats> {
  const stats = emptyTagStats();
  const docs = { ...opts.first };
  const nextWindow = async () => {
    const item = await windows.next();
    return item.done ? undefined : item.value;
  };
  let pending = await nextWindow();
  let done = 0;
  for await (const document of documents) {
    await opts.each?.(done++);
    const split: Split = document.split;
    const doc = docs[split]++;
    const ws: EncodedRecord[] = [];
    while (pending && pending.split === split && pending.doc === doc) {
      ws.push(pending);
      pending = await nextWindow();
    }
    if (pending && pending.split === split && pending.doc < doc) {
      throw opts.mismatch(`the ${split} windows of document ${pending.doc} are out of order`);
    }
    if (ws.length === 0) {
      // preprocess-input gives every document one window at least.
      throw opts.mismatch(`${split} document ${doc} of the dataset has no window in the encoding`);
    }
    const result = tagDocument(ws, document.entities, { labelAllTokens: opts.labelAllTokens });
    for (const tags of result.labels) await write({ split, doc, tags });
    stats.windows[split] += result.labels.length;
    const r = stats.report[split];
    r.entities += document.entities.length;
    r.outside_window += result.report.outsideWindow;
    r.not_on_boundary += result.report.notOnBoundary;
    r.crosses_window += result.report.crossesWindow;
  }
  if (pending) {
    throw opts.mismatch(
      `a ${pending.split} window is of document ${pending.doc}, but the dataset's ` +
        `${pending.split} split has ${docs[pending.split]}`,
    );
  }
  return stats;
}

/** One part: the byte ranges of both inputs and the document its dataset range starts at. */
export interface TagPart {
  dataset: { path: string; range: ByteRange };
  encoded: { path: string; range: ByteRange };
  first: Record<Split, number>;
}

/**
 * Tags one part (what the worker does, and the stage with the first part).
 *
 * @param part The part.
 * @param labelAllTokens Label continuation pieces too.
 * @param write Receives each targets record.
 * @param each Called before each document.
 * @throws {PartProblem} When the part's inputs do not line up or a record is not as expected.
 */
export function tagPart(
  part: TagPart,
  labelAllTokens: boolean,
  write: (record: TargetsRecord) => Promise<void>,
  each?: (index: number) => Promise<void> | void,
): Promise<TagStats> {
  return tagStreams(
    rangeRecords("ner-dataset", part.dataset.path, part.dataset.range),
    rangeRecords("ner-encoded", part.encoded.path, part.encoded.range),
    { labelAllTokens, first: part.first, mismatch: (problem) => new PartProblem(problem), each },
    write,
  );
}

/**
 * Cuts the inputs in two at the first document whose windows start after the middle of the
 * encoded file, or returns undefined when the encoded file is smaller than `minBytes`.
 *
 * @param dataset The dataset file.
 * @param encoded The encoded file.
 * @param trainTotal The dataset's training documents (its trailer).
 * @param minBytes The smallest encoded file worth cutting.
 * @throws {PartProblem} When a record at the cut is not as expected.
 */
export function planTagParts(
  dataset: string,
  encoded: string,
  trainTotal: number,
  minBytes: number,
): [TagPart, TagPart] | undefined {
  const middle = middleLine(encoded, minBytes);
  const d = streamLayout(dataset);
  if (middle === undefined || d === undefined) return undefined;
  // The first window after the middle, then on to the first window of the next document.
  const e = middle.layout;
  let at = middle.at;
  const docOf = (offset: number): [Split, number] => {
    const r = recordAt(encoded, offset) as Partial<EncodedRecord>;
    if ((r.split !== "train" && r.split !== "validation") || !Number.isSafeInteger(r.doc)) {
      throw new PartProblem(`the window at byte ${offset} has no split and doc`);
    }
    return [r.split, r.doc!];
  };
  const [split0, doc0] = docOf(at);
  for (let steps = 0;; steps++) {
    const [split, doc] = docOf(at);
    if (split !== split0 || doc !== doc0) break;
    const next = lineAfter(encoded, at, e.records);
    if (next === undefined || steps > 10_000) return undefined;
    at = next;
  }
  const [split, doc] = docOf(at);
  const index = split === "train" ? doc : trainTotal + doc;
  const cut = countLines(dataset, d.records, index);
  if (cut.lines !== index || cut.at >= d.records.end) return undefined;
  return [
    {
      dataset: { path: dataset, range: { start: d.records.start, end: cut.at } },
      encoded: { path: encoded, range: { start: e.records.start, end: at } },
      first: { train: 0, validation: 0 },
    },
    {
      dataset: { path: dataset, range: { start: cut.at, end: d.records.end } },
      encoded: { path: encoded, range: { start: at, end: e.records.end } },
      first: split === "train" ? { train: doc, validation: 0 } : {
        train: trainTotal,
        validation: doc,
      },
    },
  ];
}
