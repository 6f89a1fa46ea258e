import assert from "node:assert/strict";
import {
  type AutoCandidate,
  autoCandidates,
  BackendUnavailableError,
  pickAuto,
  probeWebGpu,
  setupBackend,
  TENSORFLOW_PACKAGES,
} from "../ner/bert/backend.ts";
import { makeBertConfig } from "../ner/bert/config.ts";
import { type Batch, trainTokenClassifier } from "../ner/bert/trainer.ts";

/** A machine as `auto` sees it: which candidates start. */
function machine(available: Record<string, string>): AutoCandidate[] {
  return autoCandidates().map((c) => ({
    ...c,
    start: () =>
      c.label in available
        ? Promise.resolve(available[c.label]!)
        : Promise.reject(new Error("not here")),
  }));
}

Deno.test("auto tries tensorflow on a GPU, WebGPU, tensorflow on the CPU, wasm, then cpu", () => {
  assert.deepEqual(autoCandidates().map((c) => c.label), [
    "tensorflow (GPU)",
    "webgpu",
    "tensorflow (CPU)",
    "wasm",
    "cpu",
  ]);
  assert.deepEqual(TENSORFLOW_PACKAGES, ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"]);
});

Deno.test("auto picks wasm on a CPU-only machine, WebGPU with a GPU, tfjs-node-gpu when present", async () => {
  const cpuOnly = await pickAuto(machine({ wasm: "WebAssembly", cpu: "js" }));
  assert.equal(cpuOnly.backend, "wasm");
  assert.match(cpuOnly.reason, /webgpu unavailable \(not here\).*using wasm/);
  const gpu = await pickAuto(machine({ webgpu: "adapter NVIDIA H100", wasm: "", cpu: "" }));
  assert.equal(gpu.backend, "webgpu");
  const tfGpu = await pickAuto(
    machine({ "tensorflow (GPU)": "gpu", webgpu: "", "tensorflow (CPU)": "", wasm: "", cpu: "" }),
  );
  assert.equal(tfGpu.backend, "tensorflow");
  const tfCpu = await pickAuto(machine({ "tensorflow (CPU)": "cpu", wasm: "", cpu: "" }));
  assert.deepEqual([tfCpu.backend, tfCpu.reason.includes("using tensorflow (CPU)")], [
    "tensorflow",
    true,
  ]);
  await assert.rejects(pickAuto(machine({})), BackendUnavailableError);
});

Deno.test("auto on this machine picks a backend and says why", async () => {
  const choice = await setupBackend("auto");
  const probe = await probeWebGpu();
  if (probe.ok && !probe.fallback) assert.equal(choice.backend, "webgpu");
  else assert.match(choice.backend, /^(wasm|tensorflow)$/);
  assert.match(choice.reason, /^auto: /);
  console.log(`auto chose ${choice.backend}: ${choice.reason}`);
});

const tensorflowPackage = TENSORFLOW_PACKAGES.find((p) => {
  try {
    import.meta.resolve(p);
    return true;
  } catch {
    return false;
  }
});
if (!tensorflowPackage) {
  console.log(
    "skipping the tfjs-node test: neither @tensorflow/tfjs-node-gpu nor @tensorflow/tfjs-node " +
      "is in deno.json's imports (see docs/performance.md, tfjs-node and tfjs-node-gpu)",
  );
}

Deno.test({
  name: "the tensorflow backend loads from tfjs-node when it is installed",
  ignore: !tensorflowPackage,
  async fn() {
    const choice = await setupBackend("tensorflow");
    assert.equal(choice.backend, "tensorflow");
    const tf = await import("@tensorflow/tfjs-core");
    const product = tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]]));
    assert.deepEqual(await product.data(), new Float32Array([11]));
    await setupBackend("wasm");
  },
});

/** One batch where the label of a token is its id's parity. */
function batch(): Batch {
  const T = 7;
  const B = 3;
  const ids = new Int32Array(B * T);
  const mask = new Int32Array(B * T);
  const labels = new Int32Array(B * T).fill(-100);
  for (let r = 0; r < B; r++) {
    const len = 4 + r;
    for (let t = 0; t < len; t++) {
      const id = t === 0 ? 1 : t === len - 1 ? 2 : 3 + ((r * 7 + t * 5) % 20);
      ids[r * T + t] = id;
      mask[r * T + t] = 1;
      if (t > 0 && t < len - 1) labels[r * T + t] = id % 2;
    }
  }
  return { ids, mask, labels, batchSize: B, seqLen: T };
}

Deno.test({
  name: "one training step agrees on cpu, wasm and webgpu (loss within 1e-4, weights within 1e-5)",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // Dropout on: each backend makes its masks with its own kernel (a WGSL shader on WebGPU)
    // from the same counter-based hash, so all three compute the same function.
    const config = makeBertConfig(24, {
      hidden_size: 16,
      num_attention_heads: 2,
      intermediate_size: 32,
      num_hidden_layers: 1,
      max_position_embeddings: 16,
      hidden_dropout_prob: 0.2,
      attention_probs_dropout_prob: 0.2,
    });
    const step = async (backend: "cpu" | "wasm" | "webgpu") => {
      await setupBackend(backend);
      let loss = NaN;
      const result = await trainTokenClassifier({
        config,
        numLabels: 2,
        epochs: 1,
        learningRate: 1e-2,
        weightDecay: 0.01,
        warmupRatio: 0,
        maxGradNorm: 1,
        seed: 3,
        workers: 1,
        train: [batch()],
        onStep: (s) => void (loss = s.loss),
      });
      return { loss, weights: result.weights };
    };
    const probe = await probeWebGpu();
    const backends: ("cpu" | "wasm" | "webgpu")[] = probe.ok
      ? ["cpu", "wasm", "webgpu"]
      : ["cpu", "wasm"];
    if (!probe.ok) console.log(`webgpu left out: ${probe.description}`);
    const runs = [];
    for (const b of backends) runs.push({ backend: b, ...(await step(b)) });
    await setupBackend("wasm");
    const [reference, ...others] = runs;
    for (const other of others) {
      assert.ok(
        Math.abs(other.loss - reference!.loss) < 1e-4,
        `${other.backend} loss ${other.loss} vs cpu ${reference!.loss}`,
      );
      let worst = 0;
      for (const [name, w] of reference!.weights) {
        const o = other.weights.get(name)!.data;
        for (let i = 0; i < w.data.length; i++) {
          worst = Math.max(worst, Math.abs(w.data[i]! - o[i]!));
        }
      }
      assert.ok(worst < 1e-5, `${other.backend}: largest weight difference ${worst}`);
      console.log(
        `${other.backend} vs cpu: loss ${other.loss} vs ${
          reference!.loss
        }, weights within ${worst}`,
      );
    }
  },
});
