/**
 * What a pool's thread and its workers say to each other (ner/predict/pool.ts,
 * ner/predict/_pool_worker.ts): the messages, and how a worker describes its predictor.
 *
 * @module
 */
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

/**
 * What a pool worker says of its loaded predictor (its "ready" message): the predictor's
 * labels, backend and decoding, as plain data.
 */
export function poolWorkerInfo(p: Predictor): PoolWorkerInfo {
  return {
    labels: [...p.labels],
    backend: p.backend,
    maxLength: p.maxLength,
    aggregation: p.aggregation,
    boundaries: { mode: p.boundaries.mode, tails: [...p.boundaries.tails] },
    units: p.units,
    minScore: p.minScore,
  };
}
