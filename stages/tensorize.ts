/**
 * Stage `tensorize`: pads windows into seeded, shuffled batches of the training split (and
 * ordered batches of the validation split) in one compact binary file (see ner/batches.ts).
 * This is the one place training data is padded, with `padBatch`, which the predictor uses too.
 *
 * The windows are read a chunk at a time into typed arrays (4 bytes a piece id and a label id:
 * the shuffle needs them all), and the batches are written one at a time.
 *
 * @module
 */

import { defineStage, type ParamsOf } from "../runner/stage.ts";
import { type BatchShape, padBatch, type TensorBatch, writeBatchesFile } from "../ner/batches.ts";
import { mulberry32, shuffled } from "../ner/random.ts";
import schema from "../schemas/tensorize.schema.ts";
import { checkAbort, openStream, type Split, SPLITS } from "./_artifacts.ts";

/** Windows read between two looks at the abort signal. */
const WINDOWS_PER_CHECK = 5000;

/** Parameters of `tensorize`, typed from its schema (schemas/tensorize.schema.ts). */
export type TensorizeParams = ParamsOf<typeof schema>;

/** Growable int32 storage. */
class Int32Pool {
  data = new Int32Array(1 << 16);
  length = 0;
  push(values: readonly number[]): number {
    const at = this.length;
    if (at + values.length > this.data.length) {
      const grown = new Int32Array(Math.max(this.data.length * 2, at + values.length));
      grown.set(this.data.subarray(0, at));
      this.data = grown;
    }
    for (let i = 0; i < values.length; i++) this.data[at + i] = values[i]!;
    this.length += values.length;
    return at;
  }
}

/** The windows of one split, unpadded, in typed arrays: window `i` is `[start[i], start[i] + length[i])`. */
export class WindowStore {
  readonly ids = new Int32Pool();
  readonly labels = new Int32Pool();
  readonly starts: number[] = [];
  readonly lengths: number[] = [];

  /** Adds a window. */
  add(ids: readonly number[], labels: readonly number[]): void {
    this.starts.push(this.ids.push(ids));
    this.labels.push(labels);
    this.lengths.push(ids.length);
  }

  /** How many windows. */
  get size(): number {
    return this.starts.length;
  }

  /** Window `i` as views of the store. */
  row(i: number): { ids: Int32Array; labels: Int32Array } {
    const a = this.starts[i]!;
    const b = a + this.lengths[i]!;
    return { ids: this.ids.data.subarray(a, b), labels: this.labels.data.subarray(a, b) };
  }
}

/**
 * The shapes of the batches cut from rows in `order`: `size` rows each (the last may be
 * smaller), each batch padded to its longest row (`trim`) or to `fixed`.
 *
 * @param lengths Each row's length.
 * @param order Row indexes in batch order.
 * @param size Batch size.
 * @param trim Pad each batch to its longest row.
 * @param fixed The length otherwise.
 */
export function batchShapes(
  lengths: readonly number[],
  order: readonly number[],
  size: number,
  trim: boolean,
  fixed: number,
): BatchShape[] {
  const shapes: BatchShape[] = [];
  for (let start = 0; start < order.length; start += size) {
    const rows = order.slice(start, start + size);
    let seqLen = fixed;
    if (trim) {
      seqLen = 0;
      for (const r of rows) seqLen = Math.max(seqLen, lengths[r]!);
    }
    shapes.push({ batchSize: rows.length, seqLen, rows });
  }
  return shapes;
}

/**
 * Pads the rows of one batch shape (see {@link batchShapes}).
 *
 * @param store The split's windows.
 * @param shape The batch's rows and length.
 * @param padId The tokenizer's [PAD] id.
 */
export function makeBatch(store: WindowStore, shape: BatchShape, padId: number): TensorBatch {
  return padBatch(shape.rows.map((r) => store.row(r)), shape.seqLen, padId, shape.rows);
}

/** The `tensorize` stage kind. */
export const tensorize = defineStage({
  name: "tensorize",
  version: 2,
  description: schema.description,
  schema,
  inputs: {
    ids: {
      type: "ner-label-ids",
      description: "Output of label-ids: piece ids and label ids per window",
      optional: true,
    },
    padded: {
      type: "ner-label-ids",
      description: "The old name of ids, for pipeline files that wire embed-pad.padded",
      optional: true,
    },
  },
  outputs: {
    batches: {
      type: "ner-batches",
      description: "Binary batches (NERB format)",
      extension: ".bin",
    },
  },
  check(_p, context) {
    const given = context.inputs;
    if (given === undefined) return [];
    const wired = ["ids", "padded"].filter((name) => given.includes(name));
    if (wired.length === 1) return [];
    return [{
      param: "inputs",
      message: wired.length === 0
        ? "tensorize has no windows to batch: its ids input is not wired"
        : "tensorize has both ids and padded (its old name) wired",
      hint: "wire `inputs: { ids: <label-ids stage>.ids }` alone",
    }];
  },
  module: import.meta.url,
  async run(ctx) {
    const p = ctx.params;
    const name = ctx.inputs.ids === undefined ? "padded" : "ids";
    const input = await openStream(ctx.inputs, name, "ner-label-ids");
    const stores: Record<Split, WindowStore> = {
      train: new WindowStore(),
      validation: new WindowStore(),
    };
    let read = 0;
    for await (const w of input.records) {
      if (read++ % WINDOWS_PER_CHECK === 0) await checkAbort(ctx.signal);
      stores[w.split].add(w.ids, w.labels);
    }
    let longest = 0;
    for (const s of SPLITS) for (const n of stores[s].lengths) longest = Math.max(longest, n);
    const fixed = p.padding === "max_length" ? input.header.max_length : longest;
    const train = stores.train;
    const indexes = train.starts.map((_, i) => i);
    const order = p.shuffle ? shuffled(indexes, mulberry32(p.seed)) : indexes;
    const shapes = {
      train: batchShapes(train.lengths, order, p.batch_size, p.trim, fixed),
      validation: batchShapes(
        stores.validation.lengths,
        stores.validation.starts.map((_, i) => i),
        p.batch_size,
        p.trim,
        fixed,
      ),
    };
    await checkAbort(ctx.signal);
    const tokens = shapes.train.reduce((n, b) => n + b.batchSize * b.seqLen, 0);
    ctx.log.info(
      `${shapes.train.length} training batches (${tokens} positions with padding), ` +
        `${shapes.validation.length} validation batches`,
    );
    const padId = input.header.pad_id;
    await writeBatchesFile(
      ctx.output("batches"),
      shapes,
      (split, i) => makeBatch(stores[split as Split], shapes[split as Split][i]!, padId),
      ctx.signal,
    );
  },
});
