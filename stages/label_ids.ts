/**
 * Stage `label-ids`: the label dictionary (`O` first, then sorted B-/I- labels of the training
 * types; validation reuses it and an unknown validation label is an error), and the label id
 * of every piece of every window, streamed window by window (one window per line). It does not
 * pad: tensorize pads each batch once, with `padBatch` of ner/batches.ts, which the predictor
 * uses too. It was called `embed-pad` when it padded; that name still works (stages/embed_pad.ts)
 * and warns. The work is `writeLabelIds` (stages/_label_ids.ts), which both kinds run.
 *
 * @module
 */

import { defineStage } from "../runner/stage.ts";
import schema from "../schemas/label-ids.schema.ts";
import { IDS_OUTPUT, LABEL_IDS_INPUTS, LABELS_OUTPUT } from "./_artifacts.ts";
import { writeLabelIds } from "./_label_ids.ts";

/** The `label-ids` stage kind. */
export const labelIds = defineStage({
  name: "label-ids",
  version: 1,
  description: schema.description,
  schema,
  inputs: LABEL_IDS_INPUTS,
  outputs: { labels: LABELS_OUTPUT, ids: IDS_OUTPUT },
  module: import.meta.url,
  run: (ctx) => writeLabelIds(ctx, "ids"),
});
