/**
 * A hash table of words looked up by their place in a text (`text`, from `a` to `b`), so that
 * the tokenizer and the learner find a word they have seen without slicing it out of the text
 * (a new string, hashed again, for each of the millions of words of a corpus).
 *
 * @module
 */

/** Hash of the code units of `text` from `a` to `b` (FNV-1a, 32 bits). */
function hashOf(text: string, a: number, b: number): number {
  let h = 0x811c9dc5 ^ (b - a);
  for (let i = a; i < b; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h;
}

/** Words by index, each with a value; open addressing with linear probing. */
export class WordTable<V> {
  /** The words, by index. */
  words: string[] = [];
  /** The value of each word. */
  values: V[] = [];
  #hashes: number[] = [];
  #slots = new Int32Array(1 << 12);
  #mask = (1 << 12) - 1;
  /** Slot and hash of the last failed {@link find}, where {@link add} puts the word. */
  #slot = 0;
  #hash = 0;

  /** How many words the table holds. */
  get size(): number {
    return this.words.length;
  }

  /**
   * The index of the word `text.slice(a, b)`, or -1 when it is not in the table (then
   * {@link add} adds it).
   */
  find(text: string, a: number, b: number): number {
    const h = hashOf(text, a, b);
    const len = b - a;
    const words = this.words;
    const hashes = this.#hashes;
    const slots = this.#slots;
    const mask = this.#mask;
    for (let s = h & mask;; s = (s + 1) & mask) {
      const e = slots[s]!;
      if (e === 0) {
        this.#slot = s;
        this.#hash = h;
        return -1;
      }
      const w = words[e - 1]!;
      if (hashes[e - 1] === h && w.length === len && text.startsWith(w, a)) return e - 1;
    }
  }

  /**
   * Adds `word` (the one the last {@link find} did not find) with its value.
   *
   * @returns Its index.
   */
  add(word: string, value: V): number {
    const index = this.words.length;
    this.words.push(word);
    this.values.push(value);
    this.#hashes.push(this.#hash);
    this.#slots[this.#slot] = index + 1;
    if (2 * this.words.length > this.#slots.length) this.#grow();
    return index;
  }

  /** Empties the table. */
  clear(): void {
    this.words = [];
    this.values = [];
    this.#hashes = [];
    this.#slots = new Int32Array(1 << 12);
    this.#mask = (1 << 12) - 1;
  }

  #grow(): void {
    const slots = new Int32Array(this.#slots.length * 2);
    const mask = slots.length - 1;
    const hashes = this.#hashes;
    for (let e = 0; e < hashes.length; e++) {
      let s = hashes[e]! & mask;
      while (slots[s] !== 0) s = (s + 1) & mask;
      slots[s] = e + 1;
    }
    this.#slots = slots;
    this.#mask = mask;
  }
}
