/**
 * BERT-style normalisation and pre-tokenisation that remembers, for every
 * normalised character, which characters of the original text it came from.
 *
 * It mirrors the `BertNormalizer` + `BertPreTokenizer` pair of Hugging Face
 * tokenizers (as implemented by `@huggingface/tokenizers`, the library behind
 * transformers.js), optionally followed by an `NFC` normaliser:
 *
 * 1. clean text: drop U+0000, U+FFFD and control characters (categories Cc, Cf,
 *    Co, Cs except tab, newline, carriage return); whitespace becomes a space;
 * 2. CJK ideographs become words of their own;
 * 3. lowercase, one code point at a time (as the Rust implementation does);
 * 4. strip accents: NFD, then drop non-spacing marks (category Mn);
 * 5. NFC (only when configured) recomposes what NFD split but did not strip,
 *    such as Hangul syllables;
 * 6. split on whitespace and isolate punctuation (Unicode P* and ASCII
 *    punctuation/symbols).
 *
 * @module
 */

/** Which steps of BERT normalisation a tokenizer applies. */
export interface NormalizerConfig {
  cleanText: boolean;
  handleChineseChars: boolean;
  lowercase: boolean;
  stripAccents: boolean;
  /** Apply NFC after the BERT normaliser (keeps Hangul syllables whole). */
  nfc: boolean;
}

/** A pre-token: normalised text and the original span of each of its code points. */
export interface NormWord {
  /** Normalised text of the word. */
  text: string;
  /** Original start index (UTF-16) of each code point of `text`. */
  starts: number[];
  /** Original end index (exclusive) of each code point of `text`. */
  ends: number[];
}

const WHITESPACE = 1;
const PUNCT = 2;
const CONTROL = 4;
const CJK = 8;
const MN = 16;
const UNKNOWN = 255;

const classes = new Uint8Array(0x110000).fill(UNKNOWN);
const reWhitespace = /^\s$/u;
const rePunct = /^[\p{P}\u0021-\u002F\u003A-\u0040\u005B-\u0060\u007B-\u007E]$/u;
const reControl = /^[\p{Cc}\p{Cf}\p{Co}\p{Cs}]$/u;
const reMn = /^\p{Mn}$/u;

function isChinese(cp: number): boolean {
  return (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) || (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) || (cp >= 0x2b820 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0x2f800 && cp <= 0x2fa1f);
}

/** Bit set of the classes of a code point, cached. */
export function charClass(cp: number): number {
  let c = classes[cp]!;
  if (c !== UNKNOWN) return c;
  const ch = String.fromCodePoint(cp);
  c = 0;
  if (reWhitespace.test(ch)) c |= WHITESPACE;
  if (rePunct.test(ch)) c |= PUNCT;
  if (cp !== 9 && cp !== 10 && cp !== 13 && reControl.test(ch)) c |= CONTROL;
  if (isChinese(cp)) c |= CJK;
  if (reMn.test(ch)) c |= MN;
  classes[cp] = c;
  return c;
}

/** Code points a single original code point turns into (lowercase, strip accents). */
function transformCache(cfg: NormalizerConfig): Map<number, number[]> {
  const key = (cfg.lowercase ? 1 : 0) | (cfg.stripAccents ? 2 : 0);
  let m = transformCaches[key];
  if (m === undefined) {
    m = new Map();
    transformCaches[key] = m;
  }
  return m;
}
const transformCaches: (Map<number, number[]> | undefined)[] = [];

function transform(cp: number, cfg: NormalizerConfig, cache: Map<number, number[]>): number[] {
  let out = cache.get(cp);
  if (out !== undefined) return out;
  let s = String.fromCodePoint(cp);
  if (cfg.lowercase) s = s.toLowerCase();
  if (cfg.stripAccents) s = s.normalize("NFD");
  out = [];
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (cfg.stripAccents && (charClass(c) & MN) !== 0) continue;
    out.push(c);
  }
  cache.set(cp, out);
  return out;
}

/**
 * Normalise `text` (the part `[from, to)` of it) and split it into BERT words,
 * keeping original offsets. Offsets are relative to the whole `text`.
 */
