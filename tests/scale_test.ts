// Issue 13: the data stages stream their artifacts. A reader holds one chunk of a file (plus
// the line it is cutting), a writer one chunk of lines, tensorize writes one batch at a time,
// and the streamed batches of the sample equal those the whole-file stages wrote before.
import assert from "node:assert/strict";
import { readJsonl, readLines } from "../ner/_jsonl.ts";
import {
  BatchesFormatError,
  decodeBatches,
  encodeBatches,
  openBatches,
  type TensorBatch,
  writeBatchesFile,
} from "../ner/batches.ts";
import { batchShapes, makeBatch, WindowStore } from "../stages/tensorize.ts";
import { mulberry32, shuffled } from "../ner/random.ts";
import { runBuiltinPipeline } from "./_engine_helpers.ts";
import { openStream, readStreamEnd } from "../stages/_artifacts.ts";
import { type CorpusFormat, parseCorpus, streamCorpus } from "../ner/formats/mod.ts";

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

Deno.test("openBatches reads a batches file batch by batch, keeping only the last few", async () => {
  const store = new WindowStore();
  for (let i = 0; i < 100; i++) store.add([2, 10 + i, 11 + (i % 5), 3], [-100, i % 3, 0, -100]);
  const shapes = {
    train: batchShapes(store.lengths, shuffled([...Array(100).keys()], mulberry32(1)), 8, true, 0),
    validation: batchShapes(store.lengths, [0, 1, 2], 2, true, 0),
  };
  const dir = await Deno.makeTempDir({ prefix: "scale-" });
  try {
    const path = `${dir}/b.bin`;
    await writeBatchesFile(
      path,
      shapes,
      (split, i) => makeBatch(store, shapes[split as "train"][i]!, 0),
    );
    const file = await openBatches(path, { cache: 3 });
    assert.equal(file.reads(), 0);
    const train = file.set.train!;
    for (const [i, batch] of train.entries()) {
      // Element by element, as the trainer reads a mask: one read per batch.
      let ones = 0;
      for (let k = 0; k < batch.mask.length; k++) ones += batch.mask[k]!;
      assert.equal(ones, batch.batchSize * 4);
      assert.equal(file.reads(), i + 1);
      assert.ok(file.cached() <= 3);
    }
    // Equal to the whole decode, values and shapes (the getters are enumerable).
    assert.deepEqual(
      JSON.parse(JSON.stringify(file.set, (_, v) => v instanceof Int32Array ? [...v] : v)),
      JSON.parse(
        JSON.stringify(
          decodeBatches(await Deno.readFile(path)),
          (_, v) => v instanceof Int32Array ? [...v] : v,
        ),
      ),
    );
    assert.deepEqual(structuredClone(train[0]), decodeBatches(await Deno.readFile(path)).train![0]);
    await Deno.writeTextFile(`${dir}/not.bin`, "hello, world");
    await assert.rejects(openBatches(`${dir}/not.bin`), BatchesFormatError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("streamCorpus reads a corpus in windows cut between records, with the records and line numbers of a whole parse", async () => {
  const dir = await Deno.makeTempDir({ prefix: "scale-" });
  try {
    const kmou = await Deno.readTextFile(new URL("../data/sample/train.txt", import.meta.url));
    const conll = await Deno.readTextFile(
      new URL("../data/sample/conll/train.txt", import.meta.url),
    );
    const cases: [CorpusFormat, string][] = [
      // Malformed records (a skipped one keeps its line), CRLF endings, a BOM mid-file.
      [
        "kmou",
        kmou.slice(0, 20_000) + "; 서울에 갔다\n$<서울:LC에 갔다\n\n" + kmou.slice(20_000, 40_000),
      ],
      [
        "kmou",
        kmou.slice(0, 30_000).replaceAll("\n", "\r\n") + "\uFEFF" + kmou.slice(30_000, 40_000),
      ],
      ["conll", conll.slice(0, 60_000).replace(/\n[^\n]*$/, "\n") + "bad\n\n"],
      [
        "jsonl",
        Array.from(
          { length: 500 },
          (_, i) =>
            i === 77 ? "{not json" : JSON.stringify({
              text: `서울 ${i}`,
              entities: [{ start: 0, end: 2, label: "LC" }],
            }),
        ).join("\n") + "\n",
      ],
      [
        "klue",
        "## klue-ner-v1_dev_00000\n서\tB-LC\n울\tI-LC\n\n## 2\n부\tB-LC\n산\tI-LC\n\n".repeat(300),
      ],
    ];
    for (const [format, text] of cases) {
      const path = `${dir}/corpus.${format}`;
      await Deno.writeTextFile(path, text);
      const whole = [...parseCorpusRecords(text, path, format)];
      for (const chunk of [97, 4096]) {
        const streamed = [];
        for await (const r of streamCorpus(path, { format, chunk })) streamed.push(describe(r));
        assert.deepEqual(streamed, whole, `${format}, chunk ${chunk}`);
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

function describe(r: unknown): unknown {
  return r instanceof Error ? { error: r.message } : r;
}

function* parseCorpusRecords(text: string, path: string, format: CorpusFormat) {
  const result = parseCorpus(text, path, { format, onError: "skip" });
  // parseCorpus keeps documents and problems apart; merge them back in line order.
  const all = [
    ...result.documents.map((d) => ({ line: d.source.line, r: d as unknown })),
    ...result.problems.map((p) => ({ line: p.line, r: { error: p.message } as unknown })),
  ].sort((a, b) => a.line - b.line);
  for (const { r } of all) yield r;
}

Deno.test("a pipeline file that still uses embed-pad and tensorize's padded input runs", async () => {
  const dir = await Deno.makeTempDir({ prefix: "scale-" });
  try {
    const summary = await runBuiltinPipeline(`${ROOT}tests/testdata/ner_small/pipeline.yaml`, dir, {
      only: ["tensorize"],
    });
    const failed = summary.stages.find((s) => s.status === "failed");
    if (failed) throw new Error(`${failed.id} failed: ${failed.error}`);
    assert.equal(summary.byId["embed-pad"], "ran");
    assert.equal(summary.byId.tensorize, "ran");
    const bytes = await Deno.readFile(`${dir}/out/ner-small/tensorize/batches.bin`);
    assert.equal(new TextDecoder().decode(bytes.subarray(0, 4)), "NERB");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "a stream input left before its records, or read for its trailer only, closes its file",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const fds = () => [...Deno.readDirSync("/proc/self/fd")].length;
    const dir = await Deno.makeTempDir({ prefix: "scale-" });
    try {
      const path = `${dir}/dataset.jsonl`;
      const end = { labels: ["PS"], skipped: 0, train: 0, validation: 0 };
      await Deno.writeTextFile(
        path,
        `${JSON.stringify({ artifact: "ner-dataset", format: "kmou" })}\n${
          JSON.stringify({ end })
        }\n`,
      );
      const before = fds();
      for (let i = 0; i < 5; i++) {
        const input = await openStream({ dataset: path }, "dataset", "ner-dataset");
        await input.records.return(undefined);
        assert.deepEqual(await readStreamEnd({ dataset: path }, "dataset", "ner-dataset"), end);
      }
      assert.equal(fds(), before);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
