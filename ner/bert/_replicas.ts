/**
 * Worker replicas for data-parallel training on several CPU cores.
 *
 * @module
 */
import type { HostGradients, StepBatch } from "./_step.ts";
import type { FromReplica, ReplicaInit, ToReplica } from "./_replica_worker.ts";

/** Replicas 1..n-1 (replica 0 is the calling thread). */
export class ReplicaPool {
  #workers: Worker[] = [];
  #waiting: ((m: FromReplica) => void)[][] = [];
  #failure: Error | null = null;

  private constructor() {}

  /**
   * Starts `count` workers holding copies of the model and optimiser (the given optimiser
   * state, when resuming, so that every replica applies the same updates as the caller's).
   *
   * @throws {Error} When a worker fails to start.
   */
  static async start(
    count: number,
    init: ReplicaInit,
  ): Promise<ReplicaPool> {
    const pool = new ReplicaPool();
    for (let i = 0; i < count; i++) {
      const w = new Worker(new URL("./_replica_worker.ts", import.meta.url).href, {
        type: "module",
      });
      const index = i;
      pool.#waiting.push([]);
      w.onmessage = (e: MessageEvent<FromReplica>) => pool.#receive(index, e.data);
      w.onerror = (e: ErrorEvent) => {
        e.preventDefault();
        pool.#receive(index, { type: "error", message: e.message });
      };
      pool.#workers.push(w);
    }
    try {
      await Promise.all(pool.#workers.map((_, i) => {
        const ready = pool.#next(i);
        pool.#post(i, { type: "init", ...init });
        return ready;
      }));
    } catch (e) {
      pool.close();
      throw e;
    }
    return pool;
  }

  /** Number of worker replicas. */
  get size(): number {
    return this.#workers.length;
  }

  #post(i: number, msg: ToReplica, transfer: Transferable[] = []): void {
    this.#workers[i]!.postMessage(msg, transfer);
  }

  #receive(i: number, msg: FromReplica): void {
    if (msg.type === "error") {
      this.#failure ??= new Error(`Training replica ${i + 1} failed: ${msg.message}`);
    }
    const w = this.#waiting[i]!.shift();
    w?.(msg);
  }

  #next(i: number): Promise<FromReplica> {
    return new Promise((resolve, reject) => {
      if (this.#failure) return reject(this.#failure);
      this.#waiting[i]!.push((m) => m.type === "error" ? reject(this.#failure) : resolve(m));
    });
  }

  /** Sends each worker its part of a step. */
  step(parts: (StepBatch | null)[], numLabels: number, denominator: number, seeds: number[]): void {
    parts.forEach((part, i) =>
      this.#post(i, { type: "step", part, numLabels, denominator, seed: seeds[i]! })
    );
  }

  /** Waits for every worker's gradients. */
  async gradients(): Promise<(HostGradients | null)[]> {
    const msgs = await Promise.all(this.#workers.map((_, i) => this.#next(i)));
    return msgs.map((m) => (m.type === "grads" ? m.grads : null));
  }

  /** Sends every worker all parts (replica order, 0 = caller) for the update. */
  update(all: (HostGradients | null)[], lr: number, maxGradNorm: number): void {
    this.#workers.forEach((_, i) => {
      const parts = all.map((p, j) => (j === i + 1 ? null : p));
      this.#post(i, { type: "update", parts, self: i + 1, lr, maxGradNorm });
    });
  }

  /** Stops the workers. */
  close(): void {
    for (const w of this.#workers) w.terminate();
    this.#workers = [];
  }
}
