// Issue 13: the data stages stream their artifacts. A reader holds one chunk of a file (plus
// the line it is cutting), a writer one chunk of lines, tensorize writes one batch at a time,
// and the streamed batches of the sample equal those the whole-file stages wrote before.
import assert from "node:assert/strict";
import { readJsonl, readLines } from "../stages/_stream.ts";
import { encodeBatches, type TensorBatch, writeBatchesFile } from "../ner/batches.ts";
import { batchShapes, makeBatch, WindowStore } from "../stages/tensorize.ts";
import { mulberry32, shuffled } from "../ner/random.ts";
import { runBuiltinPipeline } from "./_engine_helpers.ts";

const ROOT = new URL("..", import.meta.url).pathname;

Deno.test("a stream reader reads one chunk at a time: the first record costs one read, not the file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "scale-" });
  const path = `${dir}/big.jsonl`;
  const lines = Array.from({ length: 20_000 }, (_, i) => JSON.stringify({ i, text: "가나다 abc" }));
  await Deno.writeTextFile(path, lines.join("\n") + "\n");
  const size = (await Deno.stat(path)).size;
  const read = Deno.FsFile.prototype.read;
  let reads = 0;
  let bytes = 0;
  Deno.FsFile.prototype.read = async function (this: Deno.FsFile, buffer: Uint8Array) {
    reads++;
    const n = await read.call(this, buffer);
    bytes += n ?? 0;
    return n;
  };
  try {
    const chunk = 4096;
    const it = readJsonl(path, chunk);
    assert.deepEqual((await it.next()).value, { i: 0, text: "가나다 abc" });
    assert.equal(reads, 1);
    assert.ok(bytes <= chunk && bytes < size / 10, `read ${bytes} of ${size} bytes`);
    await it.return(undefined);
    // Reading on gives every line, whatever the chunk size (lines and UTF-8 cut across chunks).
    for (const size of [7, 64, 1 << 20]) {
      let n = 0;
      for await (const line of readLines(path, size)) assert.equal(line, lines[n++]);
      assert.equal(n, lines.length);
    }
  } finally {
    Deno.FsFile.prototype.read = read;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeBatchesFile writes batch by batch the bytes encodeBatches writes whole", async () => {
  const rng = mulberry32(3);
  const store = new WindowStore();
  for (let i = 0; i < 300; i++) {
    const n = 3 + Math.floor(rng() * 20);
    const ids = Array.from({ length: n }, () => Math.floor(rng() * 4000));
    store.add(ids, ids.map((id) => (id % 7 === 0 ? -100 : id % 13)));
  }
  const order = shuffled(store.starts.map((_, i) => i), mulberry32(42));
  const shapes = { train: batchShapes(store.lengths, order, 32, true, 0) };
  const made: number[] = [];
  const dir = await Deno.makeTempDir({ prefix: "scale-" });
  try {
    await writeBatchesFile(`${dir}/b.bin`, shapes, (_, i) => {
      made.push(i);
      return makeBatch(store, shapes.train[i]!, 0);
    });
    // Each batch was made once, in file order, so only one is in memory at a time.
    assert.deepEqual(made, shapes.train.map((_, i) => i));
    const whole: TensorBatch[] = shapes.train.map((s) => makeBatch(store, s, 0));
    assert.deepEqual(await Deno.readFile(`${dir}/b.bin`), encodeBatches({ train: whole }));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the streaming data stages give the sample the batches the whole-file stages gave", async () => {
  const dir = await Deno.makeTempDir({ prefix: "scale-" });
  try {
    const summary = await runBuiltinPipeline(`${ROOT}pipelines/ner.yaml`, dir, {
      only: ["tensorize"],
    });
    const failed = summary.stages.find((s) => s.status === "failed");
    if (failed) throw new Error(`${failed.id} failed: ${failed.error}`);
    const bytes = await Deno.readFile(`${dir}/out/ner/tensorize/batches.bin`);
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    // SHA-256 of out/ner/tensorize/batches.bin written by the stages before issue 13 (whole
    // JSON artifacts, embed-pad padding): identical batches give identical training.
    assert.equal(
      [...digest].map((b) => b.toString(16).padStart(2, "0")).join(""),
      "d2d0103919a5ba5124af40bd1441f4c8c21b6b1d365dcd8771e3e9adf5e82045",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
