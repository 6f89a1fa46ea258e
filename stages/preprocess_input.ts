/**
 * Stage `preprocess-input`: tokenizes documents into word-pieces with [CLS]/[SEP], ids and,
 * for every piece, its character span in the original text. The tokenizer is a Hugging Face
 * tokenizer directory, or a WordPiece vocabulary learned from the training texts.
 *
 * @module
 */

import { defineStage } from "../runner/stage.ts";
import { boundaryCoverage } from "../ner/align.ts";
import type { Dataset, EncodedDocument } from "../ner/types.ts";
import schema from "../schemas/preprocess-input.schema.json" with { type: "json" };
import {
  checkAbort,
  type EncodedArtifact,
  readArtifact,
  windowsByDoc,
  writeJson,
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

/** Boundary coverage of one split's windows, in the artifact's snake_case. */
function coverageOf(docs: Dataset["train"], windows: readonly EncodedDocument[]) {
  const byDoc = windowsByDoc(windows);
  const c = boundaryCoverage(
    docs.map((d, i) => ({ windows: byDoc.get(i) ?? [], entities: d.entities })),
  );
  return { entities: c.entities, on_boundaries: c.onBoundaries, share: c.share };
}

function percent(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}

/** How many documents the transformers.js cross-check looks at. */
const CROSS_CHECK = 50;

/** Documents tokenized between two looks at the abort signal. */
const DOCS_PER_CHECK = 200;

/** The `preprocess-input` stage kind. */
export const preprocessInput = defineStage<PreprocessInputParams>({
  name: "preprocess-input",
  version: 2,
  description: schema.description,
  schema,
  inputs: { dataset: { type: "ner-dataset", description: "Output of load" } },
  outputs: {
    encoded: {
      type: "ner-encoded",
      description: "Word-piece ids, tokens and original-text offsets per window",
      extension: ".json",
    },
    tokenizer: {
      type: "tokenizer",
      description: "Hugging Face tokenizer files (tokenizer.json, vocab.txt, ...)",
      kind: "dir",
    },
  },
  module: import.meta.url,
  async run(ctx) {
    const tk = await import("../ner/tokenizer/mod.ts");
    const p = ctx.params;
    const dataset = await readArtifact(ctx.inputs, "dataset", "ner-dataset");
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
      const vocab = tk.learnWordPiece(dataset.train.map((d) => d.text), {
        vocabSize: learn.vocab_size,
        lowercase: learn.lowercase,
        minFrequency: learn.min_frequency,
        hangul: learn.hangul,
        ...(learn.entity_boundaries
          ? { cuts: dataset.train.map((d) => d.entities.flatMap((e) => [e.start, e.end])) }
          : {}),
      });
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
    // Our offsets come from our own WordPiece pass; check it gives transformers.js's ids.
    for (const doc of dataset.train.slice(0, CROSS_CHECK)) {
      const ours = tk.tokenizePieces(tok, doc.text).ids;
      const theirs = tok.encodeIds(doc.text).slice(1, -1);
      if (ours.join() !== theirs.join()) {
        throw new Error(
          `Tokenizer mismatch with transformers.js on ${doc.source.file}:${doc.source.line}: ` +
            `ours ${ours.slice(0, 20).join(",")} vs ${theirs.slice(0, 20).join(",")}`,
        );
      }
    }
    const report = { documents_windowed: 0, windows_added: 0, documents_truncated: 0 };
    const encode = async (docs: Dataset["train"]) => {
      const out: EncodedDocument[] = [];
      for (const [i, doc] of docs.entries()) {
        if (i % DOCS_PER_CHECK === 0) await checkAbort(ctx.signal);
        const r = tk.encodeDocument(tok, doc.text, { maxLength: p.max_length, stride: p.overflow });
        if (r.truncated && p.overflow === "window") {
          report.documents_windowed++;
          report.windows_added += r.windows.length - 1;
        } else if (r.truncated) report.documents_truncated++;
        r.windows.forEach((w) => out.push({ doc: i, ...w }));
        if (i % 500 === 0) ctx.progress.update(i, docs.length, "tokenizing");
      }
      return out;
    };
    const train = await encode(dataset.train);
    const validation = await encode(dataset.validation);
    const pieces = train.reduce((n, w) => n + w.ids.length, 0);
    ctx.log.info(
      `train ${train.length} windows (${(pieces / Math.max(1, train.length)).toFixed(1)} pieces ` +
        `on average), validation ${validation.length} windows`,
    );
    const coverage = {
      train: coverageOf(dataset.train, train),
      validation: coverageOf(dataset.validation, validation),
    };
    ctx.log.info(
      `boundary coverage (entities that start and end on word-piece boundaries): ` +
        (["train", "validation"] as const).map((s) =>
          `${s} ${percent(coverage[s].share)} (${coverage[s].on_boundaries} of ${
            coverage[s].entities
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
    const artifact: EncodedArtifact = {
      max_length: p.max_length,
      overflow: p.overflow,
      pad_id: tok.padId,
      vocab_size: tok.vocab.length,
      splits: { train, validation },
      report: { ...report, boundary_coverage: coverage },
    };
    await writeJson(ctx.output("encoded"), artifact);
  },
});