export function preTokenize(
  text: string,
  cfg: NormalizerConfig,
  from = 0,
  to = text.length,
): NormWord[] {
  const words: NormWord[] = [];
  const cache = transformCache(cfg);
  let cur = "";
  let starts: number[] = [];
  let ends: number[] = [];
  const flush = () => {
    if (cur.length > 0) {
      words.push(cfg.nfc ? composeWord(cur, starts, ends) : { text: cur, starts, ends });
      cur = "";
      starts = [];
      ends = [];
    }
  };
  let i = from;
  while (i < to) {
    const cp = text.codePointAt(i)!;
    const len = cp > 0xffff ? 2 : 1;
    const end = i + len;
    // Fast path for ASCII letters and digits.
    if ((cp >= 97 && cp <= 122) || (cp >= 48 && cp <= 57)) {
      cur += text[i];
      starts.push(i);
      ends.push(end);
      i = end;
      continue;
    }
    if (cp >= 65 && cp <= 90) {
      cur += cfg.lowercase ? String.fromCharCode(cp + 32) : text[i];
      starts.push(i);
      ends.push(end);
      i = end;
      continue;
    }
    const cls = charClass(cp);
    if (cfg.cleanText && (cp === 0 || cp === 0xfffd || (cls & CONTROL) !== 0)) {
      i = end;
      continue;
    }
    if ((cls & WHITESPACE) !== 0) {
      flush();
      i = end;
      continue;
    }
    const isCjk = cfg.handleChineseChars && (cls & CJK) !== 0;
    if (isCjk) flush();
    const out = cp < 0xc0 && !cfg.lowercase ? [cp] : transform(cp, cfg, cache);
    for (const c of out) {
      const k = charClass(c);
      if ((k & WHITESPACE) !== 0) {
        flush();
      } else if ((k & PUNCT) !== 0) {
        flush();
        words.push({ text: String.fromCodePoint(c), starts: [i], ends: [end] });
      } else {
        cur += String.fromCodePoint(c);
        starts.push(i);
        ends.push(end);
      }
    }
    if (isCjk) flush();
    i = end;
  }
  flush();
  return words;
}

/**
 * NFC-compose a word, merging the original spans of code points that combine.
 */
function composeWord(text: string, starts: number[], ends: number[]): NormWord {
  const target = text.normalize("NFC");
  if (target === text) return { text, starts, ends };
  const src = [...text];
  const outStarts: number[] = [];
  const outEnds: number[] = [];
  let j = 0;
  const tcps = [...target];
  for (let t = 0; t < tcps.length; t++) {
    const want = tcps[t]!;
    let k = -1;
    let acc = "";
    for (let m = j; m < src.length && m < j + 16; m++) {
      acc += src[m];
      if (acc.normalize("NFC") === want) {
        k = m + 1;
        break;
      }
    }
    if (k === -1) {
      // Cannot align (reordering across marks): give the rest one span.
      const s = starts[Math.min(j, starts.length - 1)]!;
      const e = ends[ends.length - 1]!;
      for (; t < tcps.length; t++) {
        outStarts.push(s);
        outEnds.push(e);
      }
      break;
    }
    let s = starts[j]!;
    let e = ends[j]!;
    for (let m = j + 1; m < k; m++) {
      s = Math.min(s, starts[m]!);
      e = Math.max(e, ends[m]!);
    }
    outStarts.push(s);
    outEnds.push(e);
    j = k;
  }
  return { text: target, starts: outStarts, ends: outEnds };
}

/**
 * Receives the words of {@link scanWords}: a word that is a plain slice of the text (each of its
 * characters, all in the BMP, its own normalised character) as its range, any other word as a
 * {@link NormWord}.
 */
export interface WordSink {
  /** The word is `text.slice(from, to)`, character `k` from original index `from + k`. */
  range(from: number, to: number): void;
  /** A word whose normalised text or offsets differ from a slice of the text. */
  word(word: NormWord): void;
}

/** Per normaliser variant: 1 when a BMP code unit is kept as it is inside a word, 2 when not. */
const simpleTables: (Uint8Array | undefined)[] = [];

function simpleTable(cfg: NormalizerConfig): Uint8Array {
  const key = (cfg.cleanText ? 1 : 0) | (cfg.handleChineseChars ? 2 : 0) |
    (cfg.lowercase ? 4 : 0) | (cfg.stripAccents ? 8 : 0);
  let t = simpleTables[key];
  if (t === undefined) simpleTables[key] = t = new Uint8Array(0x10000);
  return t;
}

