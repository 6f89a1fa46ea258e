/**
 * Stage `preprocess-target`: the entity spans of each document become a BIO tag per
 * word-piece, found by comparing each piece's start offset with the spans. [CLS]/[SEP] and (by
 * default) continuation pieces are ignored (null here, -100 after label-ids).
 *
 * @module
 */

import { defineStage } from "../runner/stage.ts";
import { tagDocument } from "../ner/align.ts";
import schema from "../schemas/preprocess-target.schema.json" with { type: "json" };
import {
  checkAbort,
  type EncodedRecord,
  mismatchedInputs,
  openStream,
  type Split,
  SPLITS,
  StreamOutput,
  type TargetsArtifact,
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
  version: 2,
  description: schema.description,
  schema,
  inputs: {
    dataset: { type: "ner-dataset", description: "Output of load" },
    encoded: { type: "ner-encoded", description: "Output of preprocess-input" },
  },
  outputs: {
    targets: {
      type: "ner-targets",
      description: "A BIO tag (or null) per word-piece per window, one window per line",
      extension: ".jsonl",
    },
  },
  module: import.meta.url,
  async run(ctx) {
    const dataset = await openStream(ctx.inputs, "dataset", "ner-dataset");
    const encoded = await openStream(ctx.inputs, "encoded", "ner-encoded");
    const opts = { labelAllTokens: ctx.params.label_all_tokens };
    const report = {} as TargetsArtifact["report"];
    for (const split of SPLITS) {
      report[split] = { entities: 0, outside_window: 0, not_on_boundary: 0, crosses_window: 0 };
    }
    const windows = { train: 0, validation: 0 };
    const out = await StreamOutput.create<"ner-targets">(ctx.output("targets"), {
      artifact: "ner-targets",
      label_all_tokens: opts.labelAllTokens,
    });
    // Both streams hold the train split, then the validation split, documents in order; the
    // windows of a document follow one another. Walk them side by side.
    const mismatch = (problem: string) =>
      mismatchedInputs(ctx.inputs, "encoded", "dataset", problem);
    try {
      let pending: EncodedRecord | undefined;
      const docs = { train: 0, validation: 0 };
      const nextWindow = async () => {
        const item = await encoded.records.next();
        return item.done ? undefined : item.value;
      };
      pending = await nextWindow();
      let done = 0;
      for await (const document of dataset.records) {
        if (done++ % DOCS_PER_CHECK === 0) await checkAbort(ctx.signal);
        const split: Split = document.split;
        const doc = docs[split]++;
        const ws: EncodedRecord[] = [];
        while (pending && pending.split === split && pending.doc === doc) {
          ws.push(pending);
          pending = await nextWindow();
        }
        if (pending && pending.split === split && pending.doc < doc) {
          throw mismatch(`the ${split} windows of document ${pending.doc} are out of order`);
        }
        if (ws.length === 0) {
          // preprocess-input gives every document one window at least.
          throw mismatch(`${split} document ${doc} of the dataset has no window in the encoding`);
        }
        const result = tagDocument(ws, document.entities, opts);
        for (const tags of result.labels) await out.write({ split, doc, tags });
        windows[split] += result.labels.length;
        const r = report[split];
        r.entities += document.entities.length;
        r.outside_window += result.report.outsideWindow;
        r.not_on_boundary += result.report.notOnBoundary;
        r.crosses_window += result.report.crossesWindow;
      }
      if (pending) {
        throw mismatch(
          `a ${pending.split} window is of document ${pending.doc}, but the dataset's ` +
            `${pending.split} split has ${docs[pending.split]}`,
        );
      }
    } catch (error) {
      await out.abort();
      await encoded.records.return(undefined);
      throw error;
    }
    for (const split of SPLITS) {
      const r = report[split];
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
    await out.end({ windows, report });
  },
});
