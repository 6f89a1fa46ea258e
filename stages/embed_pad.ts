/**
 * Stage `embed-pad`: the label dictionary (`O` first, then sorted B-/I- labels of the training
 * types; validation reuses it and an unknown validation label is an error), and the label id
 * of every piece of every window, streamed window by window. It no longer pads: tensorize pads
 * each batch once (with `padBatch` of ner/batches.ts, which the predictor uses too); the
 * output keeps its name, `padded`, so pipeline files need no change.
 *
 * @module
 */

import { defineStage } from "../runner/stage.ts";
import { buildLabelDictionary, encodeLabels, labelToId } from "../ner/labels.ts";
import schema from "../schemas/embed-pad.schema.json" with { type: "json" };
import {
  checkAbort,
  type LabelsArtifact,
  mismatchedInputs,
  openStream,
  SPLITS,
  StreamOutput,
  writeJson,
} from "./_artifacts.ts";

/** Windows labelled between two looks at the abort signal. */
const WINDOWS_PER_CHECK = 1000;

/** Parameters of `embed-pad`. */
export interface EmbedPadParams {
  /** Deprecated: padding is tensorize's (its `padding` parameter); kept so old files load. */
  padding?: "longest" | "max_length";
}

/** The `embed-pad` stage kind. */
export const embedPad = defineStage<EmbedPadParams>({
  name: "embed-pad",
  version: 3,
  description: schema.description,
  schema,
  inputs: {
    dataset: { type: "ner-dataset", description: "Output of load (its training types)" },
    encoded: { type: "ner-encoded", description: "Output of preprocess-input" },
    targets: { type: "ner-targets", description: "Output of preprocess-target" },
  },
  outputs: {
    labels: {
      type: "label-dictionary",
      description:
        "Label dictionary: `labels` (id = position) and `label_all_tokens` (how pieces were labelled)",
      extension: ".json",
    },
    padded: {
      type: "ner-label-ids",
      description: "Piece ids and label ids of each window, not padded (tensorize pads them), " +
        "one window per line; the name is kept for existing pipeline files",
      extension: ".jsonl",
    },
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
    const dataset = await openStream(ctx.inputs, "dataset", "ner-dataset");
    // Only the header (the training types) is needed.
    await dataset.records.return(undefined);
    const encoded = await openStream(ctx.inputs, "encoded", "ner-encoded");
    const targets = await openStream(ctx.inputs, "targets", "ner-targets");
    const dictionary = buildLabelDictionary(dataset.header.labels);
    const ids = labelToId(dictionary);
    const out = await StreamOutput.create<"ner-label-ids">(ctx.output("padded"), {
      artifact: "ner-label-ids",
      pad_id: encoded.header.pad_id,
      max_length: encoded.header.max_length,
    });
    const counts = { train: 0, validation: 0 };
    try {
      let i = 0;
      for await (const w of encoded.records) {
        if (i++ % WINDOWS_PER_CHECK === 0) await checkAbort(ctx.signal);
        const t = await targets.records.next();
        const n = counts[w.split];
        if (t.done || t.value.split !== w.split || t.value.tags.length !== w.ids.length) {
          throw mismatchedInputs(
            ctx.inputs,
            "targets",
            "encoded",
            t.done || t.value.split !== w.split
              ? `the targets have fewer ${w.split} windows than the encoding`
              : `${w.split} window ${n} has ${t.value.tags.length} tags for ${w.ids.length} pieces`,
          );
        }
        await out.write({
          split: w.split,
          ids: w.ids,
          labels: encodeLabels(t.value.tags, ids, w.split),
        });
        counts[w.split]++;
      }
      if (!(await targets.records.next()).done) {
        throw mismatchedInputs(
          ctx.inputs,
          "targets",
          "encoded",
          "the targets have more windows than the encoding",
        );
      }
    } catch (error) {
      await out.abort();
      await targets.records.return(undefined);
      throw error;
    }
    ctx.log.info(
      `${dictionary.length} labels; ${SPLITS.map((s) => `${counts[s]} ${s} windows`).join(", ")}`,
    );
    const labelsArtifact: LabelsArtifact = {
      labels: dictionary,
      label_all_tokens: targets.header.label_all_tokens,
    };
    await writeJson(ctx.output("labels"), labelsArtifact);
    await out.end({ windows: counts });
  },
});
