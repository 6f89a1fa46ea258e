/**
 * Predicting a stream of texts (the lines of a file of any length) in bounded memory: texts
 * are read as they come, predicted a batch at a time, and each result is given as soon as it
 * is done. A text longer than {@link MAX_TEXT_CHARS} characters is cut into parts (at a space
 * where there is one), each predicted on its own, as training cuts documents into windows,
 * and given back part by part; its entities' offsets are moved back into the whole text, so
 * they stay exact.
 *
 * @module
 */

import type { PredictedEntity, Predictor } from "./mod.ts";

/**
 * The most characters of a text predicted at once. A longer text is cut into parts of at most
 * this many, at the last space before the limit (or the limit itself when the part has no
 * space in its second half): an entity that spans a cut is found as two, or not at all.
 */
export const MAX_TEXT_CHARS = 20_000;

/** Texts (or parts of a long text) given to the predictor at once, at most. */
export const TEXTS_PER_BATCH = 64;

/** Characters given to the predictor at once, at most (but always one text or part). */
export const BATCH_CHARS = 64 * 1024;

const WAIT = Symbol("wait");

/**
 * The result of one part of a text (of the whole text, for one that was not cut): its
 * entities, with offsets into the whole text. The parts of a text come one after the other,
 * in order, so a long text's entities can be written as they come.
 */
export interface StreamedPart {
  /** The text, whole. */
  text: string;
  /** The entities found in this part, in text order; offsets are into `text`. */
  entities: PredictedEntity[];
  /** Which part this is (0 first). */
  part: number;
  /** How many parts the text was cut into (1: it was predicted whole). */
  parts: number;
}

/** Options of {@link predictStream}. */
export interface StreamOptions {
  /** See {@link MAX_TEXT_CHARS}. */
  maxChars?: number;
  /** See {@link TEXTS_PER_BATCH}. */
  batch?: number;
  /** See {@link BATCH_CHARS}. */
  batchChars?: number;
}

/**
 * Where a text is cut into parts of at most `maxChars` characters: the start of each part.
 *
 * @param text The text.
 * @param maxChars The most characters of a part (at least 2).
 * @returns The parts' start offsets, 0 first; one entry for a short text.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cutPoints } from "./stream.ts";
 * assert.deepEqual(cutPoints("Leo flew to Lagos", 10), [0, 9]); // "Leo flew ", "to Lagos"
 * ```
 */
export function cutPoints(text: string, maxChars: number): number[] {
  const starts = [0];
  let start = 0;
  while (text.length - start > maxChars) {
    let cut = start + maxChars;
    // After the last whitespace of the part's second half: no word is cut.
    for (let i = cut - 1; i > start + maxChars / 2; i--) {
      if (/\s/.test(text[i]!)) {
        cut = i + 1;
        break;
      }
    }
    // Never between the two halves of a surrogate pair.
    const code = text.charCodeAt(cut - 1);
    if (code >= 0xd800 && code <= 0xdbff && cut - 1 > start) cut--;
    starts.push(cut);
    start = cut;
  }
  return starts;
}

/**
 * Predicts each text of a stream, a batch at a time, giving each part's result as soon as it
 * and every part before it (of this text and of the texts before) is done: a batch
 * ({@link TEXTS_PER_BATCH} texts or parts, at most {@link BATCH_CHARS} characters) is predicted
 * when it is full, or when the next text is not there yet. Memory holds one batch and the
 * texts whose parts are not all given back, not the stream, nor a long text's entities.
 *
 * @param predictor A loaded predictor.
 * @param texts The texts, read as they come.
 * @param options The part length and batch size.
 * @returns The parts' results, in order.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadPredictor } from "./mod.ts";
 * import { predictStream } from "./stream.ts";
 * const p = await loadPredictor("tests/testdata/hf_tiny", { backend: "cpu" });
 * async function* lines() {
 *   yield "Leo Smith flew to Lagos.";
 *   yield "Ivy met him.";
 * }
 * const texts = [];
 * for await (const r of predictStream(p, lines())) texts.push(`${r.text} ${r.part}/${r.parts}`);
 * assert.deepEqual(texts, ["Leo Smith flew to Lagos. 0/1", "Ivy met him. 0/1"]);
 * p.dispose();
 * ```
 */
