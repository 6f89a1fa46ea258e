/**
 * `deno task bench --decoding <out dir>`: what the decoder makes of one trained model's
 * validation predictions. It reads a NER pipeline's outputs (`<out dir>/train/model`,
 * `tensorize/batches.bin`, `preprocess-input/encoded.jsonl`, `load/dataset.jsonl`), computes the
 * class probabilities once, and scores the exact character spans of:
 *
 * - `pieces`: the most probable valid BIO sequence at any piece boundary;
 * - `filter`: the same, then the entities that break the model's boundary rules dropped;
 * - `rules`: the most probable valid sequence under the rules (what validate and predict do);
 *
 * then, for the `rules` decode, span F1 when the entities scored under a `min_score` are dropped.
 * With a CRF head every decode is the CRF's Viterbi. Figures for docs/ner.md come from here.
 *
 *     deno task bench --decoding out/ner-klue [--json]
 *
 * @module
 */

import { benchArgs } from "./_args.ts";
import { spansFromTags } from "../ner/align.ts";
import { decodeBio } from "../ner/bio_decode.ts";
import { type Boundaries, unitBoundaries } from "../ner/boundaries.ts";
import { validationFit } from "../ner/evaluate.ts";
import { decodeCrf } from "../ner/crf_decode.ts";
import { characterMetrics } from "../ner/metrics.ts";
import { IGNORE_INDEX } from "../ner/labels.ts";
import { decodeBatches } from "../ner/batches.ts";
import { loadModelDir } from "../ner/bert/checkpoint.ts";
import { openStream } from "../stages/_artifacts.ts";
import type { EncodedWindow, EntitySpan } from "../ner/types.ts";

const USAGE = `usage: deno task bench --decoding <out dir of a NER pipeline> [--json]
  e.g. deno task bench --decoding out/ner-klue`;

const { values, positionals } = benchArgs(
  { json: { type: "boolean" }, help: { type: "boolean" } },
  { usage: USAGE },
);
const dir = positionals[0];
if (!dir) {
  console.error(`error: give the out/ directory of a NER pipeline that ran\n${USAGE}`);
  Deno.exit(2);
}

/** Records of one split of a stream artifact. */
async function records<T>(path: string, type: "ner-encoded" | "ner-dataset"): Promise<T[]> {
  const input = await openStream({ x: path }, "x", type);
  const out: T[] = [];
  for await (const r of input.records) if (r.split === "validation") out.push(r as T);
  return out;
}

const windows = await records<EncodedWindow>(
  `${dir}/preprocess-input/encoded.jsonl`,
  "ner-encoded",
);
const docs = await records<{ text: string; entities: EntitySpan[] }>(
  `${dir}/load/dataset.jsonl`,
  "ner-dataset",
);
const batches = decodeBatches(await Deno.readFile(`${dir}/tensorize/batches.bin`)).validation ?? [];
const ckpt = await loadModelDir(`${dir}/train/model`, { complete: true });
const labels = ckpt.labels;
const rules: Boundaries = ckpt.boundaries ?? { mode: "pieces", tails: new Set() };
const pieces: Boundaries = { mode: "pieces", tails: new Set() };

const { setupBackend } = await import("../ner/bert/backend.ts");
const { BertModel } = await import("../ner/bert/model.ts");
const backend = await setupBackend("wasm");
const model = BertModel.fromWeights(ckpt.config, labels.length, ckpt.weights);
const probs = await Promise.all(batches.map((b) => model.predictProbabilities(b)));
model.dispose();

/** One window's decode: its units and the spans, with scores, under `b` (or none). */
function decodeRow(b: number, r: number, bounds: Boundaries | null) {
  const batch = batches[b]!;
  const T = batch.seqLen;
  const n = labels.length;
  const w = windows[batch.rows[r]!]!;
  const len = Math.min(w.ids.length, T);
  const units = Array.from({ length: len }, (_, k) => batch.labels[r * T + k] !== IGNORE_INDEX);
  const row = probs[b]!.subarray(r * T * n, (r * T + len) * n);
  const text = docs[w.doc]!.text;
  const u = bounds ? unitBoundaries(text, w, units, bounds) : undefined;
  const { tags, scores } = ckpt.crf
    ? decodeCrf(row, labels, units, ckpt.crf, u)
    : decodeBio(row, labels, units, u ? { boundaries: u } : {});
  return { w, units, spans: spansFromTags(w.offsets, tags, units, scores) };
}

