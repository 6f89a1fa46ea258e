// `head: crf` through the engine (issue 22, item 3): a tiny NER project trains a CRF head, its
// loss falls, train's per-epoch evaluation and validate decode with the CRF (Viterbi with the
// learned transitions), validate scores it, and predict loads it.
import assert from "node:assert/strict";
import { runBuiltinPipeline } from "./_engine_helpers.ts";
import { tinyProject } from "./_tiny_ner_project.ts";
import { setupBackend } from "../ner/bert/backend.ts";
import { loadModelDir } from "../ner/bert/checkpoint.ts";
import { BertModel } from "../ner/bert/model.ts";
import { decodeBatches } from "../ner/batches.ts";
import { decodeCrf } from "../ner/crf_decode.ts";
import { decodeBio } from "../ner/bio_decode.ts";
import { parseConllLines } from "../ner/metrics.ts";
import { loadPredictor } from "../ner/predict/mod.ts";

const VALIDATE = `  validate:
    uses: validate
    inputs:
      model: train.model
      batches: tensorize.batches
      encoded: preprocess-input.encoded
      dataset: load.dataset
`;

Deno.test({
  name:
    "a tiny CRF head trains (its loss falls), validate decodes it with the CRF, predict loads it",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await tinyProject(
      {
        head: "crf",
        backend: "wasm",
        workers: 2,
        epochs: 10,
        learning_rate: 0.01,
        hidden: 32,
        intermediate: 64,
        checkpoint_every: "epoch",
        // At any piece boundary, so that validate's tags are decodeCrf's without rules below
        // (the CRF decode under boundary rules: tests/decode_boundaries_test.ts).
        boundaries: "pieces",
      },
      {
        trainInputs: ", encoded: preprocess-input.encoded, dataset: load.dataset",
        after: VALIDATE,
      },
    );
    try {
      const summary = await runBuiltinPipeline(`${dir}/pipeline.yaml`, dir);
      for (const s of summary.stages) assert.equal(s.status, "ran", `${s.id}: ${s.error}`);
      const log = (await Deno.readTextFile(`${dir}/out/tiny/train/log.jsonl`)).trim().split("\n")
        .map((l) => JSON.parse(l));
      const epochs = log.filter((l) => typeof l.epoch === "number" && typeof l.step !== "number");
      assert.equal(epochs.length, 10);
      assert.ok(
        epochs[9].loss < epochs[0].loss * 0.7,
        `training loss ${epochs.map((e) => e.loss)}`,
      );
      assert.ok(epochs.every((e) => Number.isFinite(e.validation_loss)));

      const model = `${dir}/out/tiny/train/model`;
      const ckpt = await loadModelDir(model, { complete: true });
      assert.equal(ckpt.config.nerpipe_head, "crf");
      assert.ok(Array.from(ckpt.crf!.transitions).some((x) => x !== 0), "transitions were learned");

      // validate's predictions are the CRF's Viterbi tags of the kept model's probabilities.
      const metrics = JSON.parse(await Deno.readTextFile(`${dir}/out/tiny/validate/metrics.json`));
      assert.ok(metrics.span_f1 >= 0 && metrics.span_f1 <= 1, JSON.stringify(metrics));
      const conll = parseConllLines(
        await Deno.readTextFile(`${dir}/out/tiny/validate/predictions.txt`),
      );
      await setupBackend("wasm");
      const bert = BertModel.fromWeights(ckpt.config, ckpt.labels.length, ckpt.weights);
      const viaCrf: string[] = [];
      const viaBio: string[] = [];
      try {
        const batches = decodeBatches(await Deno.readFile(`${dir}/out/tiny/tensorize/batches.bin`));
        const n = ckpt.labels.length;
        for (const batch of batches.validation!) {
          const probs = await bert.predictProbabilities(batch);
          const T = batch.seqLen;
          for (let r = 0; r < batch.batchSize; r++) {
            const units = Array.from({ length: T }, (_, t) => batch.labels[r * T + t] !== -100);
            const row = probs.subarray(r * T * n, (r + 1) * T * n);
            viaCrf.push(
              ...decodeCrf(row, ckpt.labels, units, ckpt.crf!).tags.filter((t) => t !== null),
            );
            viaBio.push(...decodeBio(row, ckpt.labels, units).tags.filter((t) => t !== null));
          }
        }
      } finally {
        bert.dispose();
      }
      assert.deepEqual(conll.pred.flat(), viaCrf);
      // The transitions matter: on some units the CRF's tags are not decodeBio's.
      const differ = viaCrf.filter((t, i) => t !== viaBio[i]).length;
      assert.ok(differ > 0, "the CRF decodes as decodeBio on every unit");
      assert.ok(metrics.span_f1 > 0, JSON.stringify(metrics));
      console.log(
        `CRF tags differ from decodeBio's on ${differ} of ${viaCrf.length} validation units; ` +
          `span F1 ${metrics.span_f1}`,
      );
      // train's evaluation decodes as validate does: the kept epoch's span F1 is validate's.
      const kept = log[log.length - 1];
      assert.equal(epochs[kept.kept_epoch - 1].span_f1, metrics.span_f1);

      const predictor = await loadPredictor(model, { backend: "wasm" });
      try {
        const [entities] = await predictor.predict(["이순신 장군은 1545년 서울에서 태어났다."]);
        for (const e of entities!) assert.ok(e.score >= 0 && e.score <= 1, JSON.stringify(e));
      } finally {
        predictor.dispose();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
