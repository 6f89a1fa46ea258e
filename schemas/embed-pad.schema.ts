/**
 * The parameters of stage kind `embed-pad` (JSON Schema draft-07): what `with:` may hold, each
 * parameter's default and description. `as const` keeps its literal types, from which the
 * stage's `ctx.params` is typed (runner/from_schema.ts).
 *
 * @module
 */

export default {
  "$schema": "http://json-schema.org/draft-07/schema#",
  "$id": "embed-pad.schema",
  title: "embed-pad",
  description:
    "Deprecated name of label-ids: builds the label dictionary and the label id of every word-piece (padding is tensorize's).",
  type: "object",
  additionalProperties: false,
  properties: {
    padding: {
      enum: ["longest", "max_length"],
      description:
        "Removed: padding is done once, by tensorize (its padding parameter). Giving it is an error at load that says so.",
    },
  },
} as const;
