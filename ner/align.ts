/**
 * Alignment between character-level entities and word pieces: gold BIO tags
 * for training, and predicted tags back to character spans.
 *
 * @module
 */

import { bioChunks } from "./labels.ts";
import type { EncodedDocument, EntitySpan } from "./types.ts";

/** The parts of an encoded window that alignment reads. */
export type PieceWindow = Pick<EncodedDocument, "offsets" | "wordStart">;

/** Options of {@link tagPieces}. */
export interface TagOptions {
  /**
   * Label continuation pieces too (Hugging Face `run_ner`'s
   * `label_all_tokens`): `I-X` inside an entity, else `O` (or `B-X` if an
   * entity starts exactly there). When false they are null (ignored).
   */
  labelAllTokens: boolean;
}

/** Entities that the tags of a window cannot represent. */
export interface AlignReport {
  /** Entities entirely outside the window's character range. */
  outsideWindow: number;
  /**
   * Entities (overlapping the window) whose start is not the start of a
   * labelled unit, or whose end is not the end of one. Units are words (a
   * first piece and its continuation pieces) when `labelAllTokens` is false,
   * pieces when it is true. E.g. `<서울:LC>에서` written as the one word
   * `서울에서`: the entity ends mid-word, so it is counted; an entity that
   * starts mid-word is counted too.
   */
  notOnBoundary: number;
}

/** Result of {@link tagPieces}. */
export interface TagResult {
  /** A tag per piece; null for special tokens and ignored pieces. */
  labels: (string | null)[];
  report: AlignReport;
}

type Status = "outside" | "ok" | "boundary" | "partial";

/** Scratch marks of {@link tagWithStatus} by character offset (1 unit start, 2 unit end). */
let unitMarks = new Uint8Array(1024);

function tagWithStatus(
  enc: PieceWindow,
  entities: readonly EntitySpan[],
  opts: TagOptions,
): { labels: (string | null)[]; status: Status[] } {
  const n = enc.offsets.length;
  const labels: (string | null)[] = new Array(n).fill(null);
  let max = 0;
  for (let i = 0; i < n; i++) {
    const off = enc.offsets[i];
    if (off && off[1] > max) max = off[1];
  }
  if (unitMarks.length <= max) unitMarks = new Uint8Array(2 * max + 2);
  const marks = unitMarks;
  let winStart = Infinity;
  let winEnd = -Infinity;
  let wordOpen = false;
  let lastWordEnd = -1;
  /** Whether the piece starts never go down (then an entity's pieces are found by search). */
  let sorted = true;
  let lastStart = -Infinity;
  for (let i = 0; i < n; i++) {
    const off = enc.offsets[i];
    if (!off) {
      if (i !== 0 && i !== n - 1) sorted = false;
      wordOpen = false;
      continue;
    }
    if (off[0] < lastStart) sorted = false;
    lastStart = off[0];
    winStart = Math.min(winStart, off[0]);
    winEnd = Math.max(winEnd, off[1]);
    const first = enc.wordStart[i] === true;
    if (opts.labelAllTokens) {
      labels[i] = "O";
      marks[off[0]]! |= 1;
      marks[off[1]]! |= 2;
    } else if (first) {
      labels[i] = "O";
      if (wordOpen) marks[lastWordEnd]! |= 2;
      marks[off[0]]! |= 1;
      wordOpen = true;
      lastWordEnd = off[1];
    } else if (wordOpen) {
      lastWordEnd = Math.max(lastWordEnd, off[1]);
    }
    const next = enc.offsets[i + 1];
    if (!opts.labelAllTokens && wordOpen && (!next || enc.wordStart[i + 1] === true)) {
      marks[lastWordEnd]! |= 2;
      wordOpen = false;
    }
  }
  const mark = (at: number) => (at >= 0 && at <= max ? marks[at]! : 0);
  const order = entities.map((_, k) => k).sort((a, b) =>
    entities[a]!.start - entities[b]!.start || entities[b]!.end - entities[a]!.end
  );
  const status: Status[] = new Array(entities.length);
  for (const k of order) {
    const e = entities[k]!;
    if (!(winStart < winEnd) || e.end <= winStart || e.start >= winEnd) {
      status[k] = "outside";
      continue;
    }
    // The pieces that start in [e.start, e.end): all of them, or from the first piece that
    // starts at e.start or later while the starts are sorted.
    let i = 0;
    if (sorted) {
      let lo = 0, hi = n;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        const off = enc.offsets[mid];
        // Special tokens (no offsets) are only at the two ends.
        const at = off ? off[0] : mid === 0 ? -Infinity : Infinity;
        if (at < e.start) lo = mid + 1;
        else hi = mid;
      }
      i = lo;
    }
    for (; i < n; i++) {
      const cur = labels[i];
      if (cur === null || cur === undefined) continue;
      const s = enc.offsets[i]![0];
      if (s === e.start) {
        if (cur === "O" || cur.startsWith("I-")) labels[i] = `B-${e.label}`;
      } else if (sorted && s >= e.end) {
        break;
      } else if (s > e.start && s < e.end && cur === "O") {
        labels[i] = `I-${e.label}`;
      }
    }
    const startOk = e.start < winStart || (mark(e.start) & 1) !== 0;
    const endOk = e.end > winEnd || (mark(e.end) & 2) !== 0;
    if (!startOk || !endOk) status[k] = "boundary";
    else if (e.start < winStart || e.end > winEnd) status[k] = "partial";
    else status[k] = "ok";
  }
  marks.fill(0, 0, max + 1);
  return { labels, status };
}

