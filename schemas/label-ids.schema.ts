/**
 * The parameters of stage kind `label-ids` (JSON Schema draft-07): what `with:` may hold, each
 * parameter's default and description. `as const` keeps its literal types, from which the
 * stage's `ctx.params` is typed (runner/from_schema.ts).
 *
 * @module
 */

export default {
  "$schema": "http://json-schema.org/draft-07/schema#",
  "$id": "label-ids.schema",
  title: "label-ids",
  description:
    "Builds the label dictionary and the label id of every word-piece of every window (tensorize pads them into batches).",
  type: "object",
  additionalProperties: false,
  properties: {},
} as const;
