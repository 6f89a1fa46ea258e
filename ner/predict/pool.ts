/**
 * Several predictors, each in a Web Worker with its own copy of the model, behind one
 * {@link Predictor}: a call goes to a worker that has none (or waits, in order, for the first
 * to be free), so that the calling thread stays free (a server reads and answers requests
 * meanwhile) and batches are tokenized, computed and decoded on several cores at once.
 *
 * A worker that crashes (an error nothing in it caught) fails the calls it was computing and is
 * replaced by a fresh one that loads the model again; the others go on meanwhile. When workers
 * crash more than {@link MAX_RESTARTS} times in {@link RESTART_WINDOW_MS}, or a replacement
 * cannot load the model, the pool stops: every call then fails with a {@link PoolFailedError}.
 *
 * @module
 */
import { UserError } from "../../runner/errors.ts";
import type { DecodeOptions, PredictedEntity, Predictor, PredictorOptions } from "./mod.ts";
import type { FromPoolWorker, PoolWorkerInfo, ToPoolWorker } from "./_pool_protocol.ts";

/** The most workers replaced within {@link RESTART_WINDOW_MS}; one more crash stops the pool. */
export const MAX_RESTARTS = 5;

/** The window over which {@link MAX_RESTARTS} counts (ms). */
export const RESTART_WINDOW_MS = 60_000;

/** The pool has stopped: its workers kept crashing, or it was disposed. */
export class PoolFailedError extends Error {
  /**
   * Creates the error.
   *
   * @param message Why the pool stopped.
   */
  constructor(message: string) {
    super(message);
    this.name = "PoolFailedError";
  }
}

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
  /** Why it can take no more calls: it crashed, could not load, or the pool was disposed. */
  failure: Error | null = null;
  /** Until its model is loaded, it takes no call. */
  ready = false;
  /** Called when the worker has answered a call. */
  onIdle: () => void = () => {};
  /** Called once when the worker crashes after it was ready (its calls already failed). */
  onCrash: (error: Error) => void = () => {};
  /** The tensors the worker's backend held after its last call. */
  tensors = 0;
  #ready: { resolve(info: PoolWorkerInfo): void; reject(e: Error): void } | null = null;

  constructor(module: string | URL, name: string) {
    this.worker = new Worker(module, { type: "module", name });
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
      const crashed = this.ready && this.failure === null;
      const error = new Error(`A predictor's worker failed: ${e.message}`);
      this.fail(error);
      if (crashed) this.onCrash(error);
    };
  }

  async start(dir: string, options: PredictorOptions): Promise<PoolWorkerInfo> {
    const info = await new Promise<PoolWorkerInfo>((resolve, reject) => {
      this.#ready = { resolve, reject };
      const init: ToPoolWorker = { type: "init", dir, options };
      this.worker.postMessage(init);
    }).finally(() => this.#ready = null);
    this.ready = true;
    return info;
  }

  /** Fails its calls (and its start) and takes no more; the worker is stopped. */
  fail(error: Error): void {
    this.failure ??= error;
    this.#ready?.reject(error);
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
    this.worker.terminate();
    this.onIdle();
  }
}

/** What a pool's workers are doing (`/health`). */
export interface PoolState {
  /** Workers in the pool. */
  workers: number;
  /** Of those, how many have their model loaded and take calls. */
  ready: number;
  /** Workers replaced after a crash since the pool started. */
  restarts: number;
  /** Why the pool stopped (every call fails), or null while it works. */
  failure: string | null;
}

/** A {@link Predictor} whose model is in several workers. */
export interface PredictorPool extends Predictor {
  /** How many workers. */
  readonly workers: number;
  /** The tensors the workers' backends held after their last calls, together. */
  tensors(): number;
  /** Its workers: how many are ready, how many were replaced, and whether it stopped. */
  state(): PoolState;
}

