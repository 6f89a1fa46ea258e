/**
 * The numeric set-up a model was trained with is recorded in its config.json (issue 23 item 19):
 * one key can give different weights on two machines (OpenBLAS or not, its threads, the replica
 * count), and the record tells their models apart.
 *
 * @module
 */

import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { runBuiltinPipeline } from "./_engine_helpers.ts";
import { tinyProject } from "./_tiny_ner_project.ts";

Deno.test({
  name:
    "issue 23 item 19: a trained model's config.json records its backend, BLAS, threads and replicas",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await tinyProject({ backend: "wasm", workers: 2, epochs: 1 });
    try {
      const summary = await runBuiltinPipeline(`${dir}/pipeline.yaml`, dir);
      assert.equal(summary.byId.train, "ran", JSON.stringify(summary.stages));
      const config = JSON.parse(await Deno.readTextFile(`${dir}/out/tiny/train/model/config.json`));
      // This process trained it: its BLAS is the one the record must name.
      const { wasmBlas } = await import("../ner/bert/_wasm_kernels.ts");
      const blas = wasmBlas();
      assert.deepEqual(config.nerpipe_numerics, {
        backend: "wasm",
        blas: blas?.path ?? null,
        blas_threads: blas ? blas.threads() : null,
        replicas: 2,
        tfjs: tf.version_core,
        deno: Deno.version.deno,
        platform: `${Deno.build.os}-${Deno.build.arch}`,
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
