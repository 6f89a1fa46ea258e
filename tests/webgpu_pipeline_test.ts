import assert from "node:assert/strict";
import { runBuiltinPipeline } from "./_engine_helpers.ts";
import { probeWebGpu } from "../ner/bert/backend.ts";
import { decodeBatches } from "../ner/batches.ts";
import { parseConllLines, tokenAccuracy } from "../ner/metrics.ts";

const ROOT = new URL("..", import.meta.url).pathname;
// Through the backend module, which keeps WebGPU off OpenGL (see ner/bert/_webgpu_env.ts).
const probe = await probeWebGpu();
const adapter = probe.ok;
if (!adapter) console.log(`skipping the WebGPU pipeline test: ${probe.description}`);

Deno.test({
  name: "the NER pipeline trains and validates a tiny BERT on the webgpu backend",
  ignore: !adapter,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "ner-webgpu-" });
    const summary = await runBuiltinPipeline(`${ROOT}tests/testdata/ner_small/pipeline.yaml`, dir, {
      sets: ["vars.backend=webgpu"],
    });
    for (const s of summary.stages) assert.equal(s.status, "ran", `${s.id}: ${s.error}`);
    const log = (await Deno.readTextFile(`${dir}/out/ner-small/train/log.jsonl`)).trim().split(
      "\n",
    );
    const steps = log.map((l) => JSON.parse(l)).filter((l) => "step" in l);
    // One epoch: a step for every training batch, each on webgpu.
    const batches = decodeBatches(
      await Deno.readFile(`${dir}/out/ner-small/tensorize/batches.bin`),
    );
    assert.deepEqual(
      steps.map((s) => s.step),
      batches.train!.map((_, i) => i + 1),
    );
    assert.ok(steps.every((s) => s.backend === "webgpu" && Number.isFinite(s.loss)));
    const metrics = JSON.parse(
      await Deno.readTextFile(`${dir}/out/ner-small/validate/metrics.json`),
    );
    assert.equal(metrics.backend, "webgpu");
    // The reported accuracy is the one of validate's predictions.
    const conll = parseConllLines(
      await Deno.readTextFile(`${dir}/out/ner-small/validate/predictions.txt`),
    );
    assert.equal(metrics.accuracy, tokenAccuracy(conll.gold, conll.pred));
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name: "the NER pipeline trains and validates a tiny BERT with a CRF head on the webgpu backend",
  ignore: !adapter,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "ner-webgpu-crf-" });
    const summary = await runBuiltinPipeline(`${ROOT}tests/testdata/ner_small/pipeline.yaml`, dir, {
      sets: ["vars.backend=webgpu", "stages.train.with.head=crf", "stages.train.with.epochs=2"],
    });
    for (const s of summary.stages) assert.equal(s.status, "ran", `${s.id}: ${s.error}`);
    const log = (await Deno.readTextFile(`${dir}/out/ner-small/train/log.jsonl`)).trim().split(
      "\n",
    ).map((l) => JSON.parse(l));
    const steps = log.filter((l) => "step" in l);
    assert.ok(steps.length > 0 && steps.every((s) => s.backend === "webgpu"));
    assert.ok(steps.every((s) => Number.isFinite(s.loss) && Number.isFinite(s.grad_norm)));
    const epochs = log.filter((l) => typeof l.epoch === "number" && !("step" in l));
    assert.ok(epochs[1].loss < epochs[0].loss, `loss ${epochs.map((e) => e.loss)}`);
    const config = JSON.parse(
      await Deno.readTextFile(`${dir}/out/ner-small/train/model/config.json`),
    );
    assert.equal(config.nerpipe_head, "crf");
    const metrics = JSON.parse(
      await Deno.readTextFile(`${dir}/out/ner-small/validate/metrics.json`),
    );
    assert.equal(metrics.backend, "webgpu");
    const conll = parseConllLines(
      await Deno.readTextFile(`${dir}/out/ner-small/validate/predictions.txt`),
    );
    assert.equal(metrics.accuracy, tokenAccuracy(conll.gold, conll.pred));
    await Deno.remove(dir, { recursive: true });
  },
});