type Scored = EntitySpan & { score?: number };
const types = [...new Set(labels.filter((l) => l !== "O").map((l) => l.slice(2)))].sort();
const score = (pred: Scored[][]) =>
  characterMetrics(docs.map((d) => d.text), docs.map((d) => d.entities), pred, types);

const variants: Record<string, Scored[][]> = { pieces: [], filter: [], rules: [] };
for (const v of Object.values(variants)) docs.forEach(() => v.push([]));
batches.forEach((batch, b) => {
  for (let r = 0; r < batch.batchSize; r++) {
    const loose = decodeRow(b, r, pieces);
    const { w, units } = loose;
    variants.pieces![w.doc]!.push(...loose.spans);
    // The filter: what the rules allow, as start and end offsets of this window.
    const u = unitBoundaries(docs[w.doc]!.text, w, units, rules);
    const starts = new Set<number>();
    const ends = new Set<number>();
    w.offsets.forEach((off, k) => {
      if (!off || !units[k]) return;
      if (u.start[k]) starts.add(off[0]);
      let last = k;
      while (last + 1 < units.length && w.offsets[last + 1] && !units[last + 1]) last++;
      if (u.end[k]) ends.add(w.offsets[last]![1]);
    });
    variants.filter![w.doc]!.push(
      ...loose.spans.filter((s) => starts.has(s.start) && ends.has(s.end)),
    );
    variants.rules![w.doc]!.push(...decodeRow(b, r, rules).spans);
  }
});

const fit = validationFit(batches, { windows, docs }, rules);
const table = Object.entries(variants).map(([name, pred]) => {
  const m = score(pred);
  return {
    decode: name,
    span_f1: m.f1,
    span_precision: m.precision,
    span_recall: m.recall,
    char_macro_f1: m.char_macro_f1,
    entities: pred.reduce((s, d) => s + d.length, 0),
  };
});
const thresholds = [0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9].map((t) => {
  const m = score(variants.rules!.map((d) => d.filter((s) => (s.score ?? 1) >= t)));
  return { min_score: t, span_f1: m.f1, span_precision: m.precision, span_recall: m.recall };
});
const result = {
  model: `${dir}/train/model`,
  head: ckpt.crf ? "crf" : "softmax",
  backend: backend.backend,
  boundaries: { mode: rules.mode, tails: rules.tails.size, ...fit },
  decodes: table,
  min_score: thresholds,
};
if (values.json) {
  console.log(JSON.stringify(result, null, 2));
} else {
  const f = (x: number) => x.toFixed(4);
  console.log(`${result.model} (${result.head} head, ${result.backend})`);
  console.log(
    `boundary rules ${rules.mode} (${rules.tails.size} tails): ${fit.inexpressible} of ` +
      `${fit.entities} gold entities cannot be given under them`,
  );
  console.log("| decode | span F1 | P | R | char macro F1 | entities |");
  console.log("| --- | --- | --- | --- | --- | --- |");
  for (const t of table) {
    console.log(
      `| ${t.decode} | ${f(t.span_f1)} | ${f(t.span_precision)} | ${f(t.span_recall)} | ` +
        `${f(t.char_macro_f1)} | ${t.entities} |`,
    );
  }
  console.log("| min_score | span F1 | P | R |");
  console.log("| --- | --- | --- | --- |");
  for (const t of thresholds) {
    console.log(
      `| ${t.min_score} | ${f(t.span_f1)} | ${f(t.span_precision)} | ${f(t.span_recall)} |`,
    );
  }
}