export async function* predictStream(
  predictor: Pick<Predictor, "predict">,
  texts: AsyncIterable<string>,
  options: StreamOptions = {},
): AsyncGenerator<StreamedPart> {
  const maxChars = Math.max(2, options.maxChars ?? MAX_TEXT_CHARS);
  const batchSize = Math.max(1, options.batch ?? TEXTS_PER_BATCH);
  const batchChars = options.batchChars ?? BATCH_CHARS;
  type Part = StreamedPart & { start: number; end: number; done: boolean };
  /** Parts read and not yet given back, in order. */
  const pending: Part[] = [];
  let batch: Part[] = [];
  let chars = 0;
  const run = async () => {
    const found = await predictor.predict(batch.map((p) => p.text.slice(p.start, p.end)));
    batch.forEach((part, i) => {
      for (const e of found[i]!) {
        part.entities.push({ ...e, start: e.start + part.start, end: e.end + part.start });
      }
      part.done = true;
    });
    batch = [];
    chars = 0;
  };
  const ready = function* () {
    while (pending.length && pending[0]!.done) {
      const { text, entities, part, parts } = pending.shift()!;
      yield { text, entities, part, parts };
    }
  };
  const iterator = texts[Symbol.asyncIterator]();
  for (;;) {
    const next = iterator.next();
    if (batch.length) {
      // A text that is not there yet (stdin waiting for a line) does not hold back the
      // results of those read: the batch is predicted now. A file's lines come without a wait.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const now = await Promise.race([
        next,
        new Promise((resolve) => timer = setTimeout(() => resolve(WAIT), 0)),
      ]);
      clearTimeout(timer);
      if (now === WAIT) {
        await run();
        yield* ready();
      }
    }
    const read = await next;
    if (read.done) break;
    const text = read.value;
    const starts = cutPoints(text, maxChars);
    for (let i = 0; i < starts.length; i++) {
      const start = starts[i]!;
      const end = starts[i + 1] ?? text.length;
      if (batch.length && chars + end - start > batchChars) {
        await run();
        yield* ready();
      }
      const part = { text, entities: [], part: i, parts: starts.length, start, end, done: false };
      pending.push(part);
      batch.push(part);
      chars += end - start;
      if (batch.length >= batchSize) {
        await run();
        yield* ready();
      }
    }
  }
  if (batch.length) await run();
  yield* ready();
}

/**
 * The lines of a byte stream (UTF-8), as they come: split at `\n` (a `\r` before it is
 * dropped), the last line given even without a line end. A byte order mark at the start is
 * dropped, and bytes that are not UTF-8 read as U+FFFD, as `Deno.readTextFile` reads them.
 *
 * @param stream The bytes (a file's `readable`, `Deno.stdin.readable`).
 * @returns The lines.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { textLines } from "./stream.ts";
 * const bytes = new Blob(["a\r\nb\n\nc"]).stream();
 * assert.deepEqual(await Array.fromAsync(textLines(bytes)), ["a", "b", "", "c"]);
 * ```
 */
export async function* textLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let rest: string[] = [];
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    let from = 0;
    for (let end = chunk.indexOf("\n"); end >= 0; end = chunk.indexOf("\n", from)) {
      rest.push(chunk.slice(from, end));
      const line = rest.join("");
      rest = [];
      yield line.endsWith("\r") ? line.slice(0, -1) : line;
      from = end + 1;
    }
    if (from < chunk.length) rest.push(chunk.slice(from));
  }
  if (rest.length) yield rest.join("");
}