/**
 * Tag the pieces of one window from character-level entities: `B-X` on the
 * piece that starts where an entity starts, `I-X` on pieces that start inside
 * it, `O` elsewhere; null for [CLS]/[SEP] and, unless `labelAllTokens`, for
 * continuation pieces. Where entities overlap, `B-` wins over `I-`, and the
 * entity that starts first (the longer one on ties) wins among `I-`.
 *
 * @param enc Offsets and word-start flags of the window's pieces.
 * @param entities Entities of the document (original-text offsets).
 * @param opts `labelAllTokens`.
 * @returns A tag per piece and what could not be represented.
 * @example
 * ```ts
 * import { tagPieces } from "./align.ts";
 * const enc = { offsets: [null, [0, 2], [2, 4], [5, 7], null] as ([number, number] | null)[],
 *   wordStart: [false, true, false, true, false] };
 * tagPieces(enc, [{ start: 0, end: 4, label: "LC" }], { labelAllTokens: false }).labels;
 * // [null, "B-LC", null, "O", null]
 * ```
 */
export function tagPieces(
  enc: PieceWindow,
  entities: readonly EntitySpan[],
  opts: TagOptions,
): TagResult {
  const { labels, status } = tagWithStatus(enc, entities, opts);
  return {
    labels,
    report: {
      outsideWindow: status.filter((s) => s === "outside").length,
      notOnBoundary: status.filter((s) => s === "boundary").length,
    },
  };
}

/** Report of {@link tagDocument}, over all windows of a document. */
export interface DocumentAlignReport extends AlignReport {
  /** Entities split over two or more windows (each part is still tagged). */
  crossesWindow: number;
}

/**
 * Tag every window of a document, and report each entity once: `outsideWindow`
 * counts entities that no window covers (e.g. cut off by `truncate`),
 * `notOnBoundary` those misaligned in some window, `crossesWindow` those
 * that no single window contains.
 *
 * @param windows The windows from `encodeDocument`.
 * @param entities Entities of the document.
 * @param opts `labelAllTokens`.
 * @returns Tags per window and the report.
 */
export function tagDocument(
  windows: readonly PieceWindow[],
  entities: readonly EntitySpan[],
  opts: TagOptions,
): { labels: (string | null)[][]; report: DocumentAlignReport } {
  const labels: (string | null)[][] = [];
  const statuses: Status[][] = [];
  for (const w of windows) {
    const r = tagWithStatus(w, entities, opts);
    labels.push(r.labels);
    statuses.push(r.status);
  }
  const report: DocumentAlignReport = { outsideWindow: 0, notOnBoundary: 0, crossesWindow: 0 };
  entities.forEach((_, k) => {
    const s = statuses.map((st) => st[k]);
    if (s.every((x) => x === "outside")) report.outsideWindow++;
    else if (s.includes("boundary")) report.notOnBoundary++;
    else if (!s.includes("ok")) report.crossesWindow++;
  });
  return { labels, report };
}

/** A decoded entity; `score` when per-piece scores were given. */
export interface ScoredSpan extends EntitySpan {
  /** Mean over the entity's units of their tag's score. */
  score?: number;
}

/**
 * Turn predicted tags of the pieces of one window back into character spans of the original
 * text. This is the one decoder: `validate` scores what it returns and `predict` prints it.
 *
 * Units are what carries a tag. With `units`, a piece whose flag is true starts a unit and
 * the pieces after it whose flag is false extend it (models trained on first pieces only pass
 * the word starts: a word is one unit, `서울에서` stays whole). Without `units` every piece with
 * an offset is a unit of its own (models trained with `label_all_tokens`), so an entity can end
 * inside a word: `서울` + `##에서` tagged `B-LC O` gives `서울`. Null tags count as `O`;
 * pieces without offsets (special tokens) are skipped and end the current unit.
 *
 * Units are grouped into entities with conlleval's rules, which are also seqeval's default
 * (non-strict) mode: an `I-X` after `O` or after another type starts an entity, a type change
 * or a `B-` ends one. An entity runs from the start of its first unit to the end of its last.
 *
 * @param offsets Character span of each piece (null for special tokens).
 * @param tags A predicted tag per piece.
 * @param units Which pieces start a unit (default: every piece).
 * @param scores Score of each piece's tag (e.g. its probability), to average per entity.
 * @returns The entities, in order.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { spansFromTags } from "./align.ts";
 * const offsets: ([number, number] | null)[] = [null, [0, 2], [2, 4], [5, 7], null];
 * // Every piece its own unit: 서울 of 서울에서.
 * assert.deepEqual(spansFromTags(offsets, ["O", "B-LC", "O", "O", "O"]), [{ start: 0, end: 2, label: "LC" }]);
 * // Word units (first-piece models): the particle stays inside.
 * assert.deepEqual(
 *   spansFromTags(offsets, ["O", "B-LC", "O", "O", "O"], [false, true, false, true, false]),
 *   [{ start: 0, end: 4, label: "LC" }],
 * );
 * ```
 */
