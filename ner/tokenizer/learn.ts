/**
 * Learning a WordPiece vocabulary from raw text.
 *
 * The procedure is the one Hugging Face's `WordPieceTrainer` runs (a BPE
 * trainer that writes continuation pieces with a `##` prefix):
 *
 * 1. normalise and pre-tokenise every text like BERT (see `_normalize.ts`:
 *    whitespace and punctuation split, CJK ideographs on their own, Hangul
 *    syllables kept whole; with `lowercase`, lowercasing and accent stripping)
 *    and count the words;
 * 2. start from every character seen, both as a word start `c` and as a
 *    continuation `##c`;
 * 3. repeatedly merge the most frequent adjacent pair of pieces (counted over
 *    the words, weighted by word frequency) into a new piece, until `merges`
 *    pieces were merged, or the vocabulary has `vocabSize` entries, or no pair
 *    occurs `minFrequency` times. Ties go to the pair whose merged piece sorts first (UTF-16 code
 *    unit order), so the result is deterministic.
 *
 * The vocabulary is `[PAD]`, `[UNK]`, `[CLS]`, `[SEP]`, `[MASK]` (ids 0 to 4;
 * pretrained BERT vocabularies put them elsewhere, e.g. `[UNK]` at 100), then
 * the characters sorted by code point, then their `##` forms sorted, then the
 * merged pieces in the order they were learned.
 *
 * @module
 */

import { type NormalizerConfig, scanWords } from "./_normalize.ts";
import { ownString } from "./encode.ts";
import { WordTable } from "./_words.ts";
import { SPECIAL_TOKENS } from "./files.ts";
import { maxPieceChars, wordPiece } from "./_wordpiece.ts";

/** Options of {@link learnWordPiece}: `merges`, `vocabSize` or both bound the vocabulary. */
export interface LearnOptions {
  /**
   * Most merged pieces to learn, on top of the alphabet (each character as `c` and `##c`, and
   * the special tokens), however large the alphabet is: a vocabulary sized by what the model
   * can use. A Korean corpus has well over a thousand distinct characters, so an alphabet
   * takes thousands of entries before any merge.
   */
  merges?: number;
  /**
   * Largest vocabulary, special tokens and alphabet included. When the training alphabet does
   * not fit in half of it, only its most frequent characters are kept.
   */
  vocabSize?: number;
  /** Lowercase and strip accents (as the tokenizer will). */
  lowercase: boolean;
  /** A pair must occur at least this often to be merged (default 2). */
  minFrequency?: number;
  /**
   * Character offsets, per text, where a word must be cut before pieces are counted: usually
   * the starts and ends of the training entities. A word is counted as its parts, the first as
   * a word start and the others as continuations (`서울에서` cut at 2 counts `서울` and
   * `##에서`), and no merge crosses a cut, so the vocabulary holds pieces that end where
   * entities end. Parallel to the texts; missing entries cut nothing.
   */
  cuts?: readonly (readonly number[] | undefined)[];
  /**
   * Add the 2,350 Hangul syllables of KS X 1001 (the common set, see {@link commonHangul}) to
   * the alphabet, after the training characters, in code point order and using at most half
   * of the room the training alphabet leaves in `vocabSize`. WordPiece
   * makes a whole word `[UNK]` when one of its characters is unknown, particle included; with
   * these, a name with a syllable never seen in training is still split into pieces.
   */
  hangul?: boolean;
}

/** The parts of a learned vocabulary (see {@link vocabularyParts}). */
export interface VocabularyParts {
  /** Special tokens. */
  special: number;
  /** Characters of the alphabet (each takes two entries, `c` and `##c`). */
  alphabet: number;
  /** Merged pieces. */
  merged: number;
}

/**
 * Counts the parts of a vocabulary learned by {@link learnWordPiece}: the special tokens, the
 * alphabet (single characters, each also present as `##c`) and the merged pieces.
 *
 * @param vocab The vocabulary.
 * @returns The counts.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { learnWordPiece, vocabularyParts } from "./learn.ts";
 * const vocab = learnWordPiece(["low lower lowest"], { merges: 3, lowercase: true });
 * assert.deepEqual(vocabularyParts(vocab), { special: 5, alphabet: 7, merged: 3 });
 * ```
 */
