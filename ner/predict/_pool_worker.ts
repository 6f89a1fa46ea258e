/**
 * One predictor of a {@link loadPredictorPool} pool, in a Web Worker: it loads the model
 * directory itself, then tokenizes, runs and decodes each batch it is given.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import * as tf from "@tensorflow/tfjs-core";
import { UserError } from "../../runner/errors.ts";
import type { DecodeOptions, PredictedEntity, Predictor, PredictorOptions } from "./mod.ts";

/** Messages to a pool worker. */
export type ToPoolWorker =
  | { type: "init"; dir: string; options: PredictorOptions }
  | { type: "predict"; id: number; texts: string[]; decode: DecodeOptions | DecodeOptions[] };

/** What a worker says of its predictor once it is ready. */
export interface PoolWorkerInfo {
  labels: string[];
  backend: { backend: string; reason: string };
  maxLength: number;
  aggregation: Predictor["aggregation"];
  boundaries: { mode: Predictor["boundaries"]["mode"]; tails: string[] };
  units: Predictor["units"];
  minScore: number;
}

/** Messages from a pool worker. */
export type FromPoolWorker =
  | { type: "ready"; info: PoolWorkerInfo }
  | {
    type: "entities";
    id: number;
    entities: PredictedEntity[][];
    /** The tensors the worker's backend holds after the call (flat, unless something leaks). */
    tensors: number;
  }
  | {
    type: "error";
    /** The request that failed; null when the predictor could not load. */
    id: number | null;
    message: string;
    /** A RangeError (a bad decode option), a user's error (exit 2), or another. */
    kind: "range" | "user" | "other";
  };

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
      const p = predictor;
      post({
        type: "ready",
        info: {
          labels: [...p.labels],
          backend: p.backend,
          maxLength: p.maxLength,
          aggregation: p.aggregation,
          boundaries: { mode: p.boundaries.mode, tails: [...p.boundaries.tails] },
          units: p.units,
          minScore: p.minScore,
        },
      });
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
