import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { probeWebGpu, setupBackend } from "../ner/bert/backend.ts";
import { dropoutMask, dropoutMaskAttrs, fillDropoutMask, hash32 } from "../ner/bert/_dropout.ts";
import { DROPOUT_MASK_KERNEL } from "../ner/bert/_kernel_names.ts";

Deno.test("hash32 is a 32-bit unsigned hash that spreads neighbouring inputs", () => {
  const seen = new Set<number>();
  let bits = 0;
  for (let i = 0; i < 4096; i++) {
    const h = hash32(i);
    assert.ok(Number.isInteger(h) && h >= 0 && h < 2 ** 32);
    seen.add(h);
    // Bits that differ between the hashes of i and i + 1: about half of 32.
    let d = (h ^ hash32(i + 1)) >>> 0;
    while (d) {
      bits += d & 1;
      d >>>= 1;
    }
  }
  assert.equal(seen.size, 4096);
  const mean = bits / 4096;
  assert.ok(mean > 14 && mean < 18, `mean differing bits ${mean}`);
});

Deno.test("dropout masks drop the rate's share, scale the rest, and differ by stream and seed", () => {
  const n = 200_000;
  for (const rate of [0.1, 0.5]) {
    const a = dropoutMaskAttrs([n], 42, 0, rate);
    const mask = fillDropoutMask(new Float32Array(n), a);
    const zeros = mask.filter((v) => v === 0).length;
    const sd = Math.sqrt(n * rate * (1 - rate));
    assert.ok(Math.abs(zeros - n * rate) < 5 * sd, `rate ${rate}: ${zeros} of ${n} dropped`);
    assert.ok(mask.every((v) => v === 0 || v === Math.fround(1 / (1 - rate))));
    // Another stream, another seed: agreement on dropped positions near rate^2 (independent).
    for (const other of [dropoutMaskAttrs([n], 42, 1, rate), dropoutMaskAttrs([n], 43, 0, rate)]) {
      const m2 = fillDropoutMask(new Float32Array(n), other);
      let both = 0;
      for (let i = 0; i < n; i++) if (mask[i] === 0 && m2[i] === 0) both++;
      const expected = n * rate * rate;
      assert.ok(Math.abs(both - expected) < 5 * Math.sqrt(expected), `overlap ${both}`);
    }
  }
  // A slice of a mask equals the mask computed from that offset.
  const a = dropoutMaskAttrs([1000], 7, 3, 0.3);
  const whole = fillDropoutMask(new Float32Array(1000), a);
  assert.deepEqual(fillDropoutMask(new Float32Array(100), a, 900), whole.subarray(900));
  assert.deepEqual(fillDropoutMask(new Float32Array(99), a, 901), whole.subarray(901));
});

Deno.test({
  name: "each backend's dropout kernel makes the host's mask exactly (WGSL on webgpu)",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const probe = await probeWebGpu();
    const backends = probe.ok ? ["cpu", "wasm", "webgpu"] as const : ["cpu", "wasm"] as const;
    if (!probe.ok) console.log(`webgpu left out: ${probe.description}`);
    const a = dropoutMaskAttrs([3, 7, 129], 1234, 5, 0.1);
    const expected = fillDropoutMask(new Float32Array(3 * 7 * 129), a);
    for (const backend of backends) {
      await setupBackend(backend);
      assert.ok(tf.getKernel(DROPOUT_MASK_KERNEL, tf.getBackend()), `${backend} has the kernel`);
      const t = dropoutMask(a);
      assert.deepEqual(t.shape, [3, 7, 129]);
      assert.deepEqual(await t.data(), expected, backend);
      t.dispose();
    }
    await setupBackend("wasm");
  },
});
