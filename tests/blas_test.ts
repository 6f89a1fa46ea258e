import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { setupBackend } from "../ner/bert/backend.ts";
import { blasStatus, loadBlas, openBlas } from "../ner/bert/_blas.ts";
import { setWasmBlas } from "../ner/bert/_wasm_kernels.ts";

const blas = loadBlas();
const skipReason = blas ? null : `skipping the OpenBLAS tests: ${blasStatus()}`;

/** Deterministic values in [-1, 1). */
function values(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 2147483648 - 1;
  });
}

interface Case {
  a: number[];
  b: number[];
  transposeA: boolean;
  transposeB: boolean;
}

function cases(): Case[] {
  const out: Case[] = [];
  const flags = [[false, false], [false, true], [true, false], [true, true]] as const;
  // [outer, m, k, n] with the stored layouts following the transpose flags.
  const shapes: [number[], number[], number, number, number][] = [
    [[], [], 5, 7, 3],
    [[], [], 64, 128, 96],
    [[4], [4], 6, 5, 9],
    [[2, 3], [2, 3], 8, 4, 16],
    [[4], [], 6, 5, 9], // right operand shared: folded into one product unless A is transposed
    [[], [3], 6, 5, 9], // left operand shared
    [[1], [3], 4, 7, 2],
    [[2, 2], [2, 2], 32, 16, 32], // an attention-like product
  ];
  for (const [oa, ob, m, k, n] of shapes) {
    for (const [transposeA, transposeB] of flags) {
      out.push({
        a: [...oa, ...(transposeA ? [k, m] : [m, k])],
        b: [...ob, ...(transposeB ? [n, k] : [k, n])],
        transposeA,
        transposeB,
      });
    }
  }
  return out;
}

async function product(c: Case, seed: number): Promise<{ shape: number[]; data: Float32Array }> {
  const size = (s: number[]) => s.reduce((x, y) => x * y, 1);
  const a = tf.tensor(values(size(c.a), seed), c.a);
  const b = tf.tensor(values(size(c.b), seed + 1), c.b);
  const y = tf.matMul(a, b, c.transposeA, c.transposeB);
  const data = (await y.data()) as Float32Array;
  const shape = y.shape;
  tf.dispose([a, b, y]);
  return { shape, data };
}

Deno.test({
  name:
    "OpenBLAS matrix products equal the wasm XNNPACK kernel for every transpose and batch shape",
  ignore: skipReason !== null,
  async fn() {
    await setupBackend("wasm");
    const prev = setWasmBlas(blas);
    try {
      let seed = 1;
      for (const c of cases()) {
        seed += 2;
        setWasmBlas(blas);
        const fast = await product(c, seed);
        setWasmBlas(null);
        const plain = await product(c, seed);
        const what = `${JSON.stringify(c)}`;
        assert.deepEqual(fast.shape, plain.shape, what);
        const scale = plain.data.reduce((m, v) => Math.max(m, Math.abs(v)), 1e-6);
        for (let i = 0; i < plain.data.length; i++) {
          const err = Math.abs(fast.data[i]! - plain.data[i]!) / scale;
          assert.ok(err <= 1e-4, `${what}: element ${i}: ${fast.data[i]} vs ${plain.data[i]}`);
        }
      }
    } finally {
      setWasmBlas(prev);
    }
  },
});
if (skipReason) console.log(skipReason);

Deno.test({
  name: "the wasm backend says when it uses OpenBLAS",
  ignore: skipReason !== null,
  async fn() {
    const { reason } = await setupBackend("wasm");
    assert.match(reason, /OpenBLAS \(.+\)/);
  },
});

Deno.test("NERPIPE_BLAS=0 or a missing library leaves OpenBLAS off without throwing", () => {
  for (const off of ["0", "off", "false"]) {
    const r = openBlas(off);
    assert.equal(r.blas, null);
    assert.equal(r.reason, `disabled by NERPIPE_BLAS=${off}`);
  }
  const missing = openBlas("/nonexistent/libopenblas-nerpipe.so");
  assert.equal(missing.blas, null);
  assert.match(missing.reason, /no BLAS library found|no FFI permission/);
});

const FALLBACK_SCRIPT = `
import * as tf from "@tensorflow/tfjs-core";
import { setupBackend } from "${new URL("../ner/bert/backend.ts", import.meta.url).href}";
const { reason } = await setupBackend("wasm");
const y = tf.matMul(tf.tensor2d([[1, 2], [3, 4]]), tf.tensor2d([[5, 6], [7, 8]]), false, true);
console.log(JSON.stringify({ reason, y: Array.from(await y.data()) }));
`;

async function fallbackRun(permissions: string[], env: Record<string, string>) {
  const dir = await Deno.makeTempDir({ prefix: "nerpipe_blas_" });
  const script = `${dir}/fallback.ts`;
  await Deno.writeTextFile(script, FALLBACK_SCRIPT);
  try {
    const config = new URL("../deno.json", import.meta.url).pathname;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", "--config", config, ...permissions, script],
      cwd: dir,
      env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    return JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").pop()!) as {
      reason: string;
      y: number[];
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("without --allow-ffi, or with NERPIPE_BLAS=0, wasm uses its own matrix product", async () => {
  const noFfi = await fallbackRun(["--allow-read", "--allow-env", "--allow-write"], {});
  assert.equal(noFfi.reason, "requested");
  assert.deepEqual(noFfi.y, [17, 23, 39, 53]);
  const disabled = await fallbackRun(["-A"], { NERPIPE_BLAS: "0" });
  assert.equal(disabled.reason, "requested");
  assert.deepEqual(disabled.y, [17, 23, 39, 53]);
  if (blas) {
    const used = await fallbackRun(["-A"], {});
    assert.match(used.reason, /OpenBLAS/);
    assert.deepEqual(used.y, [17, 23, 39, 53]);
  }
});
