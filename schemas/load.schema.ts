/**
 * The parameters of stage kind `load` (JSON Schema draft-07): what `with:` may hold, each
 * parameter's default and description. `as const` keeps its literal types, from which the
 * stage's `ctx.params` is typed (runner/from_schema.ts).
 *
 * @module
 */

export default {
  "$schema": "http://json-schema.org/draft-07/schema#",
  "$id": "load.schema",
  title: "load",
  description: "Reads a NER corpus into documents (text + entity character spans).",
  type: "object",
  additionalProperties: false,
  required: ["train"],
  properties: {
    format: {
      enum: ["kmou", "conll", "klue", "jsonl"],
      default: "kmou",
      description:
        "Corpus format: kmou (inline <surface:TAG>), conll (token columns), klue (character BIO), jsonl ({text, entities}).",
    },
    train: {
      type: "string",
      "x-path": "file",
      description: "Training file, relative to the project root.",
    },
    validation: {
      type: "string",
      "x-path": "file",
      description: "Validation file; when absent, a seeded split of the training file is used.",
    },
    split: {
      type: "object",
      additionalProperties: false,
      default: {
        ratio: 0.1,
        seed: 42,
      },
      description:
        "Validation split taken from the training file when no validation file is given.",
      properties: {
        ratio: {
          type: "number",
          exclusiveMinimum: 0,
          maximum: 0.5,
          default: 0.1,
          description: "Share of training documents held out.",
        },
        seed: {
          type: "integer",
          minimum: -9007199254740991,
          maximum: 9007199254740991,
          default: 42,
          description: "Seed of the shuffle.",
        },
      },
    },
    tag_column: {
      type: "integer",
      minimum: -1000,
      maximum: 1000,
      default: -1,
      description:
        "CoNLL: column holding the BIO tag (0-based; negative counts from the end). Not 0: column 0 holds the tokens.",
    },
    on_error: {
      enum: ["error", "skip"],
      default: "error",
      description: "A malformed record stops the run (error) or is skipped and counted (skip).",
    },
  },
} as const;
