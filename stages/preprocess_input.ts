/**
 * Stage `preprocess-input`: tokenizes documents into word-pieces with [CLS]/[SEP], ids and,
 * for every piece, its character span in the original text. The tokenizer is a Hugging Face
 * tokenizer directory, or a WordPiece vocabulary learned from the training texts.
 *
 * @module
 */

import { defineStage, type ParamsOf } from "../runner/stage.ts";
import type { Document } from "../ner/types.ts";
import schema from "../schemas/preprocess-input.schema.ts";
import {
  checkAbort,
  type CoverageReport,
  type DatasetEnd,
  openStream,
  readStreamEnd,
  type Split,
  SPLITS,
  StreamOutput,
} from "./_artifacts.ts";
import type { WorkerTask } from "./_preprocess_worker.ts";
import { addCounts, partFile, PartProblem, partsMinBytes, PartWorker } from "./_parts.ts";

/** Parameters of `preprocess-input`, typed from its schema (schemas/preprocess-input.schema.ts). */
export type PreprocessInputParams = ParamsOf<typeof schema>;

function percent(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}

/** How many documents the transformers.js cross-check looks at. */
const CROSS_CHECK = 50;

/** Documents tokenized between two looks at the abort signal. */
const DOCS_PER_CHECK = 200;

type TokenizerModule = typeof import("../ner/tokenizer/mod.ts");
type PartModule = typeof import("./_preprocess_part.ts");
type Stats = import("./_preprocess_part.ts").EncodeStats;
type Context = import("../runner/stage.ts").StageContext<PreprocessInputParams>;

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
export const preprocessInput = defineStage({
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
    const pp = await import(
      new URL("./_preprocess_part.ts", import.meta.url).href
    ) as PartModule;
    const p = ctx.params;
    const dir = ctx.output("tokenizer");
    // A large corpus: in two parts at once, if nothing in it needs the single pass (the
    // trailer is read first: it checks the header and gives the training count).
    const counts = await readStreamEnd(
      ctx.inputs,
      "dataset",
      "ner-dataset",
    ) as unknown as DatasetEnd;
    const plan = pp.planParts(ctx.inputs.dataset, counts.train, partsMinBytes());
    if (plan && await inParts(ctx, tk, pp, plan, counts)) return;
    if (p.tokenizer.from) await copyTokenizer(p.tokenizer.from, dir);
    else {
      await checkAbort(ctx.signal);
      const learn = p.tokenizer.learn!;
      const started = performance.now();
      // First pass over the dataset: the words of the training texts (cut at entity ends if
      // asked), counted a text at a time.
      const words = new tk.WordCounts(learn.lowercase);
      const first = await openStream(ctx.inputs, "dataset", "ner-dataset");
      let n = 0;
      for await (const doc of first.records) {
        if (doc.split !== "train") break;
        if (n++ % 5000 === 0) await checkAbort(ctx.signal);
        words.add(
          doc.text,
          learn.entity_boundaries ? doc.entities.flatMap((e) => [e.start, e.end]) : undefined,
        );
      }
      await learnVocabulary(ctx, tk, words, started);
    }
    await checkAbort(ctx.signal);
    const tok = await tk.loadTokenizer(dir);
    await encodeSingle(ctx, tk, pp, tok, counts);
  },
});

/** Copies the files of a Hugging Face tokenizer directory. */
async function copyTokenizer(from: string, dir: string): Promise<void> {
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
}

/** Learns the vocabulary from the counted words and writes the tokenizer files. */
async function learnVocabulary(
  ctx: Context,
  tk: TokenizerModule,
  words: InstanceType<TokenizerModule["WordCounts"]>,
  started: number,
): Promise<void> {
  const p = ctx.params;
  const vocab = tk.learnFromCounts(words, learnOptions(p));
  await tk.writeTokenizerFiles(ctx.output("tokenizer"), vocab, {
    lowercase: p.tokenizer.learn!.lowercase,
    maxLength: p.max_length,
  });
  const parts = tk.vocabularyParts(vocab);
  // The training texts' own characters; the rest of the alphabet is added Hangul syllables.
  const seen = Math.min(words.characters, parts.alphabet);
  const added = parts.alphabet - seen;
  ctx.log.info(
    `learned a WordPiece vocabulary of ${vocab.length} pieces in ${
      ((performance.now() - started) / 1000).toFixed(1)
    } s: ${parts.merged} merged pieces; an alphabet of ${parts.alphabet} characters uses ${
      2 * parts.alphabet
    } entries` +
      (added ? ` (${seen} from the training texts, ${added} Hangul syllables added)` : ""),
  );
  if (parts.merged < 2 * seen) {
    ctx.log.warn(
      `few merged pieces: ${parts.merged}, against ${2 * seen} entries for the ${seen} ` +
        `characters of the training texts, so most words will be split into single characters` +
        (p.tokenizer.learn!.vocab_size !== undefined
          ? `: bound the vocabulary by merges (tokenizer.learn.merges) rather than vocab_size`
          : `: raise tokenizer.learn.merges`),
    );
  }
}

/** The learner's options from the stage's parameters. */
function learnOptions(p: PreprocessInputParams) {
  const learn = p.tokenizer.learn!;
  return {
    merges: learn.merges,
    ...(learn.vocab_size !== undefined ? { vocabSize: learn.vocab_size } : {}),
    lowercase: learn.lowercase,
    minFrequency: learn.min_frequency,
    hangul: learn.hangul,
    cut: learn.entity_boundaries,
  };
}