export function vocabularyParts(vocab: readonly string[]): VocabularyParts {
  const specials = new Set<string>(SPECIAL_TOKENS);
  let special = 0;
  let alphabet = 0;
  for (const t of vocab) {
    if (specials.has(t)) special++;
    else if (!t.startsWith("##") && [...t].length === 1) alphabet++;
  }
  return { special, alphabet, merged: vocab.length - special - 2 * alphabet };
}

let hangulCache: string[] | null = null;

/**
 * The 2,350 Hangul syllables of KS X 1001 (the precomposed syllables of EUC-KR, rows 0xB0 to
 * 0xC8), which cover nearly all modern Korean text; in code point order.
 *
 * @returns The syllables, one string each.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { commonHangul } from "./learn.ts";
 * assert.equal(commonHangul().length, 2350);
 * assert.ok(commonHangul().includes("서"));
 * ```
 */
export function commonHangul(): string[] {
  if (!hangulCache) {
    const decoder = new TextDecoder("euc-kr");
    const out: string[] = [];
    for (let lead = 0xb0; lead <= 0xc8; lead++) {
      for (let trail = 0xa1; trail <= 0xfe; trail++) {
        const c = decoder.decode(new Uint8Array([lead, trail]));
        if (/^[\uAC00-\uD7A3]$/.test(c)) out.push(c);
      }
    }
    hangulCache = out.sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!);
  }
  return [...hangulCache];
}

/** Separates the parts of a cut word in the word counts (never in normalised text). */
const PART = "\u0001";

/** The normalisation a learned vocabulary is meant for. */
export function learnedNormalizer(lowercase: boolean): NormalizerConfig {
  return {
    cleanText: true,
    handleChineseChars: true,
    lowercase,
    stripAccents: lowercase,
    nfc: lowercase,
  };
}

const MAX_WORD_CHARS = 100;
const KEY = 0x400000;

class PairHeap {
  counts: number[] = [];
  keys: number[] = [];
  names: string[] = [];

  get size(): number {
    return this.counts.length;
  }

  /** True when entry i should come before entry j. */
  private before(i: number, j: number): boolean {
    const ci = this.counts[i]!, cj = this.counts[j]!;
    if (ci !== cj) return ci > cj;
    const ni = this.names[i]!, nj = this.names[j]!;
    if (ni !== nj) return ni < nj;
    return this.keys[i]! < this.keys[j]!;
  }

  private swap(i: number, j: number): void {
    const c = this.counts[i]!, k = this.keys[i]!, n = this.names[i]!;
    this.counts[i] = this.counts[j]!;
    this.keys[i] = this.keys[j]!;
    this.names[i] = this.names[j]!;
    this.counts[j] = c;
    this.keys[j] = k;
    this.names[j] = n;
  }

  push(count: number, key: number, name: string): void {
    this.counts.push(count);
    this.keys.push(key);
    this.names.push(name);
    let i = this.counts.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }

  pop(): [number, number] {
    const top: [number, number] = [this.counts[0]!, this.keys[0]!];
    const last = this.counts.length - 1;
    this.swap(0, last);
    this.counts.pop();
    this.keys.pop();
    this.names.pop();
    let i = 0;
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < last && this.before(l, m)) m = l;
      if (r < last && this.before(r, m)) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
    return top;
  }
}

/** The word as its parts joined by {@link PART}, cut before each character that starts at a cut. */
function cutWord(text: string, starts: readonly number[], at: ReadonlySet<number>): string {
  let out = "";
  let k = 0;
  for (const c of text) {
    if (k > 0 && at.has(starts[k]!) && starts[k] !== starts[k - 1]) out += PART;
    out += c;
    k++;
  }
  return out;
}

/** {@link cutWord} of a word that is `text.slice(a, b)`, character k from index a + k. */
function cutRange(text: string, a: number, b: number, at: ReadonlySet<number>): string {
  let out = "";
  let from = a;
  for (let k = a + 1; k < b; k++) {
    if (at.has(k)) {
      out += text.slice(from, k) + PART;
      from = k;
    }
  }
  return from === a ? text.slice(a, b) : out + text.slice(from, b);
}

