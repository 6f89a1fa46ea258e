/**
 * Our logits for a model directory, for tools/export/check_export.py to compare with PyTorch.
 *
 *     deno run -A tools/export/our_logits.ts <model dir> <out.json>   # any exported model directory
 *     deno run -A tools/export/our_logits.ts --fixture                # writes tests/testdata/exported_tiny
 *
 * `--fixture` trains a tiny BERT (vocabulary of tests/testdata/tokenizer/bert_uncased) for a
 * few steps, saves it with `saveModelDir` as the train stage does, and writes
 * `our_logits.json` beside it: seeded input ids, a padded and an unpadded batch, and the
 * logits of the cpu backend. Then:
 *
 *     /usr/bin/python3 tools/export/check_export.py tests/testdata/exported_tiny
 *
 * @module
 */
import { setupBackend } from "../../ner/bert/backend.ts";
import { makeBertConfig } from "../../ner/bert/config.ts";
import { BertModel } from "../../ner/bert/model.ts";
import { trainTokenClassifier } from "../../ner/bert/trainer.ts";
import { loadModelDir, saveModelDir } from "../../ner/bert/checkpoint.ts";
import { mulberry32 as rng } from "../../ner/random.ts";

/** Rows of [CLS] random pieces [SEP] and padding: lengths give the real tokens of each row. */
function rows(vocab: number, lengths: number[], seqLen: number, next: () => number) {
  const ids: number[][] = [];
  const mask: number[][] = [];
  for (const len of lengths) {
    const row = Array.from(
      { length: seqLen },
      (_, t) =>
        t === 0 ? 2 : t === len - 1 ? 3 : t < len ? 5 + Math.floor(next() * (vocab - 5)) : 0,
    );
    ids.push(row);
    mask.push(row.map((_, t) => (t < len ? 1 : 0)));
  }
  return { ids, mask };
}

/** Writes our logits for seeded inputs of the model in `dir`. */
export async function ourLogits(dir: string, out: string): Promise<void> {
  await setupBackend("cpu");
  const ckpt = await loadModelDir(dir);
  const model = BertModel.fromWeights(ckpt.config, ckpt.labels.length, ckpt.weights);
  const next = rng(7);
  const seqLen = Math.min(16, ckpt.config.max_position_embeddings);
  const cases = [
    { name: "padded", ...rows(ckpt.config.vocab_size, [seqLen, 9, 4], seqLen, next) },
    { name: "unpadded", ...rows(ckpt.config.vocab_size, [12, 12], 12, next) },
  ];
  const result = [];
  for (const c of cases) {
    const t = model.logits({
      ids: Int32Array.from(c.ids.flat()),
      mask: Int32Array.from(c.mask.flat()),
      batchSize: c.ids.length,
      seqLen: c.ids[0]!.length,
    });
    const data = Array.from((await t.data()) as Float32Array);
    t.dispose();
    const n = ckpt.labels.length;
    const logits = c.ids.map((row, r) =>
      row.map((_, k) => data.slice((r * row.length + k) * n, (r * row.length + k + 1) * n))
    );
    result.push({ ...c, logits });
  }
  model.dispose();
  await Deno.writeTextFile(
    out,
    JSON.stringify({ generator: "tools/export/our_logits.ts (cpu backend)", cases: result }) + "\n",
  );
}

async function fixture(): Promise<void> {
  const root = new URL("../..", import.meta.url).pathname;
  const tokenizer = `${root}tests/testdata/tokenizer/bert_uncased`;
  const dir = `${root}tests/testdata/exported_tiny`;
  const vocab = (await Deno.readTextFile(`${tokenizer}/vocab.txt`)).trim().split("\n").length;
  const config = makeBertConfig(vocab, {
    hidden_size: 16,
    num_attention_heads: 2,
    intermediate_size: 32,
    num_hidden_layers: 2,
    max_position_embeddings: 32,
    initializer_range: 0.3,
  });
  const labels = ["O", "B-LC", "I-LC", "B-PS", "I-PS"];
  await setupBackend("cpu");
  const next = rng(3);
  const train = [0, 1, 2, 3].map(() => {
    const { ids, mask } = rows(vocab, [16, 11, 7, 16], 16, next);
    const flat = ids.flat();
    return {
      ids: Int32Array.from(flat),
      mask: Int32Array.from(mask.flat()),
      labels: Int32Array.from(flat.map((id, i) => (mask.flat()[i] && id > 4 ? id % 5 : -100))),
      batchSize: 4,
      seqLen: 16,
    };
  });
  const result = await trainTokenClassifier({
    config,
    numLabels: labels.length,
    epochs: 3,
    learningRate: 3e-3,
    weightDecay: 0.01,
    warmupRatio: 0.1,
    maxGradNorm: 1,
    seed: 11,
    train,
    workers: 1,
  });
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await saveModelDir(dir, config, labels, result.weights, tokenizer);
  await ourLogits(dir, `${dir}/our_logits.json`);
  console.log(`wrote ${dir}`);
}

if (import.meta.main) {
  const [a, b] = Deno.args;
  if (a === "--fixture") await fixture();
  else if (a && b) await ourLogits(a, b);
  else {
    console.error("usage: our_logits.ts <model dir> <out.json> | --fixture");
    Deno.exit(2);
  }
}
