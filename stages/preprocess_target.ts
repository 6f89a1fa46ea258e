/**
 * Stage `preprocess-target`: the entity spans of each document become a BIO tag per
 * word-piece, found by comparing each piece's start offset with the spans. [CLS]/[SEP] and (by
 * default) continuation pieces are ignored (null here, -100 after embed-pad).
 *
 * @module
 */

import { defineStage } from "../runner/stage.ts";
import { tagDocument } from "../ner/align.ts";
import schema from "../schemas/preprocess-target.schema.json" with { type: "json" };
import {
  checkAbort,
  mismatchedInputs,
  readArtifact,
  type TargetsArtifact,
  windowsByDoc,
  writeJson,
} from "./_artifacts.ts";

/** Documents tagged between two looks at the abort signal. */
const DOCS_PER_CHECK = 500;

/** Parameters of `preprocess-target`. */
export interface PreprocessTargetParams {
  label_all_tokens: boolean;
}

/** The `preprocess-target` stage kind. */
export const preprocessTarget = defineStage<PreprocessTargetParams>({
  name: "preprocess-target",
  version: 1,
  description: schema.description,
  schema,
  inputs: {
    dataset: { type: "ner-dataset", description: "Output of load" },
    encoded: { type: "ner-encoded", description: "Output of preprocess-input" },
  },
  outputs: {
    targets: {
      type: "ner-targets",
      description: "A BIO tag (or null) per word-piece per window",
      extension: ".json",
    },
  },
  module: import.meta.url,
  async run(ctx) {
    const dataset = await readArtifact(ctx.inputs, "dataset", "ner-dataset");
    const encoded = await readArtifact(ctx.inputs, "encoded", "ner-encoded");
    const opts = { labelAllTokens: ctx.params.label_all_tokens };
    const splits = {} as TargetsArtifact["splits"];
    const report = {} as TargetsArtifact["report"];
    for (const split of ["train", "validation"] as const) {
      const docs = dataset[split];
      const windows = encoded.splits[split];
      const byDoc = windowsByDoc(windows);
      const tags: (string | null)[][] = [];
      const r = { entities: 0, outside_window: 0, not_on_boundary: 0, crosses_window: 0 };
      let done = 0;
      for (const [doc, ws] of byDoc) {
        if (done++ % DOCS_PER_CHECK === 0) await checkAbort(ctx.signal);
        const document = docs[doc];
        if (document === undefined) {
          throw mismatchedInputs(
            ctx.inputs,
            "encoded",
            "dataset",
            `a ${split} window is of document ${doc}, but the dataset's ${split} split has ${docs.length}`,
          );
        }
        const entities = document.entities;
        const result = tagDocument(ws, entities, opts);
        tags.push(...result.labels);
        r.entities += entities.length;
        r.outside_window += result.report.outsideWindow;
        r.not_on_boundary += result.report.notOnBoundary;
        r.crosses_window += result.report.crossesWindow;
      }
      splits[split] = tags;
      report[split] = r;
      const problems = [
        r.outside_window && `${r.outside_window} outside the window`,
        r.not_on_boundary &&
        `${r.not_on_boundary} not starting and ending on word-piece boundaries`,
        r.crosses_window && `${r.crosses_window} split across windows`,
      ].filter(Boolean);
      ctx.log.info(
        `${split}: ${r.entities} entities${problems.length ? `; ${problems.join(", ")}` : ""}`,
      );
    }
    const artifact: TargetsArtifact = { label_all_tokens: opts.labelAllTokens, splits, report };
    await writeJson(ctx.output("targets"), artifact);
  },
});
