/**
 * Stage `load`: reads a NER corpus (KMOU, CoNLL, KLUE or JSONL) into documents, each its
 * original text and entity character spans, plus the training tag set. The corpus is read and
 * the documents written a window at a time (unless a validation split must be held out of the
 * training file, which needs every document at hand).
 *
 * @module
 */

import { defineStage, type ParamsOf } from "../runner/stage.ts";
import { relative } from "../runner/paths.ts";
import { mulberry32, shuffled } from "../ner/random.ts";
import { CorpusError, streamCorpus } from "../ner/formats/mod.ts";
import type { Document } from "../ner/types.ts";
import schema from "../schemas/load.schema.ts";
import { checkAbort, type Split, StreamOutput } from "./_artifacts.ts";

/** Parameters of `load`, typed from its schema (schemas/load.schema.ts). */
export type LoadParams = ParamsOf<typeof schema>;

/** How many skipped records are shown, one line each. */
const SHOWN = 5;

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

/** The `load` stage kind. */
export const load = defineStage({
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
    const out = await StreamOutput.create<"ner-dataset">(ctx.output("dataset"), {
      artifact: "ner-dataset",
      format: p.format,
    });
    const counts = { train: 0, validation: 0 };
    const types = new Set<string>();
    let skipped = 0;
    // The engine hands path parameters over absolute; a document's source names its file
    // relative to the project root, so that the dataset's bytes are the same in every checkout
    // (its key is) and no home directory ends up in a shared cache.
    const sources = new Map<string, string>();
    const sourceFile = (file: string) => {
      let rel = sources.get(file);
      if (rel === undefined) sources.set(file, rel = relative(ctx.root, file));
      return rel;
    };
    const write = async (split: Split, doc: Document) => {
      if (++counts[split] % 5000 === 0) await checkAbort(ctx.signal);
      if (split === "train") { for (const e of doc.entities) types.add(e.label); }
      const source = { ...doc.source, file: sourceFile(doc.source.file) };
      await out.write({ split, text: doc.text, entities: doc.entities, source });
    };
    /**
     * Reads one corpus file a window at a time, writing each document to `split` as it is
     * read, or (no split) keeping them to hold out a validation split.
     */
    const read = async (path: string, what: string, split: Split | undefined) => {
      const kept: Document[] = [];
      const problems: string[] = [];
      let documents = 0;
      let bad = 0;
      const records = streamCorpus(path, {
        format: p.format,
        onError: p.on_error,
        tagColumn: p.tag_column,
        signal: ctx.signal,
      });
      for await (const record of records) {
        if (record instanceof CorpusError) {
          if (p.on_error !== "skip") throw record;
          // Each message names its file:line:col already.
          if (bad++ < SHOWN) problems.push(record.message);
          continue;
        }
        documents++;
        if (split) await write(split, record);
        else kept.push(record);
      }
      ctx.log.info(`${what}: ${plural(documents, "document")}`);
      if (bad) {
        ctx.log.warn(`${what}: skipped ${bad} malformed records (on_error: skip)`);
        for (const problem of problems) ctx.log.warn(`  ${problem}`);
        if (bad > SHOWN) ctx.log.warn(`  and ${bad - SHOWN} more`);
      }
      skipped += bad;
      if (documents === 0) {
        throw new CorpusError(
          `No documents in the ${what} file "${path}"` +
            (bad ? `: all ${bad} records were malformed and skipped` : ""),
          {
            file: path,
            line: 0,
            hint: bad
              ? "fix the records listed above (on_error: error stops at the first one)"
              : `give a file with at least one record in the "${p.format}" format`,
          },
        );
      }
      return kept;
    };
    try {
      if (p.validation) {
        // Both files streamed: memory is a window of the corpus, not the corpus.
        await read(p.train, "train", "train");
        await read(p.validation, "validation", "validation");
      } else {
        // Holding out a seeded share needs every document at hand.
        const trainDocs = await read(p.train, "train", undefined);
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
        ctx.log.info(
          `no validation file: held out ${plural(held, "document")} of ${n} (seed ${p.split.seed})`,
        );
        for (const doc of order.slice(held)) await write("train", doc);
        for (const doc of order.slice(0, held)) await write("validation", doc);
      }
    } catch (error) {
      await out.abort();
      throw error;
    }
    const labels = [...types].sort();
    ctx.log.info(`entity types: ${labels.join(", ")}`);
    await out.end({ labels, skipped, ...counts });
  },
});
