/**
 * Stage `label-ids`: the label dictionary (`O` first, then sorted B-/I- labels of the training
 * types; validation reuses it and an unknown validation label is an error), and the label id
 * of every piece of every window, streamed window by window (one window per line). It does not
 * pad: tensorize pads each batch once, with `padBatch` of ner/batches.ts, which the predictor
 * uses too. It was called `embed-pad` when it padded; that name still works (stages/embed_pad.ts)
 * and warns.
 *
 * @module
 */

import { defineStage, type StageContext } from "../runner/stage.ts";
import { buildLabelDictionary, encodeLabels, labelToId } from "../ner/labels.ts";
import schema from "../schemas/label-ids.schema.json" with { type: "json" };
import {
  checkAbort,
  type DatasetEnd,
  type LabelsArtifact,
  mismatchedInputs,
  openStream,
  readStreamEnd,
  SPLITS,
  StreamOutput,
  writeJson,
} from "./_artifacts.ts";

/** Windows labelled between two looks at the abort signal. */
const WINDOWS_PER_CHECK = 1000;

/** The inputs of `label-ids` (and of its old name, `embed-pad`). */
export const LABEL_IDS_INPUTS = {
  dataset: { type: "ner-dataset", description: "Output of load (its training types)" },
  encoded: { type: "ner-encoded", description: "Output of preprocess-input" },
  targets: { type: "ner-targets", description: "Output of preprocess-target" },
} as const;

/** The label dictionary output. */
export const LABELS_OUTPUT = {
  type: "label-dictionary",
  description:
    "Label dictionary: `labels` (id = position) and `label_all_tokens` (how pieces were labelled)",
  extension: ".json",
} as const;

/** The label-ids output. */
export const IDS_OUTPUT = {
  type: "ner-label-ids",
  description: "Piece ids and label ids of each window, not padded (tensorize pads them), " +
    "one window per line",
  extension: ".jsonl",
} as const;

/**
 * Writes the label dictionary to the `labels` output and the label ids of every window to
 * `output`.
 *
 * @param ctx The stage's context.
 * @param output The name of the label-ids output (`ids`; `padded` for `embed-pad`).
 */
export async function writeLabelIds(ctx: StageContext<unknown>, output: string): Promise<void> {
  // Only the training types are needed: the dataset's trailer.
  const dataset = await readStreamEnd(
    ctx.inputs,
    "dataset",
    "ner-dataset",
  ) as unknown as DatasetEnd;
  const encoded = await openStream(ctx.inputs, "encoded", "ner-encoded");
  const targets = await openStream(ctx.inputs, "targets", "ner-targets");
  const dictionary = buildLabelDictionary(dataset.labels);
  const ids = labelToId(dictionary);
  const out = await StreamOutput.create<"ner-label-ids">(ctx.output(output), {
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
}

/** The `label-ids` stage kind. */
export const labelIds = defineStage<Record<string, never>>({
  name: "label-ids",
  version: 1,
  description: schema.description,
  schema,
  inputs: LABEL_IDS_INPUTS,
  outputs: { labels: LABELS_OUTPUT, ids: IDS_OUTPUT },
  module: import.meta.url,
  run: (ctx) => writeLabelIds(ctx, "ids"),
});