type Tokenizer = Awaited<ReturnType<TokenizerModule["loadTokenizer"]>>;

/** The header of the `encoded` output. */
function encodedHeader(ctx: Context, tok: Tokenizer) {
  return {
    artifact: "ner-encoded" as const,
    max_length: ctx.params.max_length,
    overflow: ctx.params.overflow,
    pad_id: tok.padId,
    vocab_size: tok.vocab.length,
  };
}

/** Tokenizes the dataset in one pass (`counts`: its trailer, read by the stage). */
async function encodeSingle(
  ctx: Context,
  tk: TokenizerModule,
  pp: PartModule,
  tok: Tokenizer,
  counts: DatasetEnd,
): Promise<void> {
  const p = ctx.params;
  const total = counts.train + counts.validation;
  const input = await openStream(ctx.inputs, "dataset", "ner-dataset");
  const out = await StreamOutput.create<"ner-encoded">(
    ctx.output("encoded"),
    encodedHeader(ctx, tok),
  );
  const stats = pp.emptyStats();
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
      const opts = { maxLength: p.max_length, overflow: p.overflow };
      for (const w of pp.encodeRecords(tok, split, doc, document, opts, stats)) {
        await out.write(w);
      }
      doc++;
      index++;
    }
  } catch (error) {
    await out.abort();
    throw error;
  }
  await finish(ctx, out, stats);
}

/** Logs what was encoded and writes the trailer. */
async function finish(
  ctx: Context,
  out: StreamOutput<"ner-encoded">,
  stats: Stats,
): Promise<void> {
  const p = ctx.params;
  const { windows, pieces, report } = stats;
  ctx.log.info(
    `train ${windows.train} windows (${
      (pieces.train / Math.max(1, windows.train)).toFixed(1)
    } pieces on average), validation ${windows.validation} windows`,
  );
  const coverage = (s: Split): CoverageReport => {
    const c = stats.coverage[s];
    const share = c.entities === 0 ? 1 : c.onBoundaries / c.entities;
    return { entities: c.entities, on_boundaries: c.onBoundaries, share };
  };
  const boundaryCoverage = { train: coverage("train"), validation: coverage("validation") };
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
}

/**
 * Learns the vocabulary (unless one is given) and tokenizes the dataset in two parts at once,
 * the second by a worker. Returns false, having written nothing, when a part holds something
 * the single pass should report.
 */
async function inParts(
  ctx: Context,
  tk: TokenizerModule,
  pp: PartModule,
  plan: import("./_preprocess_part.ts").PartsPlan,
  counts: DatasetEnd,
): Promise<boolean> {
  const p = ctx.params;
  const dir = ctx.output("tokenizer");
  const worker = new PartWorker(new URL("./_preprocess_worker.ts", import.meta.url));
  const ask = <T>(task: WorkerTask) => worker.ask<T>(task);
  const tmp = await partFile(ctx.scratch, "encoded");
  let out: StreamOutput<"ner-encoded"> | undefined;
  try {
    if (p.tokenizer.from) await copyTokenizer(p.tokenizer.from, dir);
    else {
      await checkAbort(ctx.signal);
      const learn = p.tokenizer.learn!;
      const started = performance.now();
      const theirs = ask<{ words: string[]; counts: number[] }>({
        task: "count",
        part: plan.second,
        lowercase: learn.lowercase,
        cut: learn.entity_boundaries,
      });
      const words = await pp.countPart(
        plan.first,
        learn.lowercase,
        learn.entity_boundaries,
        () => checkAbort(ctx.signal),
      );
      const r = await theirs;
      words.merge(r.words, r.counts);
      await learnVocabulary(ctx, tk, words, started);
    }
    await checkAbort(ctx.signal);
    const tok = await tk.loadTokenizer(dir);
    const total = counts.train + counts.validation;
    const output = await StreamOutput.create<"ner-encoded">(
      ctx.output("encoded"),
      encodedHeader(ctx, tok),
    );
    out = output;
    const theirs = ask<Stats>({
      task: "encode",
      part: plan.second,
      tokenizer: dir,
      maxLength: p.max_length,
      overflow: p.overflow,
      out: tmp,
    });
    let index = 0;
    const stats = await pp.encodePart(
      tok,
      plan.first,
      { maxLength: p.max_length, overflow: p.overflow },
      (w) => output.write(w),
      async (split, doc, document) => {
        if (split === "train" && doc < CROSS_CHECK) crossCheck(tk, tok, document);
        if (index % DOCS_PER_CHECK === 0) await checkAbort(ctx.signal);
        if (index % 500 === 0) ctx.progress.update(index, total, "tokenizing");
        index++;
      },
    );
    addCounts(stats, await theirs);
    await output.append(tmp);
    ctx.log.info("tokenized in two parts at once (the stage and a worker)");
    await finish(ctx, output, stats);
    return true;
  } catch (error) {
    await out?.abort();
    if (error instanceof PartProblem) {
      ctx.log.info(`tokenizing in one pass: ${error.message}`);
      return false;
    }
    throw error;
  } finally {
    worker.close();
    await Deno.remove(tmp).catch(() => {});
  }
}
