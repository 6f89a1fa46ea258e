/**
 * Stage `embed-pad`: the old name of `label-ids` (stages/label_ids.ts), from when it padded.
 * It does the same work and writes the label ids to its old output name, `padded`, so pipeline
 * files that wire `embed-pad.padded` into tensorize still run; each run warns that the name is
 * deprecated. Its `padding` parameter is a load-time problem: padding is tensorize's.
 *
 * @module
 */

import { defineStage, type ParamsOf } from "../runner/stage.ts";
import schema from "../schemas/embed-pad.schema.ts";
import { IDS_OUTPUT, LABEL_IDS_INPUTS, LABELS_OUTPUT } from "./_artifacts.ts";
import { writeLabelIds } from "./_label_ids.ts";

/** Parameters of `embed-pad`, typed from its schema (schemas/embed-pad.schema.ts). */
export type EmbedPadParams = ParamsOf<typeof schema>;

/** The deprecation warning each run of `embed-pad` logs. */
export const EMBED_PAD_DEPRECATED = "the stage kind embed-pad is deprecated: it no longer pads " +
  "and is now called label-ids: write `uses: label-ids` and wire its `ids` output (in place " +
  "of `padded`) into tensorize's `ids` input";

/** The `embed-pad` stage kind (deprecated: `label-ids`). */
export const embedPad = defineStage({
  name: "embed-pad",
  version: 3,
  description: schema.description,
  schema,
  inputs: LABEL_IDS_INPUTS,
  outputs: {
    labels: LABELS_OUTPUT,
    padded: { ...IDS_OUTPUT, description: `${IDS_OUTPUT.description} (the old name of ids)` },
  },
  check(p) {
    if (p.padding === undefined) return [];
    return [{
      param: "padding",
      message: "embed-pad no longer pads: padding happens once, where tensorize makes batches",
      hint: "remove padding here and give tensorize `padding: max_length` to pad every batch " +
        "to max_length (its default pads each batch to its longest window)",
    }];
  },
  module: import.meta.url,
  async run(ctx) {
    ctx.log.warn(EMBED_PAD_DEPRECATED);
    await writeLabelIds(ctx, "padded");
  },
});
