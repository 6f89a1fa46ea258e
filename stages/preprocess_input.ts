/**
 * Stage `preprocess-input`: tokenizes documents into word-pieces with [CLS]/[SEP], ids and,
 * for every piece, its character span in the original text. The tokenizer is a Hugging Face
 * tokenizer directory, or a WordPiece vocabulary learned from the training texts.
 *
 * @module
 */

import { defineStage } from "../runner/stage.ts";
import { boundaryCoverage } from "../ner/align.ts";
import type { Document } from "../ner/types.ts";
import schema from "../schemas/preprocess-input.schema.json" with { type: "json" };
import {
  checkAbort,
  type CoverageReport,
  type DatasetEnd,
  type EncodedRecord,
  openStream,
  readStreamEnd,
  type Split,
  SPLITS,
  StreamOutput,
} from "./_artifacts.ts";

/** Parameters of `preprocess-input` (defaults in schemas/preprocess-input.schema.json). */
export interface PreprocessInputParams {
  tokenizer: {
    from?: string;
    learn?: {
      vocab_size: number;
      lowercase: boolean;
      min_frequency: number;
      entity_boundaries: boolean;
      hangul: boolean;
    };
  };
  max_length: number;
  overflow: "window" | "truncate";
}

/** Boundary coverage of one split, summed document by document, in the artifact's snake_case. */
class Coverage {
  entities = 0;
  onBoundaries = 0;
  add(doc: Document, windows: readonly EncodedRecord[]): void {
    const c = boundaryCoverage([{ windows, entities: doc.entities }]);
    this.entities += c.entities;
    this.onBoundaries += c.onBoundaries;
  }
  report(): CoverageReport {
    const share = this.entities === 0 ? 1 : this.onBoundaries / this.entities;
    return { entities: this.entities, on_boundaries: this.onBoundaries, share };
  }
}

function percent(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}

/** How many documents the transformers.js cross-check looks at. */
const CROSS_CHECK = 50;

/** Documents tokenized between two looks at the abort signal. */
const DOCS_PER_CHECK = 200;

type TokenizerModule = typeof import("../ner/tokenizer/mod.ts");

/** Checks that our WordPiece pass gives transformers.js's ids on one document. */
function crossCheck(
  tk: TokenizerModule,
  tok: Awaited<ReturnType<TokenizerModule["loadTokenizer"]>>,
  doc: Document,
): void {
  const ours = tk.tokenizePieces(tok, doc.text).ids;
  const theirs = tok.encodeIds(doc.text).slice(1, -1);
  if (ours.join() !== theirs.join()) {
    throw new Error(
      `Tokenizer mismatch with transformers.js on ${doc.source.file}:${doc.source.line}: ` +
        `ours ${ours.slice(0, 20).join(",")} vs ${theirs.slice(0, 20).join(",")}`,
    );
  }
}