/** Options of {@link loadPredictorPool} beyond the predictors' own. */
export interface PoolOptions {
  /**
   * The workers' module (default ./_pool_worker.ts): one that answers its messages (tests
   * give one that crashes on cue).
   */
  workerModule?: string | URL;
  /**
   * Told each time a crashed worker is replaced: what it died of, and how many have been
   * replaced so far (a server logs it).
   */
  onRestart?: (error: Error, restarts: number) => void;
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
 * @param pool The workers' module.
 * @returns The predictor; dispose it to stop the workers.
 * @throws {UserError} When the directory, its tokenizer or the backend cannot be used (what
 *   {@link loadPredictor} throws, with its message).
 */
export async function loadPredictorPool(
  dir: string,
  opts: PredictorOptions,
  workers: number | ((backend: string) => number),
  pool: PoolOptions = {},
): Promise<PredictorPool> {
  const module = pool.workerModule ?? new URL("./_pool_worker.ts", import.meta.url);
  const all: PoolWorker[] = [];
  let info: PoolWorkerInfo;
  try {
    // One first, so that a directory that cannot load fails once; then the others together.
    all.push(new PoolWorker(module, "predictor 1"));
    info = await all[0]!.start(dir, opts);
    const count = typeof workers === "number" ? workers : workers(info.backend.backend);
    const more = Array.from(
      { length: Math.max(1, count) - 1 },
      (_, i) => new PoolWorker(module, `predictor ${i + 2}`),
    );
    all.push(...more);
    await Promise.all(more.map((w) => w.start(dir, opts)));
  } catch (error) {
    for (const w of all) w.worker.terminate();
    throw error;
  }
  let next = 0;
  let failure: PoolFailedError | null = null;
  /** When each worker was replaced, in the last {@link RESTART_WINDOW_MS}. */
  const replaced: number[] = [];
  let restarts = 0;
  /** Calls waiting for a free worker, oldest first. */
  const waiting: { id: number; msg: ToPoolWorker; pending: Pending }[] = [];
  const dispatch = () => {
    if (failure) {
      for (const { pending } of waiting.splice(0)) pending.reject(failure);
      return;
    }
    for (const w of all) {
      if (waiting.length === 0) return;
      if (w.pending.size > 0 || !w.ready || w.failure) continue;
      const { id, msg, pending } = waiting.shift()!;
      w.pending.set(id, pending);
      w.worker.postMessage(msg);
    }
  };
  const stop = (error: PoolFailedError) => {
    failure ??= error;
    for (const w of all) w.fail(failure);
    dispatch();
  };
  /** Puts a fresh worker in a crashed one's place; its calls go to the others meanwhile. */
  const replace = (old: PoolWorker, why: Error) => {
    if (failure) return;
    const now = performance.now();
    while (replaced.length && now - replaced[0]! > RESTART_WINDOW_MS) replaced.shift();
    if (replaced.length >= MAX_RESTARTS) {
      stop(
        new PoolFailedError(
          `The model's workers crashed ${MAX_RESTARTS + 1} times in ` +
            `${RESTART_WINDOW_MS / 1000} s (the last: ${why.message}): restart the server`,
        ),
      );
      return;
    }
    replaced.push(now);
    restarts++;
    const at = all.indexOf(old);
    const fresh = watch(new PoolWorker(module, `predictor ${at + 1}`));
    all[at] = fresh;
    pool.onRestart?.(why, restarts);
    fresh.start(dir, opts).then(dispatch, (error: Error) => {
      stop(
        new PoolFailedError(
          `A worker crashed (${why.message}) and its replacement could not load the model: ` +
            `${error.message}`,
        ),
      );
    });
  };
  const watch = (w: PoolWorker) => {
    w.onIdle = dispatch;
    w.onCrash = (error) => replace(w, error);
    return w;
  };
  for (const w of all) watch(w);
  return {
    labels: info.labels,
    backend: info.backend,
    maxLength: info.maxLength,
    aggregation: info.aggregation,
    boundaries: { mode: info.boundaries.mode, tails: new Set(info.boundaries.tails) },
    units: info.units,
    minScore: info.minScore,
    workers: all.length,
    tensors: () => all.reduce((n, w) => n + w.tensors, 0),
    state: () => ({
      workers: all.length,
      ready: all.filter((w) => w.ready && !w.failure).length,
      restarts,
      failure: failure?.message ?? null,
    }),
    predict(
      texts: readonly string[],
      decode: DecodeOptions | readonly DecodeOptions[] = {},
    ): Promise<PredictedEntity[][]> {
      if (failure) return Promise.reject(failure);
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
      stop(new PoolFailedError("The predictor is disposed"));
    },
  };
}
