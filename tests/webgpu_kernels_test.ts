// The fused WGSL kernels against the cpu backend's (JavaScript) versions of the same
// operations, on inputs of awkward sizes: rows wider and narrower than a workgroup,
// tensors smaller and larger than one pass of the sum-of-squares workgroups.
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { probeWebGpu, setupBackend } from "../ner/bert/backend.ts";
import {
  embeddingGrad,
  geluBackward,
  geluForward,
  layerNormBackward,
  layerNormForward,
} from "../ner/bert/_ops.ts";
import { AdamW, globalNorm } from "../ner/bert/adamw.ts";
import { Rng } from "../ner/bert/_random.ts";

const rng = new Rng(11);
const data = (n: number, scale = 1) => rng.fillNormal(new Float32Array(n), scale);

/** Runs `f` on a backend; returns every output tensor's values. */
async function on(
  backend: "cpu" | "webgpu",
  f: () => tf.Tensor[],
): Promise<Float32Array[]> {
  await setupBackend(backend);
  const outs = tf.tidy(f);
  const values = await Promise.all(outs.map((t) => t.data() as Promise<Float32Array>));
  tf.dispose(outs);
  return values;
}

function close(a: Float32Array, b: Float32Array, tol: number, what: string) {
  assert.equal(a.length, b.length, what);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / Math.max(1, Math.abs(b[i]!)));
  }
  assert.ok(worst <= tol, `${what}: worst difference ${worst}`);
}

Deno.test({
  name:
    "fused WebGPU kernels match the cpu backend (GELU, LayerNorm, embedding gradient, global norm, AdamW)",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const probe = await probeWebGpu();
    if (!probe.ok) {
      console.log(`skipped: no WebGPU adapter (${probe.description})`);
      return;
    }
    for (const [rows, h] of [[5, 16], [37, 200], [3, 1]] as const) {
      await t.step(`GELU and LayerNorm, ${rows} x ${h}`, async () => {
        const x = data(rows * h, 3);
        const dy = data(rows * h);
        const gamma = data(h);
        const beta = data(h);
        const f = () => {
          const u = tf.tensor2d(x, [rows, h]);
          const g = tf.tensor2d(dy, [rows, h]);
          const gelu = geluForward(u);
          const ln = layerNormForward(u, tf.tensor1d(gamma), tf.tensor1d(beta), 1e-12);
          const back = layerNormBackward(g, ln.cache);
          return [gelu.y, geluBackward(g, gelu.cache), ln.y, back.dx, back.dgamma, back.dbeta];
        };
        const [cpu, gpu] = [await on("cpu", f), await on("webgpu", f)];
        const names = ["gelu", "gelu grad", "layernorm", "layernorm dx", "dgamma", "dbeta"];
        names.forEach((n, i) => close(gpu[i]!, cpu[i]!, 2e-5, n));
      });
    }
    await t.step("global norm over tensors of 1 to 70,001 elements", async () => {
      const sizes = [1, 7, 64, 2048, 2049, 70_001];
      const values = sizes.map((n) => data(n));
      const f = () => [globalNorm(values.map((v) => tf.tensor1d(v)))];
      const [cpu, gpu] = [await on("cpu", f), await on("webgpu", f)];
      close(gpu[0]!, cpu[0]!, 1e-5, "global norm");
      assert.ok(cpu[0]![0]! > 200, "the norm is not trivially small");
    });
    await t.step("embedding gradient with repeated ids", async () => {
      const n = 300;
      const h = 24;
      const rows = data(n * h);
      const ids = Int32Array.from({ length: n }, (_, i) => (i * 7) % 50);
      const f = () => [embeddingGrad(tf.tensor2d(rows, [n, h]), tf.tensor1d(ids, "int32"), 60)];
      const [cpu, gpu] = [await on("cpu", f), await on("webgpu", f)];
      close(gpu[0]!, cpu[0]!, 1e-5, "embedding gradient");
      assert.ok(cpu[0]!.subarray(50 * h).every((v) => v === 0), "unused rows are zero");
    });
    await t.step("AdamW, two steps, decayed and undecayed parameters", async () => {
      const w = data(300);
      const b = data(30);
      const grads = [data(300), data(30), data(300), data(30)];
      const f = () => {
        const params = new Map([
          ["layer.weight", tf.variable(tf.tensor1d(w))],
          ["layer.bias", tf.variable(tf.tensor1d(b))],
        ]);
        const opt = new AdamW(params, { weightDecay: 0.1 });
        for (let s = 0; s < 2; s++) {
          tf.tidy(() =>
            opt.applyGradients(
              new Map([
                ["layer.weight", tf.tensor1d(grads[2 * s]!)],
                ["layer.bias", tf.tensor1d(grads[2 * s + 1]!)],
              ]),
              1e-2,
              tf.scalar(0.5),
            )
          );
        }
        const out = [...params.values()].map((p) => p.clone());
        opt.dispose();
        params.forEach((p) => p.dispose());
        return out;
      };
      const [cpu, gpu] = [await on("cpu", f), await on("webgpu", f)];
      close(gpu[0]!, cpu[0]!, 1e-6, "weight");
      close(gpu[1]!, cpu[1]!, 1e-6, "bias");
    });
    await setupBackend("wasm");
  },
});
