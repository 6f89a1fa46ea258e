/**
 * The parameters of stage kind `validate` (JSON Schema draft-07): what `with:` may hold, each
 * parameter's default and description. `as const` keeps its literal types, from which the
 * stage's `ctx.params` is typed (runner/from_schema.ts).
 *
 * @module
 */

export default {
  "$schema": "http://json-schema.org/draft-07/schema#",
  "$id": "validate.schema",
  title: "validate",
  description:
    "Predicts the validation set; entity precision/recall/F1 (seqeval/conlleval), token accuracy, span F1.",
  type: "object",
  additionalProperties: false,
  properties: {
    backend: {
      enum: ["auto", "wasm", "cpu", "webgpu", "tensorflow"],
      default: "auto",
      description: "TensorFlow.js backend for prediction.",
    },
    boundaries: {
      enum: ["model", "words+learned-tails", "pieces"],
      default: "model",
      description:
        "Where decoded entities may start and end: model: the rules train stored with the model (span_boundaries in its config.json; pieces for a model without them); words+learned-tails: whole words, ending at a word end or before one of the model's tails; pieces: at any piece boundary (to measure what the rules add).",
    },
  },
} as const;
