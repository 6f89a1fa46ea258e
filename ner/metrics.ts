/**
 * NER evaluation with seqeval/conlleval semantics (seqeval's default mode):
 * entity-level micro precision, recall and F1 over BIO chunks, per-type
 * scores, token accuracy, exact span F1, character-level scores as KLUE
 * reports them, and conlleval input files.
 *
 * @module
 */

import { bioChunks } from "./labels.ts";
import type { EntitySpan } from "./types.ts";

/** Precision, recall and F1 (0 when a denominator is 0). */
export interface Scores {
  precision: number;
  recall: number;
  f1: number;
}

/** Scores of one entity type; `support` is the number of gold chunks. */
export interface TypeScores extends Scores {
  support: number;
}

/** Result of {@link entityMetrics}. */
export interface EntityMetrics extends Scores {
  /** Scores per entity type (types of gold or predicted chunks, sorted). */
  per_type: Record<string, TypeScores>;
}

function scores(tp: number, predicted: number, gold: number): Scores {
  const precision = predicted === 0 ? 0 : tp / predicted;
  const recall = gold === 0 ? 0 : tp / gold;
  const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
  return { precision, recall, f1 };
}

function checkShapes(gold: readonly (readonly unknown[])[], pred: readonly (readonly unknown[])[]) {
  if (gold.length !== pred.length) {
    throw new RangeError(`Got ${gold.length} gold sentences but ${pred.length} predicted ones`);
  }
  gold.forEach((g, i) => {
    if (g.length !== pred[i]!.length) {
      throw new RangeError(
        `Sentence ${i} has ${g.length} gold tags but ${pred[i]!.length} predicted ones`,
      );
    }
  });
}

/**
 * Entity-level micro precision, recall and F1, as conlleval and seqeval
 * compute them: a predicted chunk is correct when a gold chunk has the same
 * start, end and type (see `bioChunks` in labels.ts for chunk rules).
 *
 * @param gold Gold tags per sentence.
 * @param pred Predicted tags per sentence (same shape).
 * @returns Micro scores and scores per type.
 * @throws {RangeError} When the shapes differ.
 * @example
 * ```ts
 * import { entityMetrics } from "./metrics.ts";
 * entityMetrics([["B-PS", "I-PS", "O"]], [["B-PS", "O", "O"]]).f1; // 0
 * ```
 */
export function entityMetrics(
  gold: readonly (readonly string[])[],
  pred: readonly (readonly string[])[],
): EntityMetrics {
  checkShapes(gold, pred);
  const counts = new Map<string, { tp: number; pred: number; gold: number }>();
  const at = (t: string) => {
    let c = counts.get(t);
    if (c === undefined) counts.set(t, c = { tp: 0, pred: 0, gold: 0 });
    return c;
  };
  let tp = 0, nPred = 0, nGold = 0;
  gold.forEach((g, i) => {
    const gc = bioChunks(g);
    const pc = bioChunks(pred[i]!);
    const keys = new Set(gc.map((c) => `${c.start}:${c.end}:${c.type}`));
    for (const c of gc) at(c.type).gold++;
    for (const c of pc) {
      const e = at(c.type);
      e.pred++;
      if (keys.has(`${c.start}:${c.end}:${c.type}`)) {
        e.tp++;
        tp++;
      }
    }
    nPred += pc.length;
    nGold += gc.length;
  });
  const per_type: Record<string, TypeScores> = {};
  for (const t of [...counts.keys()].sort()) {
    const c = counts.get(t)!;
    per_type[t] = { ...scores(c.tp, c.pred, c.gold), support: c.gold };
  }
  return { ...scores(tp, nPred, nGold), per_type };
}

/**
 * Fraction of positions whose predicted tag equals the gold tag (conlleval's
 * "accuracy"; `O` positions count). 0 when there are no positions.
 *
 * @param gold Gold tags per sentence.
 * @param pred Predicted tags per sentence (same shape).
 * @returns The accuracy in [0, 1].
 * @throws {RangeError} When the shapes differ.
 * @example
 * ```ts
 * import { tokenAccuracy } from "./metrics.ts";
 * tokenAccuracy([["B-PS", "O"]], [["B-PS", "B-PS"]]); // 0.5
 * ```
 */
export function tokenAccuracy(
  gold: readonly (readonly string[])[],
  pred: readonly (readonly string[])[],
): number {
  checkShapes(gold, pred);
  let ok = 0, n = 0;
  gold.forEach((g, i) => {
    const p = pred[i]!;
    for (let k = 0; k < g.length; k++) {
      n++;
      if (g[k] === p[k]) ok++;
    }
  });
  return n === 0 ? 0 : ok / n;
}

