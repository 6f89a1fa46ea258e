/**
 * The parameters of stage kind `tensorize` (JSON Schema draft-07): what `with:` may hold, each
 * parameter's default and description. `as const` keeps its literal types, from which the
 * stage's `ctx.params` is typed (runner/from_schema.ts).
 *
 * @module
 */

export default {
  "$schema": "http://json-schema.org/draft-07/schema#",
  "$id": "tensorize.schema",
  title: "tensorize",
  description:
    "Pads windows into seeded, shuffled batches (the one place padding happens) in a compact binary file.",
  type: "object",
  additionalProperties: false,
  properties: {
    batch_size: {
      type: "integer",
      minimum: 1,
      maximum: 4096,
      default: 32,
      description:
        "Sequences per batch, at most 4096 (BERT was pre-trained with 256; fine-tuning uses 16 to 64).",
    },
    seed: {
      type: "integer",
      minimum: -9007199254740991,
      maximum: 9007199254740991,
      default: 42,
      description: "Seed of the shuffle.",
    },
    shuffle: {
      type: "boolean",
      default: true,
      description: "Shuffle training sequences before batching.",
    },
    trim: {
      type: "boolean",
      default: true,
      description:
        "Pad each batch to its longest window (dynamic padding); false pads every batch to the length padding gives.",
    },
    padding: {
      enum: ["longest", "max_length"],
      default: "longest",
      description:
        "With trim: false, the length every batch is padded to: the longest window of the data (longest) or max_length of preprocess-input.",
    },
  },
} as const;
