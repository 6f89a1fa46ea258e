/**
 * Stage `load`: reads a NER corpus (KMOU, CoNLL, KLUE or JSONL) into documents, each its
 * original text and entity character spans, plus the training tag set.
 *
 * @module
 */

import { defineStage } from "../runner/stage.ts";
import { mulberry32, shuffled } from "../ner/random.ts";
import { CorpusError, type CorpusFormat, readCorpus } from "../ner/formats/mod.ts";
import type { Document } from "../ner/types.ts";
import schema from "../schemas/load.schema.json" with { type: "json" };
import { checkAbort, SPLITS, StreamOutput } from "./_artifacts.ts";

/** Parameters of `load` (defaults in schemas/load.schema.json). */
export interface LoadParams {
  format: CorpusFormat;
  train: string;
  validation?: string;
  split: { ratio: number; seed: number };
  tag_column: number;
  on_error: "error" | "skip";
}

/** How many skipped records are shown, one line each. */
const SHOWN = 5;

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

/** The `load` stage kind. */
export const load = defineStage<LoadParams>({
  name: "load",
  version: 2,
  description: schema.description,
  schema,
  inputs: {},
  outputs: {
    dataset: {
      type: "ner-dataset",
      description:
        "Documents (text + entity spans) of the train and validation splits, one per line " +
        "(JSON Lines: a header, the documents, a trailer)",
      extension: ".jsonl",
    },
  },
  check(p) {
    if (p.format !== "conll" || p.tag_column !== 0) return [];
    return [{
      param: "tag_column",
      message: "Column 0 holds the tokens of a CoNLL line, not their tags",
      hint: "give the 0-based column of the tag, 1 or more, or a negative one counted from the " +
        "end (-1, the default, is the last column)",
    }];
  },
  module: import.meta.url,
  async run(ctx) {
    const p = ctx.params;
    const read = async (path: string, what: string) => {
      const r = await readCorpus(path, {
        format: p.format,
        onError: p.on_error,
        tagColumn: p.tag_column,
        signal: ctx.signal,
      });
      ctx.log.info(`${what}: ${plural(r.documents.length, "document")}`);
      if (r.skipped) {
        ctx.log.warn(`${what}: skipped ${r.skipped} malformed records (on_error: skip)`);
        // Each message names its file:line:col already.
        for (const problem of r.problems.slice(0, SHOWN)) ctx.log.warn(`  ${problem.message}`);
        if (r.skipped > SHOWN) ctx.log.warn(`  and ${r.skipped - SHOWN} more`);
      }
      if (r.documents.length === 0) {
        throw new CorpusError(
          `No documents in the ${what} file "${path}"` +
            (r.skipped ? `: all ${r.skipped} records were malformed and skipped` : ""),
          {
            file: path,
            line: 0,
            hint: r.skipped
              ? "fix the records listed above (on_error: error stops at the first one)"
              : `give a file with at least one record in the "${p.format}" format`,
          },
        );
      }
      return r;
    };
    const train = await read(p.train, "train");
    let trainDocs: Document[] = train.documents;
    let validationDocs: Document[];
    let skipped = train.skipped;
    if (p.validation) {
      const validation = await read(p.validation, "validation");
      validationDocs = validation.documents;
      skipped += validation.skipped;
    } else {
      const n = trainDocs.length;
      if (n < 2) {
        throw new CorpusError(
          `The train file "${p.train}" holds 1 document, too few to hold out a validation split`,
          { file: p.train, line: 0, hint: "add documents, or give a validation file" },
        );
      }
      const order = shuffled(trainDocs, mulberry32(p.split.seed));
      // At least one document each side.
      const held = Math.min(n - 1, Math.max(1, Math.round(n * p.split.ratio)));
      validationDocs = order.slice(0, held);
      trainDocs = order.slice(held);
      ctx.log.info(
        `no validation file: held out ${plural(held, "document")} of ${n} (seed ${p.split.seed})`,
      );
    }
    const labels = [...new Set(trainDocs.flatMap((d) => d.entities.map((e) => e.label)))].sort();
    ctx.log.info(`entity types: ${labels.join(", ")}`);
    const out = await StreamOutput.create<"ner-dataset">(ctx.output("dataset"), {
      artifact: "ner-dataset",
      format: p.format,
      labels,
      skipped,
      train: trainDocs.length,
      validation: validationDocs.length,
    });
    try {
      const docs = { train: trainDocs, validation: validationDocs };
      for (const split of SPLITS) {
        for (const [i, doc] of docs[split].entries()) {
          if (i % 5000 === 0) await checkAbort(ctx.signal);
          await out.write({ split, text: doc.text, entities: doc.entities, source: doc.source });
        }
      }
    } catch (error) {
      await out.abort();
      throw error;
    }
    await out.end({ train: trainDocs.length, validation: validationDocs.length });
  },
});
