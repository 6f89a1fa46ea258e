/**
 * A training replica in a Web Worker: holds a copy of the model and of the
 * optimiser, computes the gradients of its part of each batch, and applies
 * the same summed update as every other replica.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import * as tf from "@tensorflow/tfjs-core";
import { AdamW, type AdamWState } from "./adamw.ts";
import { type BackendName, setupBackend } from "./backend.ts";
import type { BertConfig } from "./config.ts";
import type { HostTensor } from "./init.ts";
import { BertModel } from "./model.ts";
import {
  applyParts,
  disposeGradients,
  downloadGradients,
  headPartGradients,
  type HostGradients,
  type PartGradients,
  type StepBatch,
  uploadGradients,
} from "./_step.ts";

/** What a replica starts from: the model, its weights and the optimiser. */
export interface ReplicaInit {
  backend: string;
  config: BertConfig;
  numLabels: number;
  weights: Map<string, HostTensor>;
  weightDecay: number;
  /** The optimiser's state to start from (a resumed run); default fresh. */
  optimizer?: AdamWState;
}

/** Messages from the coordinator. */
export type ToReplica =
  | ({ type: "init" } & ReplicaInit)
  | { type: "step"; part: StepBatch | null; numLabels: number; denominator: number; seed: number }
  | {
    type: "update";
    /** Every part in replica order; this replica's own slot is null (it has it on device). */
    parts: (HostGradients | null)[];
    self: number;
    lr: number;
    maxGradNorm: number;
  }
  | { type: "close" };

/** Messages to the coordinator. */
export type FromReplica =
  | { type: "ready" }
  | { type: "grads"; grads: HostGradients | null }
  | { type: "error"; message: string; stack?: string };

let model: BertModel | null = null;
let optimizer: AdamW | null = null;
let own: PartGradients | null = null;
let queue: Promise<void> = Promise.resolve();

function send(msg: FromReplica, transfer: Transferable[] = []): void {
  self.postMessage(msg, transfer);
}

async function handle(msg: ToReplica): Promise<void> {
  switch (msg.type) {
    case "init": {
      await setupBackend(msg.backend as BackendName);
      model = BertModel.fromWeights(msg.config, msg.numLabels, msg.weights);
      optimizer = new AdamW(model.params, { weightDecay: msg.weightDecay });
      if (msg.optimizer) optimizer.importState(msg.optimizer);
      send({ type: "ready" });
      return;
    }
    case "step": {
      const part = msg.part;
      if (!part) {
        send({ type: "grads", grads: null });
        return;
      }
      const g = await headPartGradients(model!, part, msg.numLabels, msg.denominator, msg.seed);
      own = g;
      const grads: HostGradients = await downloadGradients(g, part.ids);
      // Copied, not transferred: some backends return their own storage from data().
      send({ type: "grads", grads });
      return;
    }
    case "update": {
      const m = model!;
      const mine = own;
      tf.tidy(() => {
        const parts: Omit<PartGradients, "loss">[] = [];
        msg.parts.forEach((p, i) => {
          if (i === msg.self) {
            if (mine) parts.push(mine);
          } else if (p) {
            parts.push(uploadGradients(m, p));
          }
        });
        if (parts.length > 0) applyParts(m, optimizer!, parts, msg.lr, msg.maxGradNorm);
      });
      if (mine) disposeGradients(mine);
      own = null;
      return;
    }
    case "close": {
      optimizer?.dispose();
      model?.dispose();
      self.close();
      return;
    }
  }
}

self.onmessage = (e: MessageEvent<ToReplica>) => {
  queue = queue.then(() => handle(e.data)).catch((err: unknown) => {
    const error = err instanceof Error ? err : new Error(String(err));
    send({ type: "error", message: error.message, ...(error.stack ? { stack: error.stack } : {}) });
  });
};
