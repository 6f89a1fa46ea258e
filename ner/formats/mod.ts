/**
 * Corpus readers: KMOU, CoNLL, KLUE-NER and JSON Lines files into {@linkcode Document}s with
 * character-span entities.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseCorpus } from "./mod.ts";
 *
 * const conll = "-DOCSTART- O\n\nKim B-PS\nvisited O\nSeoul B-LC\n";
 * const { documents } = parseCorpus(conll, "x.conll", { format: "conll" });
 * assert.deepEqual(documents, [{
 *   text: "Kim visited Seoul",
 *   entities: [{ start: 0, end: 3, label: "PS" }, { start: 12, end: 17, label: "LC" }],
 *   source: { file: "x.conll", line: 3 },
 * }]);
 * ```
 *
 * @module
 */

export type { CorpusFormat, CorpusProblem, ReadOptions, ReadResult } from "./options.ts";
export type { Document, EntitySpan, SourceRef } from "../types.ts";
export { CORPUS_FORMATS } from "./options.ts";
export { CorpusError } from "./corpus_error.ts";
export { parseCorpus } from "./parse_corpus.ts";
export { readCorpus, streamCorpus, type StreamCorpusOptions } from "./read_corpus.ts";