export function spansFromTags(
  offsets: readonly ([number, number] | null)[],
  tags: readonly (string | null)[],
  units?: readonly boolean[],
  scores?: ArrayLike<number>,
): ScoredSpan[] {
  const pos: number[] = [];
  const ends: number[] = [];
  let open = false;
  for (let i = 0; i < offsets.length; i++) {
    const off = offsets[i];
    if (!off) {
      open = false;
      continue;
    }
    if (!units || units[i]) {
      pos.push(i);
      ends.push(off[1]);
      open = true;
    } else if (open) {
      ends[ends.length - 1] = Math.max(ends[ends.length - 1]!, off[1]);
    } // else: a continuation with no unit to extend
  }
  const seq = pos.map((i) => tags[i] ?? null);
  return bioChunks(seq).map((c) => {
    const span: ScoredSpan = {
      start: offsets[pos[c.start]!]![0],
      end: ends[c.end - 1]!,
      label: c.type,
    };
    if (scores) {
      let sum = 0;
      for (let u = c.start; u < c.end; u++) sum += scores[pos[u]!]!;
      span.score = sum / (c.end - c.start);
    }
    return span;
  });
}

/** Result of {@link boundaryCoverage}. */
export interface BoundaryCoverage {
  /** Entities counted. */
  entities: number;
  /** Entities that start where a piece starts and end where a piece ends. */
  onBoundaries: number;
  /** `onBoundaries / entities` (1 when there are no entities). */
  share: number;
}

/** Scratch marks of {@link boundaryCoverage}, zero between calls. */
let marks = new Uint8Array(1024);

/**
 * Boundary coverage of a tokenization: the share of entities whose two ends fall on word-piece
 * boundaries, so that some labelling of the pieces can give their exact character span. It
 * depends on the tokenizer only, not on how pieces are labelled (with first-piece labels the
 * unit is the word, see {@link AlignReport.notOnBoundary}). An entity that no window reaches
 * counts as not covered.
 *
 * @param docs Per document: its windows (offsets of the pieces) and its entities.
 * @returns The counts and the share.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boundaryCoverage } from "./align.ts";
 * // 서울에서 as 서울 + ##에서 covers 서울; as one piece it would not.
 * const split = { windows: [{ offsets: [null, [0, 2], [2, 4], null] as ([number, number] | null)[] }],
 *   entities: [{ start: 0, end: 2, label: "LC" }] };
 * const whole = { windows: [{ offsets: [null, [0, 4], null] as ([number, number] | null)[] }],
 *   entities: [{ start: 0, end: 2, label: "LC" }] };
 * assert.equal(boundaryCoverage([split, whole]).share, 0.5);
 * ```
 */
export function boundaryCoverage(
  docs: Iterable<{
    windows: readonly Pick<PieceWindow, "offsets">[];
    entities: readonly EntitySpan[];
  }>,
): BoundaryCoverage {
  let entities = 0;
  let onBoundaries = 0;
  for (const { windows, entities: ents } of docs) {
    if (ents.length === 0) continue;
    // Marks by character offset: 1 a piece starts there, 2 a piece ends there.
    let max = 0;
    for (const w of windows) {
      for (const off of w.offsets) if (off && off[1] > max) max = off[1];
    }
    if (marks.length <= max) marks = new Uint8Array(2 * max + 2);
    for (const w of windows) {
      for (const off of w.offsets) {
        if (!off) continue;
        marks[off[0]]! |= 1;
        marks[off[1]]! |= 2;
      }
    }
    for (const e of ents) {
      entities++;
      const s = e.start >= 0 && e.start <= max ? marks[e.start]! : 0;
      const t = e.end >= 0 && e.end <= max ? marks[e.end]! : 0;
      if ((s & 1) !== 0 && (t & 2) !== 0) onBoundaries++;
    }
    marks.fill(0, 0, max + 1);
  }
  return { entities, onBoundaries, share: entities === 0 ? 1 : onBoundaries / entities };
}
