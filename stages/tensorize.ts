/**
 * Stage `tensorize`: seeded, shuffled batches of the training split (and ordered batches of the
 * validation split) in one compact binary file (see ner/batches.ts).
 *
 * @module
 */

import { defineStage } from "../runner/stage.ts";
import { type BatchSet, encodeBatches, type TensorBatch } from "../ner/batches.ts";
import { mulberry32, shuffled } from "../ner/random.ts";
import schema from "../schemas/tensorize.schema.json" with { type: "json" };
import { checkAbort, type PaddedSplit, readArtifact } from "./_artifacts.ts";

/** Batches cut between two looks at the abort signal. */
const BATCHES_PER_CHECK = 64;

/** {@link makeBatches} in slices of whole batches, looking at the abort signal between them. */
async function makeBatchesAbortable(
  split: PaddedSplit,
  order: number[],
  size: number,
  trim: boolean,
  signal: AbortSignal,
): Promise<TensorBatch[]> {
  const batches: TensorBatch[] = [];
  const step = size * BATCHES_PER_CHECK;
  for (let start = 0; start < order.length; start += step) {
    await checkAbort(signal);
    batches.push(...makeBatches(split, order.slice(start, start + step), size, trim));
  }
  return batches;
}

/** Parameters of `tensorize`. */
export interface TensorizeParams {
  batch_size: number;
  seed: number;
  shuffle: boolean;
  trim: boolean;
}

/**
 * Cuts rows into batches.
 *
 * @param split Padded rows.
 * @param order Row indexes in batch order.
 * @param size Batch size (the last batch may be smaller).
 * @param trim Cut each batch to its longest real sequence.
 */
export function makeBatches(
  split: PaddedSplit,
  order: number[],
  size: number,
  trim: boolean,
): TensorBatch[] {
  const batches: TensorBatch[] = [];
  for (let start = 0; start < order.length; start += size) {
    const rows = order.slice(start, start + size);
    const full = split.ids[rows[0]!]!.length;
    const seqLen = trim
      ? Math.max(...rows.map((r) => split.mask[r]!.reduce((a, b) => a + b, 0)))
      : full;
    const n = rows.length * seqLen;
    const batch: TensorBatch = {
      ids: new Int32Array(n),
      mask: new Int32Array(n),
      labels: new Int32Array(n),
      batchSize: rows.length,
      seqLen,
      rows,
    };
    rows.forEach((r, k) => {
      batch.ids.set(split.ids[r]!.slice(0, seqLen), k * seqLen);
      batch.mask.set(split.mask[r]!.slice(0, seqLen), k * seqLen);
      batch.labels.set(split.labels[r]!.slice(0, seqLen), k * seqLen);
    });
    batches.push(batch);
  }
  return batches;
}

/** The `tensorize` stage kind. */
export const tensorize = defineStage<TensorizeParams>({
  name: "tensorize",
  version: 1,
  description: schema.description,
  schema,
  inputs: { padded: { type: "ner-padded", description: "Output of embed-pad" } },
  outputs: {
    batches: {
      type: "ner-batches",
      description: "Binary batches (NERB format)",
      extension: ".bin",
    },
  },
  module: import.meta.url,
  async run(ctx) {
    const p = ctx.params;
    const padded = await readArtifact(ctx.inputs, "padded", "ner-padded");
    const train = padded.splits.train;
    const indexes = train.ids.map((_, i) => i);
    const order = p.shuffle ? shuffled(indexes, mulberry32(p.seed)) : indexes;
    const validation = padded.splits.validation;
    const set: BatchSet = {
      train: await makeBatchesAbortable(train, order, p.batch_size, p.trim, ctx.signal),
      validation: await makeBatchesAbortable(
        validation,
        validation.ids.map((_, i) => i),
        p.batch_size,
        p.trim,
        ctx.signal,
      ),
    };
    await checkAbort(ctx.signal);
    const tokens = set.train!.reduce((n, b) => n + b.batchSize * b.seqLen, 0);
    ctx.log.info(
      `${set.train!.length} training batches (${tokens} positions with padding), ` +
        `${set.validation!.length} validation batches`,
    );
    await Deno.writeFile(ctx.output("batches"), encodeBatches(set));
  },
});