/**
 * Learn a WordPiece vocabulary (deterministic for the same texts and options).
 *
 * @param texts The training texts.
 * @param opts Merges and vocabulary size (at least one), lowercasing, minimum pair frequency,
 *   cuts (entity boundaries).
 * @returns Tokens by id, at most `vocabSize` of them.
 * @throws {RangeError} When neither `merges` nor `vocabSize` is given, `vocabSize` is smaller
 *   than the 5 special tokens, or `merges` is negative.
 * @example
 * ```ts
 * import { learnWordPiece } from "./learn.ts";
 * const vocab = learnWordPiece(["low lower lowest", "new newer"], { vocabSize: 40, lowercase: true });
 * vocab.slice(0, 5); // ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
 * ```
 */
export function learnWordPiece(texts: readonly string[], opts: LearnOptions): string[] {
  checkSize(opts);
  const counts = new WordCounts(opts.lowercase);
  texts.forEach((text, t) => counts.add(text, opts.cuts?.[t]));
  return learnFromCounts(counts, { ...opts, cut: opts.cuts !== undefined });
}

function checkSize(opts: Pick<LearnOptions, "merges" | "vocabSize">): void {
  const { vocabSize, merges } = opts;
  if (vocabSize === undefined && merges === undefined) {
    throw new RangeError("Give merges or vocabSize: the vocabulary needs a bound");
  }
  if (
    vocabSize !== undefined && (!Number.isInteger(vocabSize) || vocabSize < SPECIAL_TOKENS.length)
  ) {
    throw new RangeError(
      `Invalid vocabSize ${vocabSize}: it must be an integer of at least ${SPECIAL_TOKENS.length}`,
    );
  }
  if (merges !== undefined && (!Number.isInteger(merges) || merges < 0)) {
    throw new RangeError(`Invalid merges ${merges}: it must be an integer of at least 0`);
  }
}

/**
 * The word counts {@link learnWordPiece} learns from, gathered a text at a time (so that a
 * caller need not hold every text) and mergeable with counts gathered elsewhere (another
 * worker's share of the texts): the words keep the order in which they were first seen, which
 * the learned vocabulary depends on.
 */
export class WordCounts {
  #table = new WordTable<number>();
  #cfg: NormalizerConfig;
  /**
   * Creates empty counts.
   *
   * @param lowercase Lowercase and strip accents (as the tokenizer will).
   */
  constructor(lowercase: boolean) {
    this.#cfg = learnedNormalizer(lowercase);
  }

  /** The distinct words (cut words as their parts joined by U+0001), first seen first. */
  get words(): readonly string[] {
    return this.#table.words;
  }

  /** The count of each word. */
  get counts(): readonly number[] {
    return this.#table.values;
  }

  /**
   * The distinct characters of the counted words that a vocabulary learned from them starts
   * from (words longer than the learner takes are left out, as it leaves them out).
   */
  get characters(): number {
    const seen = new Set<string>();
    for (const w of this.#table.words) {
      const chars = [...w.replaceAll(PART, "")];
      if (chars.length > MAX_WORD_CHARS) continue;
      for (const c of chars) seen.add(c);
    }
    return seen.size;
  }

  /**
   * Counts the words of one text.
   *
   * @param text The text.
   * @param cuts Offsets where a word must be cut (see {@link LearnOptions.cuts}).
   */
  add(text: string, cuts?: readonly number[]): void {
    const table = this.#table;
    const counts = table.values;
    const count = (key: string) => {
      const e = table.find(key, 0, key.length);
      if (e >= 0) counts[e]!++;
      else table.add(key, 1);
    };
    const at = cuts && cuts.length > 0 ? new Set(cuts) : null;
    scanWords(text, this.#cfg, {
      range(a, b) {
        if (at) return count(cutRange(text, a, b, at));
        const e = table.find(text, a, b);
        if (e >= 0) counts[e]!++;
        else table.add(ownString(text.slice(a, b)), 1);
      },
      word(w) {
        count(at ? cutWord(w.text, w.starts, at) : w.text);
      },
    });
  }

  /**
   * Adds counts gathered from the texts that follow the ones counted here.
   *
   * @param words Their words, first seen first.
   * @param counts The count of each.
   */
  merge(words: readonly string[], counts: readonly number[]): void {
    const table = this.#table;
    words.forEach((w, k) => {
      const e = table.find(w, 0, w.length);
      if (e >= 0) table.values[e]! += counts[k]!;
      else table.add(w, counts[k]!);
    });
  }
}

