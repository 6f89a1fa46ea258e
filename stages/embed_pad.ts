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
import type { Dataset } from "../ner/types.ts";
import schema from "../schemas/embed-pad.schema.json" with { type: "json" };
import {
  type EncodedArtifact,
  type LabelsArtifact,
  type PaddedArtifact,
  type PaddedSplit,
  readJson,
  type TargetsArtifact,
  writeJson,
} from "./_artifacts.ts";

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
    const dataset = await readJson<Dataset>(ctx.inputs.dataset!);
    const encoded = await readJson<EncodedArtifact>(ctx.inputs.encoded!);
    const targets = await readJson<TargetsArtifact>(ctx.inputs.targets!);
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
      windows.forEach((w, i) => {
        const pad = seqLen - w.ids.length;
        out.ids.push([...w.ids, ...Array(pad).fill(encoded.pad_id)]);
        out.mask.push([...w.ids.map(() => 1), ...Array(pad).fill(0)]);
        out.labels.push([...encodeLabels(tags[i]!, ids, split), ...Array(pad).fill(IGNORE)]);
      });
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