/**
 * Exact-match span scores: a predicted span is correct when a gold span of the
 * same document has the same start, end and label (each gold span matches
 * once).
 *
 * @param goldSpans Gold entities per document.
 * @param predSpans Predicted entities per document.
 * @returns Micro precision, recall and F1.
 * @throws {RangeError} When the number of documents differs.
 * @example
 * ```ts
 * import { spanF1 } from "./metrics.ts";
 * spanF1([[{ start: 0, end: 2, label: "LC" }]], [[{ start: 0, end: 2, label: "LC" }]]).f1; // 1
 * ```
 */
export function spanF1(
  goldSpans: readonly (readonly EntitySpan[])[],
  predSpans: readonly (readonly EntitySpan[])[],
): Scores {
  if (goldSpans.length !== predSpans.length) {
    throw new RangeError(
      `Got ${goldSpans.length} gold documents but ${predSpans.length} predicted ones`,
    );
  }
  let tp = 0, nPred = 0, nGold = 0;
  goldSpans.forEach((g, i) => {
    const left = new Map<string, number>();
    for (const s of g) {
      const k = `${s.start}:${s.end}:${s.label}`;
      left.set(k, (left.get(k) ?? 0) + 1);
    }
    for (const s of predSpans[i]!) {
      const k = `${s.start}:${s.end}:${s.label}`;
      const n = left.get(k) ?? 0;
      if (n > 0) {
        tp++;
        left.set(k, n - 1);
      }
    }
    nPred += predSpans[i]!.length;
    nGold += g.length;
  });
  return scores(tp, nPred, nGold);
}

/** Result of {@link characterMetrics}. */
export interface CharacterMetrics extends Scores {
  /**
   * Mean over entity types (those of gold or predicted spans) of each type's exact-span F1.
   * With non-overlapping spans this is KLUE's entity-level macro F1 (seqeval, strict IOB2, on
   * character tags).
   */
  macro_f1: number;
  /** Exact-span scores per type (sorted); `support` is the number of gold spans. */
  per_type: Record<string, TypeScores>;
  /**
   * KLUE's character-level macro F1: every character that is not whitespace gets a tag from
   * the spans (`B-X` on an entity's first character, `I-X` on the others, `O` elsewhere), and
   * the F1 of each tag (`O` and `B-`/`I-` of every type in `types`) is averaged; a tag that
   * occurs in neither gold nor predictions scores 1, as in KLUE's use of scikit-learn.
   */
  char_macro_f1: number;
  /** Characters scored (whitespace excluded). */
  characters: number;
}

/**
 * Character-level NER scores of predicted spans against gold spans, as KLUE and Korean NER
 * work report them: exact character-span precision/recall/F1 (micro, per type, macro over
 * types) and KLUE's character-level macro F1. A predicted `서울에서` for the gold `서울` is
 * wrong here, however its word-piece tags score.
 *
 * @param texts The documents' texts (for the character-level tags).
 * @param goldSpans Gold entities per document.
 * @param predSpans Predicted entities per document.
 * @param types Entity types of the label set (the character tags that are averaged).
 * @returns The scores.
 * @throws {RangeError} When the numbers of documents differ.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { characterMetrics } from "./metrics.ts";
 * const m = characterMetrics(
 *   ["서울에서 왔다"],
 *   [[{ start: 0, end: 2, label: "LC" }]],
 *   [[{ start: 0, end: 4, label: "LC" }]],
 *   ["LC"],
 * );
 * assert.equal(m.f1, 0); // the particle makes the span wrong
 * assert.ok(m.char_macro_f1 > 0); // the characters of 서울 are right
 * ```
 */