/** Whether preTokenize appends code unit `u` to the current word unchanged (1) or not (2). */
function simpleClass(u: number, cfg: NormalizerConfig): number {
  if (u >= 0xd800 && u <= 0xdfff) return 2;
  if ((u >= 97 && u <= 122) || (u >= 48 && u <= 57)) return 1;
  if (u >= 65 && u <= 90) return cfg.lowercase ? 2 : 1;
  const cls = charClass(u);
  if (cfg.cleanText && (u === 0 || u === 0xfffd || (cls & CONTROL) !== 0)) return 2;
  if ((cls & WHITESPACE) !== 0) return 2;
  if (cfg.handleChineseChars && (cls & CJK) !== 0) return 2;
  const out = u < 0xc0 && !cfg.lowercase ? [u] : transform(u, cfg, transformCache(cfg));
  if (out.length !== 1 || out[0] !== u) return 2;
  return (cls & (WHITESPACE | PUNCT)) !== 0 ? 2 : 1;
}

/**
 * The words of {@link preTokenize}, the same words in the same order, given to `sink` without
 * building a {@link NormWord} for the words that are plain slices of the text (most of them):
 * the tokenizer and the learner look those up by their slice.
 *
 * @param text The original text.
 * @param cfg The normaliser.
 * @param sink Receives each word.
 * @param from Start of the part of `text` to scan.
 * @param to Its end (exclusive).
 */
export function scanWords(
  text: string,
  cfg: NormalizerConfig,
  sink: WordSink,
  from = 0,
  to = text.length,
): void {
  const table = simpleTable(cfg);
  const cache = transformCache(cfg);
  /** Start of the current word while it is a plain slice, else -1. */
  let wa = -1;
  /** The current word once it is not a plain slice. */
  let cur = "";
  let starts: number[] = [];
  let ends: number[] = [];
  const emit = (w: NormWord) => sink.word(cfg.nfc ? composeWord(w.text, w.starts, w.ends) : w);
  const flush = (i: number) => {
    if (wa >= 0) {
      if (cfg.nfc) {
        const s = text.slice(wa, i);
        if (s.normalize("NFC") !== s) {
          const st: number[] = [];
          const en: number[] = [];
          for (let k = wa; k < i; k++) st.push(k), en.push(k + 1);
          sink.word(composeWord(s, st, en));
          wa = -1;
          return;
        }
      }
      sink.range(wa, i);
      wa = -1;
    } else if (cur.length > 0) {
      emit({ text: cur, starts, ends });
      cur = "";
      starts = [];
      ends = [];
    }
  };
  /** Appends a normalised character from original [i, end) to the current word. */
  /** Turns the current plain-slice word (up to `i`) into a built one. */
  const build = (i: number) => {
    if (wa >= 0) {
      cur = text.slice(wa, i);
      for (let k = wa; k < i; k++) starts.push(k), ends.push(k + 1);
      wa = -1;
    }
  };
  const append = (c: string, i: number, end: number) => {
    build(i);
    cur += c;
    starts.push(i);
    ends.push(end);
  };
  let i = from;
  while (i < to) {
    const u = text.charCodeAt(i);
    let s = table[u]!;
    if (s === 0) table[u] = s = simpleClass(u, cfg);
    if (s === 1) {
      if (cur.length > 0) {
        cur += text[i];
        starts.push(i);
        ends.push(i + 1);
      } else if (wa < 0) wa = i;
      i++;
      continue;
    }
    // What preTokenize does with any other code point.
    const cp = text.codePointAt(i)!;
    const end = i + (cp > 0xffff ? 2 : 1);
    if (cp >= 65 && cp <= 90) {
      append(cfg.lowercase ? String.fromCharCode(cp + 32) : text[i]!, i, end);
      i = end;
      continue;
    }
    const cls = charClass(cp);
    if (cfg.cleanText && (cp === 0 || cp === 0xfffd || (cls & CONTROL) !== 0)) {
      // Dropped: the word goes on, no longer a slice.
      build(i);
      i = end;
      continue;
    }
    if ((cls & WHITESPACE) !== 0) {
      flush(i);
      i = end;
      continue;
    }
    const isCjk = cfg.handleChineseChars && (cls & CJK) !== 0;
    if (isCjk) flush(i);
    const out = cp < 0xc0 && !cfg.lowercase ? [cp] : transform(cp, cfg, cache);
    if (out.length === 0) build(i); // stripped: the word goes on, no longer a slice
    for (const c of out) {
      const k = charClass(c);
      if ((k & WHITESPACE) !== 0) {
        flush(i);
      } else if ((k & PUNCT) !== 0) {
        flush(i);
        sink.word({ text: String.fromCodePoint(c), starts: [i], ends: [end] });
      } else {
        append(String.fromCodePoint(c), i, end);
      }
    }
    if (isCjk) flush(i);
    i = end;
  }
  flush(i);
}
