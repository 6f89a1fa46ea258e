/**
 * One predictor of a {@link loadPredictorPool} pool, in a Web Worker: it loads the model
 * directory itself, then tokenizes, runs and decodes each batch it is given.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import * as tf from "@tensorflow/tfjs-core";
import { UserError } from "../../runner/errors.ts";
import type { Predictor } from "./mod.ts";
import { type FromPoolWorker, poolWorkerInfo, type ToPoolWorker } from "./_pool_protocol.ts";

let predictor: Predictor | null = null;
const post = (m: FromPoolWorker) => self.postMessage(m);
const kind = (e: unknown) =>
  e instanceof RangeError ? "range" : e instanceof UserError ? "user" : "other";

self.onmessage = async (e: MessageEvent<ToPoolWorker>) => {
  const m = e.data;
  if (m.type === "init") {
    try {
      const { loadPredictor } = await import("./mod.ts");
      predictor = await loadPredictor(m.dir, m.options);
      post({ type: "ready", info: poolWorkerInfo(predictor) });
    } catch (error) {
      post({ type: "error", id: null, message: (error as Error).message, kind: kind(error) });
    }
    return;
  }
  try {
    const entities = await predictor!.predict(m.texts, m.decode);
    post({ type: "entities", id: m.id, entities, tensors: tf.memory().numTensors });
  } catch (error) {
    post({ type: "error", id: m.id, message: (error as Error).message, kind: kind(error) });
  }
};
