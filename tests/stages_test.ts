import assert from "node:assert/strict";
import { BatchesFormatError, decodeBatches, encodeBatches } from "../ner/batches.ts";
import { mulberry32, shuffled } from "../ner/random.ts";
import { batchShapes, makeBatch, tensorize, WindowStore } from "../stages/tensorize.ts";
import { EMBED_PAD_DEPRECATED, embedPad } from "../stages/embed_pad.ts";
import { labelIds } from "../stages/label_ids.ts";
import { UserError } from "../runner/errors.ts";
import { memoryReporter } from "./_engine_helpers.ts";

// Three windows, not padded: tensorize pads them (pad id 0, label -100).
const split = new WindowStore();
split.add([2, 7, 3], [-100, 1, -100]);
split.add([2, 8, 9, 3], [-100, 1, 2, -100]);
split.add([2, 3], [-100, -100]);

function makeBatches(store: WindowStore, order: number[], size: number, trim: boolean) {
  const longest = Math.max(...store.lengths);
  return batchShapes(store.lengths, order, size, trim, longest).map((shape) =>
    makeBatch(store, shape, 0)
  );
}

Deno.test("tensorize cuts each batch to its longest real sequence", () => {
  const [a, b] = makeBatches(split, [2, 0, 1], 2, true);
  assert.equal(a!.seqLen, 3);
  assert.deepEqual([...a!.ids], [2, 3, 0, 2, 7, 3]);
  assert.deepEqual(a!.rows, [2, 0]);
  assert.equal(b!.seqLen, 4);
  assert.equal(makeBatches(split, [0, 1, 2], 3, false)[0]!.seqLen, 4);
  // Padding: [PAD] ids, a 0 mask and ignored labels after each row's pieces.
  const [padded] = makeBatches(split, [2, 1], 2, true);
  assert.deepEqual([...padded!.ids], [2, 3, 0, 0, 2, 8, 9, 3]);
  assert.deepEqual([...padded!.mask], [1, 1, 0, 0, 1, 1, 1, 1]);
  assert.deepEqual([...padded!.labels], [-100, -100, -100, -100, -100, 1, 2, -100]);
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

Deno.test("label-ids puts O first, gives label ids per window, and rejects a validation label unknown to training", async () => {
  const dir = await Deno.makeTempDir();
  const write = async (name: string, lines: unknown[]) => {
    await Deno.writeTextFile(`${dir}/${name}`, lines.map((l) => JSON.stringify(l) + "\n").join(""));
    return `${dir}/${name}`;
  };
  const win = (split: string, ids = [2, 5, 3]) => ({
    split,
    doc: 0,
    window: 0,
    ids,
    offsets: ids.map((_, i) => i === 0 || i === ids.length - 1 ? null : [0, 1]),
    wordStart: ids.map((_, i) => i !== 0 && i !== ids.length - 1),
  });
  const targets = (validationTag: string) =>
    write("targets.jsonl", [
      { artifact: "ner-targets", label_all_tokens: true },
      { split: "train", doc: 0, tags: [null, "B-PS", null] },
      { split: "train", doc: 1, tags: [null, "B-PS", "I-PS", null] },
      { split: "validation", doc: 0, tags: [null, validationTag, null] },
      { end: {} },
    ]);
  const inputs = {
    dataset: await write("dataset.jsonl", [
      { artifact: "ner-dataset", format: "kmou" },
      { end: { labels: ["PS"], skipped: 0, train: 0, validation: 0 } },
    ]),
    encoded: await write("encoded.jsonl", [
      { artifact: "ner-encoded", max_length: 8, overflow: "window", pad_id: 0, vocab_size: 10 },
      win("train"),
      { ...win("train", [2, 5, 6, 3]), doc: 1 },
      win("validation"),
      { end: {} },
    ]),
    targets: await targets("B-LC"),
  };
  const reporter = memoryReporter();
  const ctx = (id = "label-ids") => ({
    id,
    params: {},
    inputs,
    output: (name: string) => `${dir}/${name}.out.json`,
    root: dir,
    scratch: dir,
    progress: { update() {} },
    log: reporter.logger(id),
    signal: new AbortController().signal,
  });
  await assert.rejects(labelIds.run(ctx()), (e: unknown) => {
    assert.ok(e instanceof UserError);
    assert.match(e.message, /Unknown label "B-LC" in validation data/);
    return true;
  });
  await targets("O");
  await labelIds.run(ctx());
  // The dictionary travels with how pieces were labelled (train writes it to config.json).
  assert.deepEqual(JSON.parse(await Deno.readTextFile(`${dir}/labels.out.json`)), {
    labels: ["O", "B-PS", "I-PS"],
    label_all_tokens: true,
  });
  const lines = (await Deno.readTextFile(`${dir}/ids.out.json`)).trim().split("\n").map((l) =>
    JSON.parse(l)
  );
  assert.deepEqual(lines[0], { artifact: "ner-label-ids", pad_id: 0, max_length: 8 });
  // Not padded: each window keeps its own length.
  assert.deepEqual(lines[1], { split: "train", ids: [2, 5, 3], labels: [-100, 1, -100] });
  assert.deepEqual(lines[2], { split: "train", ids: [2, 5, 6, 3], labels: [-100, 1, 2, -100] });
  assert.deepEqual(lines[3], { split: "validation", ids: [2, 5, 3], labels: [-100, 0, -100] });
  assert.deepEqual(lines[4], { end: { windows: { train: 2, validation: 1 } } });
  // embed-pad, its old name, writes the same lines to its old output name and warns.
  await embedPad.run(ctx("embed-pad"));
  assert.equal(
    await Deno.readTextFile(`${dir}/padded.out.json`),
    await Deno.readTextFile(`${dir}/ids.out.json`),
  );
  assert.deepEqual(
    reporter.lines.filter((l) => l.includes("warning")),
    [`[embed-pad] warning: ${EMBED_PAD_DEPRECATED}`],
  );
  // padding moved to tensorize: giving it to embed-pad is a load-time problem that says so.
  const problems = embedPad.check!({ padding: "max_length" }, {} as never);
  assert.equal(problems.length, 1);
  assert.match(problems[0]!.message, /no longer pads/);
});

Deno.test("tensorize takes its windows from ids, or from padded (the old name), not both", () => {
  const check = (inputs: string[]) =>
    tensorize.check!({} as never, { id: "tensorize", upstream: () => [], inputs });
  assert.deepEqual(check(["ids"]), []);
  assert.deepEqual(check(["padded"]), []);
  assert.match(check([])[0]!.message, /ids input is not wired/);
  assert.match(check(["ids", "padded"])[0]!.message, /both ids and padded/);
});