/** The `preprocess-input` stage kind. */
export const preprocessInput = defineStage<PreprocessInputParams>({
  name: "preprocess-input",
  version: 3,
  description: schema.description,
  schema,
  inputs: { dataset: { type: "ner-dataset", description: "Output of load" } },
  outputs: {
    encoded: {
      type: "ner-encoded",
      description: "Word-piece ids, tokens and original-text offsets per window",
      extension: ".jsonl",
    },
    tokenizer: {
      type: "tokenizer",
      description: "Hugging Face tokenizer files (tokenizer.json, vocab.txt, ...)",
      kind: "dir",
    },
  },
  module: import.meta.url,
  async run(ctx) {
    const tk = await import(
      new URL("../ner/tokenizer/mod.ts", import.meta.url).href
    ) as typeof import("../ner/tokenizer/mod.ts");
    const p = ctx.params;
    const dir = ctx.output("tokenizer");
    if (p.tokenizer.from) {
      const from = p.tokenizer.from;
      for await (const entry of Deno.readDir(from)) {
        if (
          entry.isFile &&
          /^(tokenizer\.json|tokenizer_config\.json|special_tokens_map\.json|vocab\.txt)$/.test(
            entry.name,
          )
        ) {
          await Deno.copyFile(`${from}/${entry.name}`, `${dir}/${entry.name}`);
        }
      }
    } else {
      await checkAbort(ctx.signal);
      const learn = p.tokenizer.learn!;
      const started = performance.now();
      // First pass over the dataset: the training texts alone (and entity ends if asked).
      const texts: string[] = [];
      const cuts: number[][] = [];
      const first = await openStream(ctx.inputs, "dataset", "ner-dataset");
      for await (const doc of first.records) {
        if (doc.split !== "train") break;
        if (texts.length % 5000 === 0) await checkAbort(ctx.signal);
        texts.push(doc.text);
        if (learn.entity_boundaries) cuts.push(doc.entities.flatMap((e) => [e.start, e.end]));
      }
      const vocab = tk.learnWordPiece(texts, {
        vocabSize: learn.vocab_size,
        lowercase: learn.lowercase,
        minFrequency: learn.min_frequency,
        hangul: learn.hangul,
        ...(learn.entity_boundaries ? { cuts } : {}),
      });
      texts.length = 0;
      await tk.writeTokenizerFiles(dir, vocab, {
        lowercase: learn.lowercase,
        maxLength: p.max_length,
      });
      ctx.log.info(
        `learned a WordPiece vocabulary of ${vocab.length} pieces in ${
          ((performance.now() - started) / 1000).toFixed(1)
        } s`,
      );
    }
    await checkAbort(ctx.signal);
    const tok = await tk.loadTokenizer(dir);
    const report = { documents_windowed: 0, windows_added: 0, documents_truncated: 0 };
    const windows = { train: 0, validation: 0 };
    const pieces = { train: 0, validation: 0 };
    const coverage = { train: new Coverage(), validation: new Coverage() };
    const counts = await readStreamEnd(
      ctx.inputs,
      "dataset",
      "ner-dataset",
    ) as unknown as DatasetEnd;
    const total = counts.train + counts.validation;
    const input = await openStream(ctx.inputs, "dataset", "ner-dataset");
    const out = await StreamOutput.create<"ner-encoded">(ctx.output("encoded"), {
      artifact: "ner-encoded",
      max_length: p.max_length,
      overflow: p.overflow,
      pad_id: tok.padId,
      vocab_size: tok.vocab.length,
    });
    try {
      let index = 0;
      let split: Split = "train";
      let doc = 0;
      for await (const { split: s, ...document } of input.records) {
        if (s !== split) [split, doc] = [s, 0];
        // Our offsets come from our own WordPiece pass; check it gives transformers.js's ids.
        if (split === "train" && doc < CROSS_CHECK) crossCheck(tk, tok, document);
        if (index % DOCS_PER_CHECK === 0) await checkAbort(ctx.signal);
        if (index % 500 === 0) ctx.progress.update(index, total, "tokenizing");
        const r = tk.encodeDocument(tok, document.text, {
          maxLength: p.max_length,
          stride: p.overflow,
          tokens: false,
        });
        if (r.truncated && p.overflow === "window") {
          report.documents_windowed++;
          report.windows_added += r.windows.length - 1;
        } else if (r.truncated) report.documents_truncated++;
        const records = r.windows.map(({ tokens: _, ...w }): EncodedRecord => ({
          split,
          doc,
          ...w,
        }));
        for (const w of records) await out.write(w);
        windows[split] += records.length;
        for (const w of records) pieces[split] += w.ids.length;
        coverage[split].add(document, records);
        doc++;
        index++;
      }
    } catch (error) {
      await out.abort();
      throw error;
    }
    ctx.log.info(
      `train ${windows.train} windows (${
        (pieces.train / Math.max(1, windows.train)).toFixed(1)
      } pieces on average), validation ${windows.validation} windows`,
    );
    const boundaryCoverage = {
      train: coverage.train.report(),
      validation: coverage.validation.report(),
    };
    ctx.log.info(
      `boundary coverage (entities that start and end on word-piece boundaries): ` +
        SPLITS.map((s) =>
          `${s} ${percent(boundaryCoverage[s].share)} (${boundaryCoverage[s].on_boundaries} of ${
            boundaryCoverage[s].entities
          })`
        ).join(", "),
    );
    if (report.documents_windowed) {
      ctx.log.info(
        `${report.documents_windowed} documents longer than ${p.max_length} pieces were split ` +
          `into ${report.windows_added} extra windows`,
      );
    }
    if (report.documents_truncated) {
      ctx.log.warn(
        `${report.documents_truncated} documents were truncated to ${p.max_length} pieces`,
      );
    }
    await out.end({ windows, report: { ...report, boundary_coverage: boundaryCoverage } });
  },
});
