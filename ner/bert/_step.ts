/**
 * One training step split across replicas (data parallelism): each replica
 * computes the gradients of its part of the batch; every replica then sums
 * all parts in the same order and applies the same AdamW update, so the
 * replicas stay identical.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { LabelledBatch } from "../types.ts";
import { type AdamW, clipScale, globalNorm } from "./adamw.ts";
import { IGNORE_INDEX, lossTarget } from "./loss.ts";
import { embeddingGrad } from "./_ops.ts";
import { batchTensors, type BertModel } from "./model.ts";
import { crfBatchLoss } from "./crf_loss.ts";
import { tidyAsync } from "./_scope.ts";

/** Name of the word-embedding table, whose gradient travels as rows. */
export const WORD_EMBEDDINGS = "bert.embeddings.word_embeddings.weight";

/** A padded batch (the trainer's `Batch`), or a part of one. */
export type StepBatch = LabelledBatch;

/** Number of positions whose label is not {@link IGNORE_INDEX}. */
export function labelCount(labels: Int32Array): number {
  let n = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] !== IGNORE_INDEX) n++;
  return n;
}

/**
 * Splits a batch into `n` row ranges (sentences), each trimmed to its own
 * longest row; a part with no rows is `null`.
 */
export function splitBatch(batch: StepBatch, n: number): (StepBatch | null)[] {
  const { batchSize: B, seqLen: T } = batch;
  const out: (StepBatch | null)[] = [];
  for (let r = 0; r < n; r++) {
    const start = Math.round((r * B) / n);
    const end = Math.round(((r + 1) * B) / n);
    if (end <= start) {
      out.push(null);
      continue;
    }
    let len = 1;
    for (let b = start; b < end; b++) {
      for (let t = T - 1; t >= len; t--) {
        const i = b * T + t;
        if (batch.mask[i] || batch.labels[i] !== IGNORE_INDEX) {
          len = t + 1;
          break;
        }
      }
    }
    const rows = end - start;
    const ids = new Int32Array(rows * len);
    const mask = new Int32Array(rows * len);
    const labels = new Int32Array(rows * len);
    for (let b = 0; b < rows; b++) {
      const src = (start + b) * T;
      ids.set(batch.ids.subarray(src, src + len), b * len);
      labels.set(batch.labels.subarray(src, src + len), b * len);
      for (let t = 0; t < len; t++) mask[b * len + t] = batch.mask[src + t] ? 1 : 0;
    }
    out.push({ ids, mask, labels, batchSize: rows, seqLen: len });
  }
  return out;
}

/** The gradients of one part, on the device (a type alias, so `tf.tidy` can return it). */
export type PartGradients = {
  /** This part's share of the batch loss. */
  loss: tf.Scalar;
  /** All gradients but the word embeddings', in spec order (internal layout). */
  grads: tf.Tensor[];
  /** Gradient of each looked-up embedding row, `[positions, hidden]`. */
  rows: tf.Tensor2D;
  /** Token id of each row. */
  ids: tf.Tensor1D;
};

/** The gradients of one part, on the host (for messages). */
export interface HostGradients {
  loss: number;
  grads: Float32Array[];
  rows: Float32Array;
  ids: Int32Array;
}

/**
 * Runs the forward and backward pass of a batch in training mode. Call inside
 * `tf.tidy`.
 *
 * @param denominator Divisor of the summed loss (default: the batch's labelled positions).
 * @param embeddingRows When true, the word-embedding gradient comes as rows (see
 *   `BertModel.lossAndGradients`).
 * @returns The loss, the gradients by name and the input token ids.
 */
export function batchGradients(
  model: BertModel,
  batch: StepBatch,
  numLabels: number,
  seed: number,
  denominator?: number,
  embeddingRows = false,
): {
  loss: tf.Scalar;
  grads: Map<string, tf.Tensor>;
  embeddingRows?: tf.Tensor2D;
  ids: tf.Tensor1D;
} {
  const input = batchTensors(batch);
  const target = tf.tensor2d(lossTarget(batch.labels, numLabels, denominator).target, [
    batch.batchSize * batch.seqLen,
    numLabels,
  ]);
  const out = model.lossAndGradients(input, target, { training: true, seed }, embeddingRows);
  return { ...out, ids: input.ids };
}

/**
 * {@link batchGradients} for a CRF head: the forward pass, the logits and the CRF's scores read
 * back to the host, the CRF's loss and gradients there (`crfBatchLoss`), then the backward pass
 * from its logits' gradient; the gradients of `crf.*` join the others. Call inside `tidyAsync`
 * (the logits are read between the two passes).
 *
 * @param denominator Divisor of the summed loss (default: the batch's labelled positions).
 * @param embeddingRows As in {@link batchGradients}.
 * @returns The loss, the gradients by name and the input token ids.
 */
