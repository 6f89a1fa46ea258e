/**
 * The parameters of stage kind `preprocess-target` (JSON Schema draft-07): what `with:` may hold, each
 * parameter's default and description. `as const` keeps its literal types, from which the
 * stage's `ctx.params` is typed (runner/from_schema.ts).
 *
 * @module
 */

export default {
  "$schema": "http://json-schema.org/draft-07/schema#",
  "$id": "preprocess-target.schema",
  title: "preprocess-target",
  description: "Tags each word-piece B-X / I-X / O by comparing its offsets with the entity spans.",
  type: "object",
  additionalProperties: false,
  properties: {
    label_all_tokens: {
      type: "boolean",
      default: true,
      description:
        "Every piece gets its own label from its offsets (B-X where an entity starts, I-X inside, O outside: the particle of 서울에서 is O), so entities can start and end inside a word. False: only the first piece of each word is labelled (continuations get the ignore label -100) and a word is the smallest entity, as in Hugging Face's run_ner default.",
    },
  },
} as const;
