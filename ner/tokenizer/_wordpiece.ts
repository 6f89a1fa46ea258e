/**
 * Greedy longest-match-first WordPiece over one pre-token, as BERT and
 * Hugging Face tokenizers do it.
 *
 * @module
 */

/** The pieces of one word: ids and code-point ranges into the word. */
export interface WordPieces {
  ids: number[];
  /** Code-point index of each piece's first character in the word. */
  from: number[];
  /** Code-point index one past each piece's last character. */
  to: number[];
}

/** What the WordPiece model needs. */
export interface WordPieceModel {
  tokenToId: ReadonlyMap<string, number>;
  prefix: string;
  maxInputCharsPerWord: number;
  /** Length in code points of the longest vocabulary entry (without prefix). */
  maxPieceChars: number;
}

/**
 * Split a word into pieces; returns null when it cannot be split (then the
 * whole word is the unknown token).
 */
export function wordPiece(word: string, model: WordPieceModel): WordPieces | null {
  // Code-unit offset of each code point boundary.
  const bounds: number[] = [0];
  for (let i = 0; i < word.length;) {
    const c = word.charCodeAt(i);
    i += c >= 0xd800 && c <= 0xdbff && i + 1 < word.length ? 2 : 1;
    bounds.push(i);
  }
  const n = bounds.length - 1;
  if (n > model.maxInputCharsPerWord) return null;
  const ids: number[] = [];
  const from: number[] = [];
  const to: number[] = [];
  let start = 0;
  while (start < n) {
    let end = Math.min(n, start + model.maxPieceChars);
    let id: number | undefined;
    while (end > start) {
      const sub = word.slice(bounds[start], bounds[end]);
      id = model.tokenToId.get(start > 0 ? model.prefix + sub : sub);
      if (id !== undefined) break;
      end--;
    }
    if (id === undefined) return null;
    ids.push(id);
    from.push(start);
    to.push(end);
    start = end;
  }
  return { ids, from, to };
}

/** Longest vocabulary entry in code points, not counting the prefix. */
export function maxPieceChars(vocab: readonly string[], prefix: string): number {
  let max = 1;
  for (const t of vocab) {
    const s = prefix.length > 0 && t.startsWith(prefix) ? t.slice(prefix.length) : t;
    let n = 0;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (!(c >= 0xdc00 && c <= 0xdfff)) n++;
    }
    if (n > max) max = n;
  }
  return max;
}