/**
 * Learn a WordPiece vocabulary from word counts (see {@link learnWordPiece}, which counts the
 * words of a list of texts and calls this).
 *
 * @param wordCounts The counts.
 * @param opts As {@link learnWordPiece}'s; `cut`: the words were counted with cuts.
 * @returns Tokens by id, at most `vocabSize` of them.
 * @throws {RangeError} As {@link learnWordPiece}.
 */
export function learnFromCounts(
  wordCounts: WordCounts,
  opts: Omit<LearnOptions, "cuts"> & { cut?: boolean },
): string[] {
  checkSize(opts);
  const vocabSize = opts.vocabSize ?? Infinity;
  const merges = opts.merges ?? Infinity;
  const minFrequency = Math.max(1, opts.minFrequency ?? 2);
  const table = { words: wordCounts.words, size: wordCounts.words.length };
  const counts = wordCounts.counts;
  // Alphabet, by frequency when it does not fit.
  const charFreq = new Map<string, number>();
  /** Each counted word as its parts (one part unless cut), each part as its characters. */
  const words: string[][][] = [];
  const freqs: number[] = [];
  for (let e = 0; e < table.size; e++) {
    const w = table.words[e]!, n = counts[e]!;
    const parts = w.split(PART).map((p) => [...p]);
    if (parts.reduce((len, p) => len + p.length, 0) > MAX_WORD_CHARS) continue;
    for (const p of parts) for (const c of p) charFreq.set(c, (charFreq.get(c) ?? 0) + n);
    words.push(parts);
    freqs.push(n);
  }
  const byCodePoint = (a: string, b: string) => a.codePointAt(0)! - b.codePointAt(0)!;
  let alphabet = [...charFreq.keys()].sort(byCodePoint);
  const room = Math.floor((vocabSize - SPECIAL_TOKENS.length) / 2);
  if (alphabet.length > room) {
    alphabet = alphabet
      .sort((a, b) => (charFreq.get(b)! - charFreq.get(a)!) || byCodePoint(a, b))
      .slice(0, room)
      .sort(byCodePoint);
  }
  if (opts.hangul) {
    // The added syllables take at most half of what the training alphabet leaves of
    // `vocabSize`, so that merged pieces keep room (all of them without `vocabSize`: merges
    // are then counted apart).
    const seen = new Set(alphabet);
    const left = Math.floor((vocabSize - SPECIAL_TOKENS.length) / 2) - alphabet.length;
    const extra = commonHangul().filter((c) => !seen.has(c)).slice(
      0,
      Math.max(0, Math.floor(left / 2)),
    );
    alphabet = [...alphabet, ...extra].sort(byCodePoint);
  }
  const vocab: string[] = [...SPECIAL_TOKENS, ...alphabet, ...alphabet.map((c) => "##" + c)];
  const mergesEnd = vocab.length + merges;
  const inVocab = new Set(vocab);
  // Symbols: pieces with ids for pair keys.
  const sym: string[] = [];
  const symId = new Map<string, number>();
  const idOf = (s: string): number => {
    let id = symId.get(s);
    if (id === undefined) {
      id = sym.length;
      sym.push(s);
      symId.set(s, id);
    }
    return id;
  };
  const allowed = new Set(alphabet);
  const seqs: number[][] = [];
  const seqFreq: number[] = [];
  words.forEach((parts, i) => {
    if (!parts.every((p) => p.every((c) => allowed.has(c)))) return;
    // A part after a cut continues the word: it starts with a `##` piece.
    parts.forEach((chars, j) => {
      if (chars.length < 2) return;
      seqs.push(chars.map((c, k) => idOf(k === 0 && j === 0 ? c : "##" + c)));
      seqFreq.push(freqs[i]!);
    });
  });
  const merged = (a: number, b: number) => sym[a]! + sym[b]!.slice(2);
  const pairCount = new Map<number, number>();
  const where = new Map<number, Set<number>>();
  seqs.forEach((s, w) => {
    const n = seqFreq[w]!;
    for (let k = 0; k + 1 < s.length; k++) {
      const key = s[k]! * KEY + s[k + 1]!;
      pairCount.set(key, (pairCount.get(key) ?? 0) + n);
      let set = where.get(key);
      if (set === undefined) where.set(key, set = new Set());
      set.add(w);
    }
  });
  const heap = new PairHeap();
  for (const [key, n] of pairCount) {
    heap.push(n, key, merged(Math.floor(key / KEY), key % KEY));
  }
  while (vocab.length < vocabSize && vocab.length < mergesEnd && heap.size > 0) {
    const [count, key] = heap.pop();
    if (pairCount.get(key) !== count) continue; // stale entry
    if (count < minFrequency) break;
    const a = Math.floor(key / KEY), b = key % KEY;
    const token = merged(a, b);
    const c = idOf(token);
    if (!inVocab.has(token)) {
      inVocab.add(token);
      vocab.push(token);
    }
    const changed = new Set<number>();
    for (const w of where.get(key)!) {
      const s = seqs[w]!;
      const n = seqFreq[w]!;
      let found = false;
      for (let k = 0; k + 1 < s.length; k++) {
        if (s[k] === a && s[k + 1] === b) found = true;
      }
      if (!found) continue;
      for (let k = 0; k + 1 < s.length; k++) {
        const p = s[k]! * KEY + s[k + 1]!;
        pairCount.set(p, pairCount.get(p)! - n);
        changed.add(p);
      }
      const t: number[] = [];
      for (let k = 0; k < s.length; k++) {
        if (k + 1 < s.length && s[k] === a && s[k + 1] === b) {
          t.push(c);
          k++;
        } else {
          t.push(s[k]!);
        }
      }
      seqs[w] = t;
      for (let k = 0; k + 1 < t.length; k++) {
        const p = t[k]! * KEY + t[k + 1]!;
        pairCount.set(p, (pairCount.get(p) ?? 0) + n);
        changed.add(p);
        let set = where.get(p);
        if (set === undefined) where.set(p, set = new Set());
        set.add(w);
      }
    }
    for (const p of changed) {
      const n = pairCount.get(p)!;
      if (n <= 0) {
        pairCount.delete(p);
        where.delete(p);
      } else {
        heap.push(n, p, merged(Math.floor(p / KEY), p % KEY));
      }
    }
  }
  return opts.cut ? pruneCrossing(vocab, words.filter((parts) => parts.length > 1)) : vocab;
}

