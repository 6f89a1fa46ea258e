/**
 * Stage `embed-pad`: the label dictionary (`O` first, then sorted B-/I- labels of the training
 * types; validation reuses it and an unknown validation label is an error), then ids, labels
 * and attention masks padded to one length.
 *
 * @module
 */

import { defineStage } from "../runner/stage.ts";
import {
  buildLabelDictionary,
  encodeLabels,
  IGNORE_INDEX as IGNORE,
  labelToId,
} from "../ner/labels.ts";
import schema from "../schemas/embed-pad.schema.json" with { type: "json" };
import {
  checkAbort,
  type LabelsArtifact,
  mismatchedInputs,
  type PaddedArtifact,
  type PaddedSplit,
  readArtifact,
  writeJson,
} from "./_artifacts.ts";

/** Windows padded between two looks at the abort signal. */
const WINDOWS_PER_CHECK = 1000;

/** Parameters of `embed-pad`. */
export interface EmbedPadParams {
  padding: "longest" | "max_length";
}

/** The `embed-pad` stage kind. */
export const embedPad = defineStage<EmbedPadParams>({
  name: "embed-pad",
  version: 2,
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
      type: "ner-padded",
      description: "Padded ids, masks and label ids",
      extension: ".json",
    },
  },
  module: import.meta.url,
  async run(ctx) {
    const dataset = await readArtifact(ctx.inputs, "dataset", "ner-dataset");
    const encoded = await readArtifact(ctx.inputs, "encoded", "ner-encoded");
    const targets = await readArtifact(ctx.inputs, "targets", "ner-targets");
    for (const split of ["train", "validation"] as const) {
      const windows = encoded.splits[split];
      const tags = targets.splits[split];
      const bad = windows.findIndex((w, i) => tags[i]?.length !== w.ids.length);
      if (windows.length !== tags.length || bad >= 0) {
        throw mismatchedInputs(
          ctx.inputs,
          "targets",
          "encoded",
          windows.length !== tags.length
            ? `the targets have ${tags.length} ${split} windows, the encoding ${windows.length}`
            : `${split} window ${bad} has ${tags[bad]?.length} tags for ${
              windows[bad]!.ids.length
            } pieces`,
        );
      }
    }
    const dictionary = buildLabelDictionary(dataset.labels);
    const ids = labelToId(dictionary);
    const longest = Math.max(
      ...(["train", "validation"] as const).flatMap((s) =>
        encoded.splits[s].map((w) => w.ids.length)
      ),
    );
    const seqLen = ctx.params.padding === "max_length" ? encoded.max_length : longest;
    const splits = {} as PaddedArtifact["splits"];
    for (const split of ["train", "validation"] as const) {
      const out: PaddedSplit = { ids: [], mask: [], labels: [] };
      const windows = encoded.splits[split];
      const tags = targets.splits[split];
      for (const [i, w] of windows.entries()) {
        if (i % WINDOWS_PER_CHECK === 0) await checkAbort(ctx.signal);
        const pad = seqLen - w.ids.length;
        out.ids.push([...w.ids, ...Array(pad).fill(encoded.pad_id)]);
        out.mask.push([...w.ids.map(() => 1), ...Array(pad).fill(0)]);
        out.labels.push([...encodeLabels(tags[i]!, ids, split), ...Array(pad).fill(IGNORE)]);
      }
      splits[split] = out;
    }
    ctx.log.info(`${dictionary.length} labels; sequences padded to ${seqLen} pieces`);
    const labelsArtifact: LabelsArtifact = {
      labels: dictionary,
      label_all_tokens: targets.label_all_tokens,
    };
    await writeJson(ctx.output("labels"), labelsArtifact);
    await writeJson(ctx.output("padded"), { seq_len: seqLen, splits } satisfies PaddedArtifact);
  },
});