export async function crfBatchGradients(
  model: BertModel,
  batch: StepBatch,
  numLabels: number,
  seed: number,
  denominator?: number,
  embeddingRows = false,
): Promise<{
  loss: tf.Scalar;
  grads: Map<string, tf.Tensor>;
  embeddingRows?: tf.Tensor2D;
  ids: tf.Tensor1D;
}> {
  const input = batchTensors(batch);
  const pass = model.trainingPass(input, { training: true, seed }, embeddingRows);
  const [logits, params] = await Promise.all([pass.logits.data(), model.crfParams()]);
  const g = crfBatchLoss(logits, batch.labels, batch.seqLen, params!, denominator);
  const rows = pass.backward(tf.tensor2d(g.dlogits, [batch.batchSize * batch.seqLen, numLabels]));
  const grads = pass.grads;
  grads.set("crf.transitions", tf.tensor2d(g.transitions, [numLabels, numLabels]));
  grads.set("crf.start_transitions", tf.tensor1d(g.start));
  grads.set("crf.end_transitions", tf.tensor1d(g.end));
  const loss = tf.scalar(g.loss);
  return rows
    ? { loss, grads, embeddingRows: rows, ids: input.ids }
    : { loss, grads, ids: input.ids };
}

/** A part's gradients in the shape replicas exchange: the word embeddings' as rows. */
function asPart(
  model: BertModel,
  out: {
    loss: tf.Scalar;
    grads: Map<string, tf.Tensor>;
    embeddingRows?: tf.Tensor2D;
    ids: tf.Tensor1D;
  },
): PartGradients {
  const list = model.specs.filter((s) => s.name !== WORD_EMBEDDINGS).map((s) =>
    out.grads.get(s.name)!
  );
  return { loss: out.loss, grads: list, rows: out.embeddingRows!, ids: out.ids };
}

/**
 * Computes a part's gradients with the model's head: in `tf.tidy` for the softmax head (see
 * {@link partGradients}), in an async scope for the CRF head (its loss is computed on the host).
 * The result's tensors are the caller's to dispose.
 *
 * @param denominator Labelled positions of the whole batch (the loss is a mean over it).
 */
export async function headPartGradients(
  model: BertModel,
  part: StepBatch,
  numLabels: number,
  denominator: number,
  seed: number,
): Promise<PartGradients> {
  if (model.head !== "crf") {
    return tf.tidy(() => partGradients(model, part, numLabels, denominator, seed));
  }
  return await tidyAsync(async () =>
    asPart(model, await crfBatchGradients(model, part, numLabels, seed, denominator, true))
  );
}

/**
 * Computes a part's gradients. Call inside `tf.tidy`.
 *
 * @param denominator Labelled positions of the whole batch (the loss is a mean over it).
 */
export function partGradients(
  model: BertModel,
  part: StepBatch,
  numLabels: number,
  denominator: number,
  seed: number,
): PartGradients {
  return asPart(model, batchGradients(model, part, numLabels, seed, denominator, true));
}

/** Reads a part's gradients to the host. */
export async function downloadGradients(g: PartGradients, ids: Int32Array): Promise<HostGradients> {
  const [loss, rows, ...grads] = await Promise.all([
    g.loss.data(),
    g.rows.data(),
    ...g.grads.map((t) => t.data()),
  ]);
  return { loss: loss[0]!, rows: rows as Float32Array, grads: grads as Float32Array[], ids };
}

/** Disposes a part's tensors. */
export function disposeGradients(g: PartGradients): void {
  tf.dispose([g.loss, g.rows, g.ids, ...g.grads]);
}

/** Uploads host gradients. Call inside `tf.tidy`. */
export function uploadGradients(
  model: BertModel,
  h: HostGradients,
): Omit<PartGradients, "loss"> {
  const specs = model.specs.filter((s) => s.name !== WORD_EMBEDDINGS);
  const hidden = model.config.hidden_size;
  return {
    grads: specs.map((s, i) => tf.tensor(h.grads[i]!, model.params.get(s.name)!.shape, "float32")),
    rows: tf.tensor2d(h.rows, [h.ids.length, hidden]),
    ids: tf.tensor1d(h.ids, "int32"),
  };
}

/**
 * Sums the parts (in the given order), clips and applies AdamW. Call inside
 * `tf.tidy`.
 *
 * @returns The global gradient norm before clipping.
 */
export function applyParts(
  model: BertModel,
  optimizer: AdamW,
  parts: Omit<PartGradients, "loss">[],
  lr: number,
  maxGradNorm: number,
): tf.Scalar {
  const specs = model.specs.filter((s) => s.name !== WORD_EMBEDDINGS);
  const grads = new Map<string, tf.Tensor>();
  specs.forEach((s, i) => {
    let g = parts[0]!.grads[i]!;
    for (let p = 1; p < parts.length; p++) g = tf.add(g, parts[p]!.grads[i]!);
    grads.set(s.name, g);
  });
  const rows = parts.length === 1 ? parts[0]!.rows : tf.concat(parts.map((p) => p.rows));
  const ids = parts.length === 1 ? parts[0]!.ids : tf.concat(parts.map((p) => p.ids));
  grads.set(WORD_EMBEDDINGS, embeddingGrad(rows, ids, model.config.vocab_size));
  return clipAndApply(optimizer, grads, lr, maxGradNorm);
}

/**
 * Clips gradients to a global norm and applies AdamW. Call inside `tf.tidy`.
 * The norm adds the gradients up in the map's order.
 *
 * @returns The global gradient norm before clipping.
 */
export function clipAndApply(
  optimizer: AdamW,
  grads: Map<string, tf.Tensor>,
  lr: number,
  maxGradNorm: number,
): tf.Scalar {
  const norm = globalNorm([...grads.values()]);
  optimizer.applyGradients(grads, lr, clipScale(norm, maxGradNorm));
  return norm;
}
