import assert from "node:assert/strict";
import { BatchesFormatError, decodeBatches, encodeBatches } from "../ner/batches.ts";
import { mulberry32, shuffled } from "../ner/random.ts";
import { makeBatches } from "../stages/tensorize.ts";
import { batchTags } from "../stages/train.ts";
import { embedPad } from "../stages/embed_pad.ts";
import { UserError } from "../runner/errors.ts";
import type { PaddedSplit } from "../stages/_artifacts.ts";
import { memoryReporter } from "./_engine_helpers.ts";

const split: PaddedSplit = {
  ids: [[2, 7, 3, 0], [2, 8, 9, 3], [2, 3, 0, 0]],
  mask: [[1, 1, 1, 0], [1, 1, 1, 1], [1, 1, 0, 0]],
  labels: [[-100, 1, -100, -100], [-100, 1, 2, -100], [-100, -100, -100, -100]],
};

Deno.test("tensorize cuts each batch to its longest real sequence", () => {
  const [a, b] = makeBatches(split, [2, 0, 1], 2, true);
  assert.equal(a!.seqLen, 3);
  assert.deepEqual([...a!.ids], [2, 3, 0, 2, 7, 3]);
  assert.deepEqual(a!.rows, [2, 0]);
  assert.equal(b!.seqLen, 4);
  assert.equal(makeBatches(split, [0, 1, 2], 3, false)[0]!.seqLen, 4);
});

Deno.test("the batches file round-trips and is deterministic for a seed", () => {
  const order = shuffled([0, 1, 2], mulberry32(7));
  const set = {
    train: makeBatches(split, order, 2, true),
    validation: makeBatches(split, [0], 1, false),
  };
  const bytes = encodeBatches(set);
  assert.deepEqual(new TextDecoder().decode(bytes.subarray(0, 4)), "NERB");
  assert.deepEqual(decodeBatches(bytes), set);
  const again = encodeBatches({
    train: makeBatches(split, shuffled([0, 1, 2], mulberry32(7)), 2, true),
    validation: makeBatches(split, [0], 1, false),
  });
  assert.deepEqual(again, bytes);
  assert.notDeepEqual(
    shuffled([...Array(20).keys()], mulberry32(8)),
    shuffled([...Array(20).keys()], mulberry32(7)),
  );
  assert.throws(() => decodeBatches(new Uint8Array(16)), BatchesFormatError);
});

Deno.test("train scores only positions whose label is not ignored", () => {
  const [batch] = makeBatches(split, [1], 1, true);
  const { gold, pred } = batchTags(batch!, new Int32Array([0, 1, 1, 0]), ["O", "B-PS", "I-PS"]);
  assert.deepEqual(gold, [["B-PS", "I-PS"]]);
  assert.deepEqual(pred, [["B-PS", "B-PS"]]);
});

Deno.test("embed-pad puts O first, pads, and rejects a validation label unknown to training", async () => {
  const dir = await Deno.makeTempDir();
  const write = async (name: string, value: unknown) => {
    await Deno.writeTextFile(`${dir}/${name}`, JSON.stringify(value));
    return `${dir}/${name}`;
  };
  const doc = (start: number) => ({
    doc: 0,
    window: 0,
    ids: [2, 5, 3],
    tokens: [],
    offsets: [null, [start, 1], null],
    wordStart: [false, true, false],
  });
  const inputs = {
    dataset: await write("dataset.json", { labels: ["PS"], train: [], validation: [] }),
    encoded: await write("encoded.json", {
      max_length: 8,
      pad_id: 0,
      splits: { train: [doc(0), { ...doc(0), ids: [2, 5, 6, 3] }], validation: [doc(0)] },
    }),
    targets: await write("targets.json", {
      splits: {
        train: [[null, "B-PS", null], [null, "B-PS", "I-PS", null]],
        validation: [[null, "B-LC", null]],
      },
    }),
  };
  const ctx = (params: { padding: "longest" | "max_length" }) => ({
    id: "embed-pad",
    params,
    inputs,
    output: (name: string) => `${dir}/${name}.out.json`,
    root: dir,
    scratch: dir,
    progress: { update() {} },
    log: memoryReporter().logger("embed-pad"),
    signal: new AbortController().signal,
  });
  await assert.rejects(embedPad.run(ctx({ padding: "longest" })), (e: unknown) => {
    assert.ok(e instanceof UserError);
    assert.match(e.message, /Unknown label "B-LC" in validation data/);
    return true;
  });
  await write("targets.json", {
    label_all_tokens: true,
    splits: {
      train: [[null, "B-PS", null], [null, "B-PS", "I-PS", null]],
      validation: [[null, "O", null]],
    },
  });
  await embedPad.run(ctx({ padding: "longest" }));
  // The dictionary travels with how pieces were labelled (train writes it to config.json).
  assert.deepEqual(JSON.parse(await Deno.readTextFile(`${dir}/labels.out.json`)), {
    labels: ["O", "B-PS", "I-PS"],
    label_all_tokens: true,
  });
  const padded = JSON.parse(await Deno.readTextFile(`${dir}/padded.out.json`));
  assert.equal(padded.seq_len, 4);
  assert.deepEqual(padded.splits.train.labels[0], [-100, 1, -100, -100]);
  assert.deepEqual(padded.splits.train.mask[0], [1, 1, 1, 0]);
  await embedPad.run(ctx({ padding: "max_length" }));
  assert.equal(JSON.parse(await Deno.readTextFile(`${dir}/padded.out.json`)).seq_len, 8);
});
