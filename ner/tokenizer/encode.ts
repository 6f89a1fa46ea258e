/**
 * Word-piece encoding with character offsets into the original text.
 *
 * transformers.js returns ids but no offsets, so the encoder re-implements the
 * BERT normaliser, pre-tokeniser and WordPiece model (see `_normalize.ts`)
 * while keeping, for every normalised character, the original characters it
 * came from. Tests check that the ids equal those of transformers.js.
 *
 * @module
 */

import type { EncodedDocument } from "../types.ts";
import { type NormalizerConfig, scanWords } from "./_normalize.ts";
import { WordTable } from "./_words.ts";
import { wordPiece, type WordPieceModel, type WordPieces } from "./_wordpiece.ts";

export type { NormalizerConfig } from "./_normalize.ts";

/** A loaded BERT WordPiece tokenizer (see `loadTokenizer`). */
export interface NerTokenizer {
  /** Token of each id. */
  readonly vocab: string[];
  /** Id of each token, the inverse of `vocab`. */
  readonly tokenToId: ReadonlyMap<string, number>;
  /** Whether text is lowercased (and accents stripped) before WordPiece. */
  readonly lowercase: boolean;
  /** The normalisation steps, read from `tokenizer.json`. */
  readonly normalizer: NormalizerConfig;
  /** Prefix of word-continuation pieces, `##`. */
  readonly continuingSubwordPrefix: string;
  /** Words longer than this (in code points) become `[UNK]`. */
  readonly maxInputCharsPerWord: number;
  /** Length in code points of the longest vocabulary entry without prefix. */
  readonly maxPieceChars: number;
  /** Added tokens matched verbatim in the raw text before normalisation. */
  readonly specialTokens: readonly string[];
  readonly clsId: number;
  readonly sepId: number;
  readonly padId: number;
  readonly unkId: number;
  /** Id of `[MASK]`, or null when the vocabulary has none. */
  readonly maskId: number | null;
  /** `model_max_length` of `tokenizer_config.json` (Infinity when absent). */
  readonly modelMaxLength: number;
  /**
   * Ids from transformers.js, with [CLS] and [SEP], for cross-checks.
   * @throws {Error} When the tokenizer was loaded with `transformers: false`.
   */
  encodeIds(text: string): number[];
}

/** How to handle documents longer than `maxLength` pieces. */
export type OverflowMode = "window" | "truncate";

/** Options of {@link encodeDocument}. */
export interface EncodeOptions {
  /** Maximum sequence length, [CLS] and [SEP] included (at least 3). */
  maxLength: number;
  /**
   * `window` (default): split into consecutive, non-overlapping windows of at
   * most `maxLength - 2` pieces, never splitting a word unless it alone is
   * longer than a window. `truncate`: keep the first window only.
   */
  stride?: OverflowMode;
  /**
   * Fill each window's `tokens` (default true); false leaves them empty, for callers that
   * need the ids only.
   */
  tokens?: boolean;
}

/** Result of {@link encodeDocument}. */
export interface EncodeResult {
  windows: Omit<EncodedDocument, "doc">[];
  /** True when the document did not fit in one window of `maxLength`. */
  truncated: boolean;
}

/** The word pieces of a text, without special tokens and windows. */
export interface Pieces {
  ids: number[];
  offsets: [number, number][];
  wordStart: boolean[];
  /** Index of the word (pre-token) each piece belongs to. */
  word: number[];
}

interface State {
  model: WordPieceModel;
  /** Pieces of the words seen (null: the word is `[UNK]`). */
  words: WordTable<WordPieces | null>;
}
const states = new WeakMap<NerTokenizer, State>();
const CACHE_LIMIT = 200_000;

/**
 * A copy of a string that does not hold on to the string it was sliced from (V8 keeps a slice
 * of 13 or more characters as a view of its parent: a cached word would keep its document).
 */
export function ownString(s: string): string {
  return s.length < 13 ? s : JSON.parse(JSON.stringify(s));
}

function splitSpecials(text: string, specials: readonly string[]): [number, number, boolean][] {
  const parts: [number, number, boolean][] = [];
  if (specials.length === 0) return [[0, text.length, false]];
  let start = 0;
  let i = 0;
  while (i < text.length) {
    let match = 0;
    for (const s of specials) {
      if (s.length > match && text.startsWith(s, i)) match = s.length;
    }
    if (match > 0) {
      if (i > start) parts.push([start, i, false]);
      parts.push([i, i + match, true]);
      i += match;
      start = i;
    } else {
      i++;
    }
  }
  if (start < text.length) parts.push([start, text.length, false]);
  return parts;
}

/**
 * Split a text into word pieces with their character spans in `text`.
 *
 * @param tok The tokenizer.
 * @param text The original text.
 * @returns Ids, offsets, word-start flags and word index of each piece.
 * @example
 * ```ts ignore
 * const p = tokenizePieces(tok, "Émile Zola");
 * p.offsets; // [[0, 5], [6, 10]] with a vocabulary holding "emile" and "zola"
 * ```
 */
