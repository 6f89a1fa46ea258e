/**
 * Several predictors, each in a Web Worker with its own copy of the model, behind one
 * {@link Predictor}: a call goes to a worker that has none (or waits, in order, for the first
 * to be free), so that the calling thread stays free (a server reads and answers requests
 * meanwhile) and batches are tokenized, computed and decoded on several cores at once.
 *
 * @module
 */
import { UserError } from "../../runner/errors.ts";
import type { DecodeOptions, PredictedEntity, Predictor, PredictorOptions } from "./mod.ts";
import type { FromPoolWorker, PoolWorkerInfo, ToPoolWorker } from "./_pool_worker.ts";

interface Pending {
  resolve(entities: PredictedEntity[][]): void;
  reject(error: Error): void;
}

/** The error a worker reported, as the class a caller expects. */
function rebuild(m: Extract<FromPoolWorker, { type: "error" }>): Error {
  if (m.kind === "range") return new RangeError(m.message);
  if (m.kind === "user") return new UserError(m.message);
  return new Error(m.message);
}

/** One worker and the calls it was given. */
class PoolWorker {
  readonly worker: Worker;
  readonly pending = new Map<number, Pending>();
  failure: Error | null = null;
  /** Called when the worker has answered a call. */
  onIdle: () => void = () => {};
  /** The tensors the worker's backend held after its last call. */
  tensors = 0;
  #ready: { resolve(info: PoolWorkerInfo): void; reject(e: Error): void } | null = null;

  constructor() {
    this.worker = new Worker(new URL("./_pool_worker.ts", import.meta.url).href, {
      type: "module",
    });
    this.worker.onmessage = (e: MessageEvent<FromPoolWorker>) => {
      const m = e.data;
      if (m.type === "ready") this.#ready?.resolve(m.info);
      else if (m.type === "error" && m.id === null) this.fail(rebuild(m));
      else {
        const p = this.pending.get(m.id!);
        this.pending.delete(m.id!);
        if (m.type === "entities") {
          this.tensors = m.tensors;
          p?.resolve(m.entities);
        } else p?.reject(rebuild(m));
        this.onIdle();
      }
    };
    this.worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      this.fail(new Error(`A predictor's worker failed: ${e.message}`));
    };
  }

  start(dir: string, options: PredictorOptions): Promise<PoolWorkerInfo> {
    return new Promise<PoolWorkerInfo>((resolve, reject) => {
      this.#ready = { resolve, reject };
      const init: ToPoolWorker = { type: "init", dir, options };
      this.worker.postMessage(init);
    }).finally(() => this.#ready = null);
  }

  fail(error: Error): void {
    this.failure ??= error;
    this.#ready?.reject(error);
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
    this.onIdle();
  }
}

/** A {@link Predictor} whose model is in several workers. */
export interface PredictorPool extends Predictor {
  /** How many workers. */
  readonly workers: number;
  /** The tensors the workers' backends held after their last calls, together. */
  tensors(): number;
}

/**
 * Loads `workers` predictors of a model directory, each in its own Web Worker, as one
 * predictor (see {@link loadPredictor} for the options; `batchSize` is each worker's).
 *
 * @param dir The model directory.
 * @param opts The predictors' options.
 * @param workers How many (at least 1); each holds the model, so memory grows with it. A
 *   function is given the backend the first worker started (`wasm`, `webgpu`, ...) and says
 *   how many in all: one GPU needs no second copy of the model.
 * @returns The predictor; dispose it to stop the workers.
 * @throws {UserError} When the directory, its tokenizer or the backend cannot be used (what
 *   {@link loadPredictor} throws, with its message).
 */
export async function loadPredictorPool(
  dir: string,
  opts: PredictorOptions,
  workers: number | ((backend: string) => number),
): Promise<PredictorPool> {
  const pool: PoolWorker[] = [];
  let info: PoolWorkerInfo;
  try {
    // One first, so that a directory that cannot load fails once; then the others together.
    pool.push(new PoolWorker());
    info = await pool[0]!.start(dir, opts);
    const count = typeof workers === "number" ? workers : workers(info.backend.backend);
    const more = Array.from({ length: Math.max(1, count) - 1 }, () => new PoolWorker());
    pool.push(...more);
    await Promise.all(more.map((w) => w.start(dir, opts)));
  } catch (error) {
    for (const w of pool) w.worker.terminate();
    throw error;
  }
  let next = 0;
  /** Calls waiting for a free worker, oldest first. */
  const waiting: { id: number; msg: ToPoolWorker; pending: Pending }[] = [];
  const dispatch = () => {
    const failed = pool.find((w) => w.failure);
    if (failed) {
      for (const { pending } of waiting.splice(0)) pending.reject(failed.failure!);
      return;
    }
    for (const w of pool) {
      if (waiting.length === 0) return;
      if (w.pending.size > 0 || w.failure) continue;
      const { id, msg, pending } = waiting.shift()!;
      w.pending.set(id, pending);
      w.worker.postMessage(msg);
    }
  };
  for (const w of pool) w.onIdle = dispatch;
  return {
    labels: info.labels,
    backend: info.backend,
    maxLength: info.maxLength,
    aggregation: info.aggregation,
    boundaries: { mode: info.boundaries.mode, tails: new Set(info.boundaries.tails) },
    units: info.units,
    minScore: info.minScore,
    workers: pool.length,
    tensors: () => pool.reduce((n, w) => n + w.tensors, 0),
    predict(
      texts: readonly string[],
      decode: DecodeOptions | readonly DecodeOptions[] = {},
    ): Promise<PredictedEntity[][]> {
      const failed = pool.find((w) => w.failure);
      if (failed) return Promise.reject(failed.failure);
      const id = next++;
      return new Promise((resolve, reject) => {
        const msg: ToPoolWorker = {
          type: "predict",
          id,
          texts: [...texts],
          decode: Array.isArray(decode) ? [...decode] : decode as DecodeOptions,
        };
        // A worker takes a call when it has none: a call never waits behind another in a busy
        // worker while a free one could take it.
        waiting.push({ id, msg, pending: { resolve, reject } });
        dispatch();
      });
    },
    dispose() {
      for (const w of pool) {
        w.fail(new Error("The predictor is disposed"));
        w.worker.terminate();
      }
    },
  };
}