/**
 * Removes the pieces that WordPiece's greedy longest match would put across a cut in a cut
 * training word (a `##명을` learned from `운명을` takes the `을` of `<194명:QT>을`), until no
 * cut word is tokenized across a cut. Single characters stay: every word must stay
 * tokenizable. At most a few rounds: a removal can expose another crossing piece.
 */
function pruneCrossing(vocab: string[], cutWords: readonly (readonly string[][])[]): string[] {
  let current = vocab;
  for (let round = 0; round < 8; round++) {
    const tokenToId = new Map(current.map((t, i) => [t, i]));
    const model = {
      tokenToId,
      prefix: "##",
      maxInputCharsPerWord: MAX_WORD_CHARS,
      maxPieceChars: maxPieceChars(current, "##"),
    };
    const bad = new Set<string>();
    for (const parts of cutWords) {
      const cuts = new Set<number>();
      let at = 0;
      for (const p of parts.slice(0, -1)) cuts.add(at += p.length);
      const pieces = wordPiece(parts.map((p) => p.join("")).join(""), model);
      if (!pieces) continue;
      pieces.from.forEach((from, k) => {
        const to = pieces.to[k]!;
        if (to - from < 2) return;
        for (let c = from + 1; c < to; c++) {
          if (cuts.has(c)) {
            bad.add(current[pieces.ids[k]!]!);
            return;
          }
        }
      });
    }
    if (bad.size === 0) break;
    current = current.filter((t) => !bad.has(t));
  }
  return current;
}