export function characterMetrics(
  texts: readonly string[],
  goldSpans: readonly (readonly EntitySpan[])[],
  predSpans: readonly (readonly EntitySpan[])[],
  types: readonly string[],
): CharacterMetrics {
  if (texts.length !== goldSpans.length || goldSpans.length !== predSpans.length) {
    throw new RangeError(
      `Got ${texts.length} texts, ${goldSpans.length} gold and ${predSpans.length} predicted documents`,
    );
  }
  const micro = spanF1(goldSpans, predSpans);
  const counts = new Map<string, { tp: number; pred: number; gold: number }>();
  const at = (t: string) => {
    let c = counts.get(t);
    if (c === undefined) counts.set(t, c = { tp: 0, pred: 0, gold: 0 });
    return c;
  };
  // Per-tag character counts: index 0 is O, then B-/I- of each type.
  const tagIndex = new Map<string, number>([["O", 0]]);
  for (const t of types) {
    tagIndex.set(`B-${t}`, tagIndex.size);
    tagIndex.set(`I-${t}`, tagIndex.size);
  }
  const tp = new Float64Array(tagIndex.size);
  const fp = new Float64Array(tagIndex.size);
  const fn = new Float64Array(tagIndex.size);
  let characters = 0;
  const charTags = (text: string, spans: readonly EntitySpan[]): Int32Array => {
    const tags = new Int32Array(text.length); // 0 = O; -1 = a tag outside the label set
    for (const s of spans) {
      for (let i = Math.max(0, s.start); i < Math.min(text.length, s.end); i++) {
        tags[i] = tagIndex.get(`${i === s.start ? "B" : "I"}-${s.label}`) ?? -1;
      }
    }
    return tags;
  };
  goldSpans.forEach((g, d) => {
    const p = predSpans[d]!;
    const left = new Map<string, number>();
    for (const s of g) {
      at(s.label).gold++;
      const k = `${s.start}:${s.end}:${s.label}`;
      left.set(k, (left.get(k) ?? 0) + 1);
    }
    for (const s of p) {
      const c = at(s.label);
      c.pred++;
      const k = `${s.start}:${s.end}:${s.label}`;
      const n = left.get(k) ?? 0;
      if (n > 0) {
        c.tp++;
        left.set(k, n - 1);
      }
    }
    const text = texts[d]!;
    const gt = charTags(text, g);
    const pt = charTags(text, p);
    for (let i = 0; i < text.length; i++) {
      if (/\s/u.test(text[i]!)) continue;
      characters++;
      const a = gt[i]!, b = pt[i]!;
      if (a === b) {
        if (a >= 0) tp[a] = tp[a]! + 1;
      } else {
        if (b >= 0) fp[b] = fp[b]! + 1;
        if (a >= 0) fn[a] = fn[a]! + 1;
      }
    }
  });
  const per_type: Record<string, TypeScores> = {};
  for (const t of [...counts.keys()].sort()) {
    const c = counts.get(t)!;
    per_type[t] = { ...scores(c.tp, c.pred, c.gold), support: c.gold };
  }
  const typeF1 = Object.values(per_type).map((s) => s.f1);
  const macro_f1 = typeF1.length === 0 ? 0 : typeF1.reduce((a, b) => a + b, 0) / typeF1.length;
  let sum = 0;
  for (let k = 0; k < tp.length; k++) {
    const denominator = 2 * tp[k]! + fp[k]! + fn[k]!;
    sum += denominator === 0 ? 1 : (2 * tp[k]!) / denominator;
  }
  return { ...micro, macro_f1, per_type, char_macro_f1: sum / tp.length, characters };
}

/**
 * Escape a token for a conlleval line: conlleval splits lines on whitespace,
 * so every run of whitespace inside a token becomes `_`, and an empty token
 * becomes `_`.
 */
export function escapeConllToken(token: string): string {
  const t = token.replace(/\s+/gu, "_");
  return t.length === 0 ? "_" : t;
}

/**
 * Write conlleval input: one `token gold pred` line per labelled position, a
 * blank line after each sentence. Tokens are escaped with
 * {@link escapeConllToken}.
 *
 * @param tokens Tokens per sentence.
 * @param gold Gold tags per sentence.
 * @param pred Predicted tags per sentence.
 * @returns The text, ending with a newline.
 * @throws {RangeError} When the shapes differ.
 * @example
 * ```ts
 * import { conllLines } from "./metrics.ts";
 * conllLines([["New York", "is"]], [["B-LC", "O"]], [["B-LC", "O"]]);
 * // "New_York B-LC B-LC\nis O O\n\n"
 * ```
 */
export function conllLines(
  tokens: readonly (readonly string[])[],
  gold: readonly (readonly string[])[],
  pred: readonly (readonly string[])[],
): string {
  checkShapes(gold, pred);
  checkShapes(tokens, gold);
  const out: string[] = [];
  tokens.forEach((sent, i) => {
    sent.forEach((t, k) => out.push(`${escapeConllToken(t)} ${gold[i]![k]} ${pred[i]![k]}\n`));
    out.push("\n");
  });
  return out.join("");
}

/**
 * Read conlleval input back (the last two columns are gold and predicted
 * tags; blank lines and `-DOCSTART-` lines end sentences).
 *
 * @param text Text in the format of {@link conllLines}.
 * @returns Tokens, gold and predicted tags per sentence.
 * @example
 * ```ts
 * import { parseConllLines } from "./metrics.ts";
 * parseConllLines("Seoul B-LC B-LC\n\n").gold; // [["B-LC"]]
 * ```
 */
export function parseConllLines(
  text: string,
): { tokens: string[][]; gold: string[][]; pred: string[][] } {
  const res = { tokens: [] as string[][], gold: [] as string[][], pred: [] as string[][] };
  let t: string[] = [], g: string[] = [], p: string[] = [];
  const end = () => {
    if (t.length > 0) {
      res.tokens.push(t);
      res.gold.push(g);
      res.pred.push(p);
    }
    t = [];
    g = [];
    p = [];
  };
  for (const line of text.split(/\r?\n/)) {
    const f = line.trim().split(/\s+/);
    if (line.trim() === "" || f[0] === "-DOCSTART-") {
      end();
      continue;
    }
    if (f.length < 3) throw new SyntaxError(`Expected "token gold pred" in line "${line}"`);
    t.push(f[0]!);
    g.push(f[f.length - 2]!);
    p.push(f[f.length - 1]!);
  }
  end();
  return res;
}
