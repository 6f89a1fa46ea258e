/**
 * Stage `load`: reads a NER corpus (KMOU, CoNLL, KLUE or JSONL) into documents, each its
 * original text and entity character spans, plus the training tag set.
 *
 * @module
 */

import { UserError } from "../runner/errors.ts";
import { defineStage } from "../runner/stage.ts";
import { mulberry32, shuffled } from "../ner/random.ts";
import { type CorpusFormat, readCorpus, type ReadResult } from "../ner/formats/mod.ts";
import type { Dataset, Document } from "../ner/types.ts";
import schema from "../schemas/load.schema.json" with { type: "json" };
import { writeJson } from "./_artifacts.ts";

/** Parameters of `load` (defaults in schemas/load.schema.json). */
export interface LoadParams {
  format: CorpusFormat;
  train: string;
  validation?: string;
  split: { ratio: number; seed: number };
  tag_column: number;
  on_error: "error" | "skip";
}

/** The `load` stage kind. */
export const load = defineStage<LoadParams>({
  name: "load",
  version: 1,
  description: schema.description,
  schema,
  inputs: {},
  outputs: {
    dataset: {
      type: "ner-dataset",
      description: "Documents (text + entity spans) of the train and validation splits",
      extension: ".json",
    },
  },
  module: import.meta.url,
  async run(ctx) {
    const p = ctx.params;
    const read = (path: string) =>
      readCorpus(path, { format: p.format, onError: p.on_error, tagColumn: p.tag_column });
    const report = (what: string, r: ReadResult) => {
      ctx.log.info(`${what}: ${r.documents.length} documents`);
      if (r.skipped) {
        ctx.log.warn(`${what}: skipped ${r.skipped} malformed records (on_error: skip)`);
        for (const problem of r.problems.slice(0, 5)) {
          ctx.log.warn(`  ${problem.file}:${problem.line}: ${problem.message}`);
        }
      }
    };
    const train = await read(p.train);
    report("train", train);
    let trainDocs: Document[] = train.documents;
    let validationDocs: Document[];
    let skipped = train.skipped;
    if (p.validation) {
      const validation = await read(p.validation);
      report("validation", validation);
      validationDocs = validation.documents;
      skipped += validation.skipped;
    } else {
      const order = shuffled(trainDocs, mulberry32(p.split.seed));
      const held = Math.max(1, Math.round(order.length * p.split.ratio));
      validationDocs = order.slice(0, held);
      trainDocs = order.slice(held);
      ctx.log.info(`no validation file: held out ${held} documents (seed ${p.split.seed})`);
    }
    if (trainDocs.length === 0) {
      throw new UserError(
        `No training documents in "${p.train}": check that the file is in the "${p.format}" format`,
      );
    }
    const labels = [...new Set(trainDocs.flatMap((d) => d.entities.map((e) => e.label)))].sort();
    ctx.log.info(`entity types: ${labels.join(", ")}`);
    const dataset: Dataset = {
      format: p.format,
      labels,
      train: trainDocs,
      validation: validationDocs,
      skipped,
    };
    await writeJson(ctx.output("dataset"), dataset);
  },
});
