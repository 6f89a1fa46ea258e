/**
 * "Did you mean" suggestions.
 *
 * @module
 */

/** Levenshtein edit distance between two strings. */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min(current[j - 1]! + 1, previous[j]! + 1, previous[j - 1]! + cost);
    }
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * The candidate closest to `word`, if it is close enough to be a likely typo.
 *
 * @param word What the user wrote.
 * @param candidates Valid names.
 * @returns The closest candidate within a third of the word's length (at least 2 edits), else
 *   the one candidate that the word (3 characters or more) begins, or undefined.
 */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  const names = [...candidates];
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of names) {
    const d = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  const limit = Math.max(2, Math.floor(word.length / 3));
  if (bestDistance <= limit) return best;
  // A name cut short (`max_len` for `max_length`) is far in edits but plainly meant.
  const lower = word.toLowerCase();
  const longer = names.filter((c) => c.toLowerCase().startsWith(lower));
  return word.length >= 3 && longer.length === 1 ? longer[0] : undefined;
}

/** A hint `did you mean "x"`, or a list of valid names when nothing is close. */
export function didYouMean(word: string, candidates: string[], noun = "one of"): string {
  const near = closest(word, candidates);
  if (near !== undefined) return `did you mean "${near}"`;
  const list = candidates.map((c) => `"${c}"`).join(", ");
  return candidates.length ? `expected ${noun} ${list}` : "";
}