export function tokenizePieces(tok: NerTokenizer, text: string): Pieces {
  let state = states.get(tok);
  if (state === undefined) {
    state = {
      model: {
        tokenToId: tok.tokenToId,
        prefix: tok.continuingSubwordPrefix,
        maxInputCharsPerWord: tok.maxInputCharsPerWord,
        maxPieceChars: tok.maxPieceChars,
      },
      words: new WordTable(),
    };
    states.set(tok, state);
  }
  const cache = state.words;
  const model = state.model;
  const unkId = tok.unkId;
  /** The pieces of `src[a, b)`, from the word cache or WordPiece (then cached). */
  const lookup = (src: string, a: number, b: number, slice: boolean): WordPieces | null => {
    const e = cache.find(src, a, b);
    if (e >= 0) return cache.values[e]!;
    // A slice of a document is copied: a cached word must not keep its document alive.
    const key = slice ? ownString(src.slice(a, b)) : src;
    const wp = wordPiece(key, model);
    if (cache.size >= CACHE_LIMIT) {
      cache.clear();
      cache.find(key, 0, key.length);
    }
    cache.add(key, wp);
    return wp;
  };
  const out: Pieces = { ids: [], offsets: [], wordStart: [], word: [] };
  let specials: readonly string[] = tok.specialTokens;
  if (specials.length > 0 && !specials.some((s) => text.includes(s))) specials = [];
  let w = 0;
  for (const [from, to, special] of splitSpecials(text, specials)) {
    if (special) {
      out.ids.push(tok.tokenToId.get(text.slice(from, to)) ?? tok.unkId);
      out.offsets.push([from, to]);
      out.wordStart.push(true);
      out.word.push(w++);
      continue;
    }
    scanWords(
      text,
      tok.normalizer,
      {
        range(a, b) {
          const wp = lookup(text, a, b, true);
          if (wp === null) {
            out.ids.push(unkId);
            out.offsets.push([a, b]);
            out.wordStart.push(true);
            out.word.push(w);
          } else {
            const { ids, from: f, to: t } = wp;
            for (let k = 0; k < ids.length; k++) {
              out.ids.push(ids[k]!);
              out.offsets.push([a + f[k]!, a + t[k]!]);
              out.wordStart.push(k === 0);
              out.word.push(w);
            }
          }
          w++;
        },
        word(word) {
          const wp = lookup(word.text, 0, word.text.length, false);
          if (wp === null) {
            out.ids.push(unkId);
            out.offsets.push([word.starts[0]!, word.ends[word.ends.length - 1]!]);
            out.wordStart.push(true);
            out.word.push(w);
          } else {
            for (let k = 0; k < wp.ids.length; k++) {
              out.ids.push(wp.ids[k]!);
              out.offsets.push([word.starts[wp.from[k]!]!, word.ends[wp.to[k]! - 1]!]);
              out.wordStart.push(k === 0);
              out.word.push(w);
            }
          }
          w++;
        },
      },
      from,
      to,
    );
  }
  return out;
}

/**
 * Encode a document into one or more windows `[CLS] pieces [SEP]` whose
 * offsets point into the original text.
 *
 * @param tok The tokenizer.
 * @param text The document's original text.
 * @param opts `maxLength` and the overflow mode (`stride`).
 * @returns The windows and whether the document overflowed `maxLength`.
 * @throws {RangeError} When `maxLength` is below 3.
 * @example
 * ```ts ignore
 * const { windows, truncated } = encodeDocument(tok, "한석규가 서울에 갔다", { maxLength: 128 });
 * ```
 */
export function encodeDocument(
  tok: NerTokenizer,
  text: string,
  opts: EncodeOptions,
): EncodeResult {
  const { maxLength } = opts;
  if (!Number.isInteger(maxLength) || maxLength < 3) {
    throw new RangeError(`Invalid maxLength ${maxLength}: it must be an integer of at least 3`);
  }
  const mode = opts.stride ?? "window";
  const cap = maxLength - 2;
  const p = tokenizePieces(tok, text);
  const n = p.ids.length;
  // Window boundaries as piece indices.
  const cuts: [number, number][] = [];
  let start = 0;
  while (start < n || cuts.length === 0) {
    let end = Math.min(n, start + cap);
    if (end < n && !p.wordStart[end]) {
      // Move the cut back to the start of the word it would split.
      let k = end;
      while (k > start && !p.wordStart[k]) k--;
      if (k > start) end = k;
    }
    cuts.push([start, end]);
    start = end;
    if (mode === "truncate") break;
  }
  const withTokens = opts.tokens ?? true;
  const windows = cuts.map(([a, b], window) => {
    const ids = [tok.clsId];
    const offsets: ([number, number] | null)[] = [null];
    const wordStart = [false];
    for (let k = a; k < b; k++) {
      ids.push(p.ids[k]!);
      offsets.push(p.offsets[k]!);
      wordStart.push(p.wordStart[k]!);
    }
    ids.push(tok.sepId);
    offsets.push(null);
    wordStart.push(false);
    return {
      window,
      ids,
      tokens: withTokens ? ids.map((id) => tok.vocab[id] ?? "[UNK]") : [],
      offsets,
      wordStart,
    };
  });
  return { windows, truncated: n > cap };
}
