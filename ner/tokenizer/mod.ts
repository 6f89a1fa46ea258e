/**
 * BERT WordPiece tokenisation for NER: learning a vocabulary, reading and
 * writing Hugging Face tokenizer directories, and encoding documents into
 * windows of word pieces with character offsets into the original text.
 *
 * Importing this module is cheap: transformers.js is only imported by
 * {@link loadTokenizer}.
 *
 * @example
 * ```ts ignore
 * import { encodeDocument, learnWordPiece, loadTokenizer, writeTokenizerFiles } from "./mod.ts";
 * const vocab = learnWordPiece(["한석규가 서울에 갔다"], { vocabSize: 100, lowercase: false });
 * await writeTokenizerFiles("out/tok", vocab, { lowercase: false, maxLength: 128 });
 * const tok = await loadTokenizer("out/tok");
 * const { windows } = encodeDocument(tok, "한석규가 서울에 갔다", { maxLength: 128 });
 * ```
 *
 * @module
 */

export type {
  EncodeOptions,
  EncodeResult,
  NerTokenizer,
  NormalizerConfig,
  OverflowMode,
  Pieces,
} from "./encode.ts";
export type { LoadTokenizerOptions, TokenizerFileOptions } from "./files.ts";
export type { LearnOptions, VocabularyParts } from "./learn.ts";
export { encodeDocument, tokenizePieces } from "./encode.ts";
export {
  buildTokenizerJson,
  loadTokenizer,
  SPECIAL_TOKENS,
  TokenizerFileError,
  tokenizerFromJson,
  writeTokenizerFiles,
} from "./files.ts";
export {
  commonHangul,
  learnedNormalizer,
  learnFromCounts,
  learnWordPiece,
  vocabularyParts,
  WordCounts,
} from "./learn.ts";
