/**
 * Data contracts shared by the NER library and the NER stages.
 *
 * Offsets are JavaScript string indices (UTF-16 code units) into the
 * ORIGINAL text of a document, half-open: `[start, end)`. Hangul syllables
 * and Latin letters are one code unit each.
 *
 * @module
 */

/**
 * Label id of positions the loss ignores ([CLS], [SEP], padding and, unless every piece is
 * labelled, continuation pieces), as PyTorch's `CrossEntropyLoss(ignore_index=-100)`. The one
 * definition: labels, batches, the loss and the training step import it.
 */
export const IGNORE_INDEX = -100;

/** An entity as a character span of a document's original text. */
export interface EntitySpan {
  /** First character of the entity, inclusive. */
  start: number;
  /** One past the last character of the entity. */
  end: number;
  /** Entity type without a BIO prefix, e.g. `PS`. */
  label: string;
}

/** Where a record came from, for error messages and reports. */
export interface SourceRef {
  file: string;
  /** 1-based line of the record's first line. */
  line: number;
}

/** One sentence (or document) with its gold entities. */
export interface Document {
  text: string;
  entities: EntitySpan[];
  source: SourceRef;
}

/** The `dataset` artifact written by the `load` stage. */
export interface Dataset {
  format: string;
  /** Sorted entity types seen in the training split, without BIO prefixes. */
  labels: string[];
  train: Document[];
  validation: Document[];
  /** Records skipped because of `on_error: skip`. */
  skipped: number;
}

/** One tokenized window of a document: [CLS] pieces [SEP]. */
export interface EncodedDocument {
  /** Index of the document in its split. */
  doc: number;
  /** Window number within the document (0 when the document fits). */
  window: number;
  ids: number[];
  tokens: string[];
  /** Character span of each piece in the original text; null for special tokens. */
  offsets: ([number, number] | null)[];
  /** True where a piece begins a word (not a `##` continuation); false for special tokens. */
  wordStart: boolean[];
}

/** A window as the `encoded` artifact stores it: its `tokens` are left out (the ids hold them). */
export type EncodedWindow = Omit<EncodedDocument, "tokens">;

/** The model's input: token ids and attention mask, row-major `[batchSize, seqLen]`. */
export interface BatchInput {
  ids: Int32Array;
  /** 1 for real tokens, 0 for padding. */
  mask: Int32Array | Uint8Array;
  batchSize: number;
  seqLen: number;
}

/**
 * A padded batch with its labels: what a training step takes (the trainer's `Batch`, a part of one
 * for a replica, and, with each row's window, the batches file's `TensorBatch`).
 */
export interface LabelledBatch extends BatchInput {
  /** Class per position; {@link IGNORE_INDEX} where the loss ignores it. */
  labels: Int32Array;
}
