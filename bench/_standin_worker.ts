/**
 * A pool worker that stands in for the model (bench/serve.ts): it loads the model directory
 * for what the server says of it, then takes exactly `a + b * texts` milliseconds on the clock
 * for every batch (`NERPIPE_BENCH_BATCH_MS="a,b"`, the model's own times measured by the
 * benchmark) and finds no entity. A server with these workers shows what the server, the
 * clients and the machine alone make of the latency: the model never varies.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import {
  type FromPoolWorker,
  poolWorkerInfo,
  type ToPoolWorker,
} from "../ner/predict/_pool_protocol.ts";

const [perBatch, perText] = (Deno.env.get("NERPIPE_BENCH_BATCH_MS") ?? "").split(",").map(Number);
const post = (m: FromPoolWorker) => self.postMessage(m);

self.onmessage = async (e: MessageEvent<ToPoolWorker>) => {
  const m = e.data;
  if (m.type === "init") {
    if (!(perBatch! >= 0 && perText! >= 0)) {
      const message = `NERPIPE_BENCH_BATCH_MS must be "a,b" (milliseconds): got ${
        JSON.stringify(Deno.env.get("NERPIPE_BENCH_BATCH_MS"))
      }`;
      post({ type: "error", id: null, message, kind: "user" });
      return;
    }
    try {
      const { loadPredictor } = await import("../ner/predict/mod.ts");
      const predictor = await loadPredictor(m.dir, m.options);
      post({ type: "ready", info: poolWorkerInfo(predictor) });
      predictor.dispose();
    } catch (error) {
      post({ type: "error", id: null, message: (error as Error).message, kind: "other" });
    }
    return;
  }
  const end = performance.now() + perBatch! + perText! * m.texts.length;
  while (performance.now() < end) {
    // The model's time, on the clock: a batch takes it even when the thread is descheduled.
  }
  post({ type: "entities", id: m.id, entities: m.texts.map(() => []), tensors: 0 });
};
