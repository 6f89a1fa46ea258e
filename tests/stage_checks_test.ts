/**
 * The NER stages reject impossible parameters when the pipeline is loaded (issue 11 item 9),
 * reject artifacts of the wrong type at the stage boundary (item 9), and stop at an abort
 * between units of work (item 13).
 */

import assert from "node:assert/strict";
import { loadPipeline } from "../runner/config/load.ts";
import { isUserError, PipelineValidationError } from "../runner/errors.ts";
import { validator } from "../runner/config/schema.ts";
import type {
  InputPaths,
  InputSpecs,
  OutputSpecs,
  StageContext,
  StageDefinition,
} from "../runner/stage.ts";
import type { AnyStage } from "../runner/registry.ts";
import { builtinStages } from "../stages/mod.ts";
import { load } from "../stages/load.ts";
import { preprocessInput } from "../stages/preprocess_input.ts";
import { preprocessTarget } from "../stages/preprocess_target.ts";
import { embedPad } from "../stages/embed_pad.ts";
import { tensorize } from "../stages/tensorize.ts";
import { capWorkers, train } from "../stages/train.ts";
import { validate } from "../stages/validate.ts";
import { ArtifactError } from "../stages/_artifacts.ts";
import { BatchesFormatError, decodeBatches, encodeBatches } from "../ner/batches.ts";
import { writeTokenizerFiles } from "../ner/tokenizer/mod.ts";
import { project } from "./_engine_helpers.ts";

const NER_YAML = await Deno.readTextFile(new URL("../pipelines/ner.yaml", import.meta.url));
const CORPUS = "; 한석규가 서울에 갔다\n$<한석규:PS>가 <서울:LC>에 갔다\n\n" +
  "; 김철수는 부산에 산다\n$<김철수:PS>는 <부산:LC>에 산다\n\n";

/** A project holding ner.yaml with `edits` applied (each `[old, new]`) and a tiny corpus. */
async function nerProject(edits: [string, string][] = []): Promise<{ dir: string; text: string }> {
  let text = NER_YAML;
  for (const [from, to] of edits) {
    assert.ok(text.includes(from), `ner.yaml has no ${JSON.stringify(from)}`);
    text = text.replace(from, to);
  }
  const dir = await project({
    "deno.json": "{}",
    "pipeline.yaml": text,
    "data/sample/train.txt": CORPUS,
    "data/sample/validation.txt": CORPUS,
  });
  return { dir, text };
}

/** The diagnostics of loading a pipeline, as `line:col path` lines; [] when it loads. */
async function problems(
  file: string,
  sets: string[] = [],
): Promise<{ where: string; message: string }[]> {
  try {
    await loadPipeline(file, { registry: builtinStages(), sets, cacheDir: false });
    return [];
  } catch (error) {
    assert.ok(error instanceof PipelineValidationError, `unexpected ${error}`);
    return error.diagnostics.map((d) => ({
      where: `${d.line}:${d.column} ${d.path}`,
      message: `${d.message}${d.hint ? `: ${d.hint}` : ""}`,
    }));
  }
}

/** The 1-based line of `text` that holds `needle`. */
function lineOf(text: string, needle: string): number {
  const index = text.split("\n").findIndex((line) => line.includes(needle));
  assert.ok(index >= 0, needle);
  return index + 1;
}

const REAL = new URL("../pipelines/ner.yaml", import.meta.url).pathname;

Deno.test("an infinite epochs in the pipeline file is reported at its line and column", async () => {
  const { dir, text } = await nerProject([["epochs: 8", "epochs: .inf"]]);
  const found = await problems(`${dir}/pipeline.yaml`);
  assert.equal(found.length, 1, JSON.stringify(found));
  assert.equal(found[0]!.where, `${lineOf(text, "epochs: .inf")}:15 stages.train.with.epochs`);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("no number parameter of the NER stages takes an infinity", async () => {
  for (
    const set of [
      "stages.train.with.epochs=.inf",
      "stages.train.with.learning_rate=.inf",
      "stages.train.with.weight_decay=.inf",
      "stages.train.with.max_grad_norm=.inf",
      "stages.train.with.seed=.inf",
      "stages.train.with.seed=-.inf",
      "stages.train.with.layers=.inf",
      "stages.train.with.workers=.inf",
      "stages.tensorize.with.seed=.inf",
      "stages.tensorize.with.batch_size=.inf",
      "stages.load.with.split.seed=.inf",
      "stages.load.with.tag_column=.inf",
      "stages.preprocess-input.with.tokenizer.learn.min_frequency=.inf",
    ]
  ) {
    const found = await problems(REAL, [set]);
    const path = set.slice(0, set.indexOf("="));
    assert.deepEqual([...new Set(found.map((d) => d.where))], [`0:0 ${path}`], set);
  }
});

Deno.test("every size is bounded, and a BERT-large fits the bounds", async () => {
  for (
    const path of [
      "stages.train.with.hidden",
      "stages.train.with.layers",
      "stages.train.with.heads",
      "stages.train.with.intermediate",
      "stages.train.with.max_positions",
      "stages.train.with.workers",
      "stages.tensorize.with.batch_size",
      "stages.preprocess-input.with.tokenizer.learn.vocab_size",
    ]
  ) {
    const found = await problems(REAL, [`${path}=1000000000`]);
    assert.ok(found.some((d) => d.where === `0:0 ${path}`), `${path}: ${JSON.stringify(found)}`);
  }
  const large = [
    "vars.max_length=512",
    "stages.train.with.layers=24",
    "stages.train.with.hidden=1024",
    "stages.train.with.heads=16",
    "stages.train.with.intermediate=4096",
    "stages.train.with.max_positions=512",
    "stages.preprocess-input.with.tokenizer.learn.vocab_size=30522",
    "stages.tensorize.with.batch_size=32",
  ];
  assert.deepEqual(await problems(REAL, large), []);
});

Deno.test("a hidden size the heads do not divide is reported at hidden with a fix", async () => {
  const { dir, text } = await nerProject([["hidden: 128", "hidden: 33"]]);
  const found = await problems(`${dir}/pipeline.yaml`);
  assert.deepEqual(found.map((d) => d.where), [
    `${lineOf(text, "hidden: 33")}:15 stages.train.with.hidden`,
  ]);
  assert.match(found[0]!.message, /hidden \(33\) is not a multiple of heads \(2\).*32 or 34/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("max_positions below the upstream max_length is reported before anything runs", async () => {
  // The probe's case: vars.max_length=512 with max_positions: 256 was a RangeError in training.
  const found = await problems(REAL, ["vars.max_length=512"]);
  assert.deepEqual(found.map((d) => d.where), [
    `${lineOf(NER_YAML, "max_positions: 256")}:22 stages.train.with.max_positions`,
  ]);
  assert.match(
    found[0]!.message,
    /max_positions \(256\) is less than max_length \(512\) of stage "preprocess-input".*raise max_positions to 512/,
  );
  // max_positions: 8 is too small for the windows of 128 pieces.
  const small = await problems(REAL, ["stages.train.with.max_positions=8"]);
  assert.deepEqual(small.map((d) => d.where), ["0:0 stages.train.with.max_positions"]);
  assert.match(small[0]!.message, /max_positions \(8\) is less than max_length \(128\)/);
});

Deno.test("with a checkpoint (from), the unused architecture parameters are not checked", async () => {
  const found = await problems(REAL, [
    "stages.train.with.from=tests/testdata/hf_tiny",
    "stages.train.with.hidden=33",
    "vars.max_length=512",
  ]);
  assert.deepEqual(found, []);
});

Deno.test("workers above the bound is rejected at load; above the cores it is capped with a warning", async () => {
  const found = await problems(REAL, ["stages.train.with.workers=1000"]);
  assert.deepEqual([...new Set(found.map((d) => d.where))], ["0:0 stages.train.with.workers"]);
  assert.equal(found.length, 1, JSON.stringify(found));
  assert.match(found[0]!.message, /Value 1000 does not match any allowed form/);
  assert.deepEqual(capWorkers("auto", 2), { workers: "auto" });
  assert.deepEqual(capWorkers(2, 2), { workers: 2 });
  const capped = capWorkers(64, 2);
  assert.equal(capped.workers, 2);
  assert.match(capped.warning ?? "", /workers: 64 is more than the 2 CPU cores.*training with 2/);
});

Deno.test("a CoNLL tag_column 0, the tokens, is reported at load", async () => {
  const { dir, text } = await nerProject([[
    "      format: kmou\n",
    "      format: conll\n      tag_column: 0\n",
  ]]);
  const found = await problems(`${dir}/pipeline.yaml`);
  assert.deepEqual(found.map((d) => d.where), [
    `${lineOf(text, "tag_column: 0")}:19 stages.load.with.tag_column`,
  ]);
  assert.match(found[0]!.message, /Column 0 holds the tokens/);
  assert.deepEqual(await problems(REAL, ["stages.load.with.tag_column=1"]), []);
  await Deno.remove(dir, { recursive: true });
});

// Stages run directly ---------------------------------------------------------------------------

/** A context for running `stage` alone, with its parameters' defaults filled in. */
function context<P, I extends InputSpecs, O extends OutputSpecs>(
  stage: StageDefinition<P, I, O>,
  dir: string,
  params: Record<string, unknown>,
  inputs: Record<string, string>,
  signal = new AbortController().signal,
): StageContext<P, I, O> & { lines: string[]; updates: number[] } {
  assert.ok(validator(stage.schema)(params), JSON.stringify(params));
  const lines: string[] = [];
  const updates: number[] = [];
  Deno.mkdirSync(`${dir}/out`, { recursive: true });
  return {
    id: stage.name,
    params: params as P,
    // Some cases give inputs a stage does not declare, or leave one out: not for the type.
    inputs: inputs as InputPaths<I>,
    output: (name) => `${dir}/out/${name}${stage.outputs[name]!.extension ?? ""}`,
    root: dir,
    scratch: dir,
    progress: { update: (current) => void updates.push(current) },
    log: {
      info: (m) => void lines.push(m),
      warn: (m) => void lines.push(`warning: ${m}`),
    },
    signal,
    lines,
    updates,
  };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return await promise.then(() => assert.fail("expected a rejection"), (e) => e);
}

const PASSWD = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n";

/** A small, consistent set of artifacts: batches, labels and a tokenizer directory. */
/** Writes a stream artifact (ner/_jsonl.ts): header, records, trailer. */
async function writeStream(
  path: string,
  header: object,
  records: object[],
  end: object = {},
): Promise<void> {
  const lines = [header, ...records, { end }];
  await Deno.writeTextFile(path, lines.map((l) => JSON.stringify(l) + "\n").join(""));
}

async function artifacts(dir: string) {
  const n = 2 * 4;
  const batches = encodeBatches({
    train: [{
      ids: new Int32Array(n).fill(5),
      mask: new Int32Array(n).fill(1),
      labels: new Int32Array(n).fill(0),
      batchSize: 2,
      seqLen: 4,
      rows: [0, 1],
    }],
    validation: [],
  });
  await Deno.writeFile(`${dir}/batches.bin`, batches);
  await Deno.writeTextFile(
    `${dir}/labels.json`,
    JSON.stringify({ labels: ["O", "B-PS", "I-PS"], label_all_tokens: true }),
  );
  await Deno.mkdir(`${dir}/tokenizer`);
  const vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "##a", "##b"];
  await writeTokenizerFiles(`${dir}/tokenizer`, vocab, { lowercase: false, maxLength: 8 });
  await Deno.writeTextFile(`${dir}/passwd`, PASSWD);
  return {
    batches: `${dir}/batches.bin`,
    labels: `${dir}/labels.json`,
    tokenizer: `${dir}/tokenizer`,
    passwd: `${dir}/passwd`,
  };
}

Deno.test("train names an input that is not a batches file, before setting up a backend", async () => {
  const dir = await Deno.makeTempDir({ prefix: "stage-checks-" });
  const a = await artifacts(dir);
  const ctx = context(train, dir, {}, { ...a, batches: a.passwd });
  const error = await rejection(train.run(ctx));
  assert.ok(error instanceof ArtifactError, String(error));
  assert.ok(isUserError(error));
  assert.match(
    error.message,
    new RegExp(
      `^Input "batches" \\(${a.passwd}\\) is not a batches file: the magic NERB is missing: ` +
        "use the batches output of a tensorize stage",
    ),
  );
  // A label dictionary of the wrong shape, and a tokenizer input that is a plain file.
  const labels = await rejection(train.run(context(train, dir, {}, { ...a, labels: a.batches })));
  assert.ok(labels instanceof ArtifactError, String(labels));
  assert.match(labels.message, /^Input "labels" \(.*\) is not a label dictionary file: it is not/);
  const tok = await rejection(train.run(context(train, dir, {}, { ...a, tokenizer: a.passwd })));
  assert.ok(tok instanceof ArtifactError, String(tok));
  assert.match(tok.message, /^Input "tokenizer" \(.*passwd\) is not a tokenizer directory: /);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("train from a checkpoint rejects windows longer than its positions before training", async () => {
  const dir = await Deno.makeTempDir({ prefix: "stage-checks-" });
  const a = await artifacts(dir);
  const from = new URL("./testdata/hf_tiny", import.meta.url).pathname;
  const config = JSON.parse(await Deno.readTextFile(`${from}/config.json`));
  const seqLen = config.max_position_embeddings + 8;
  const n = 2 * seqLen;
  await Deno.writeFile(
    a.batches,
    encodeBatches({
      train: [{
        ids: new Int32Array(n).fill(5),
        mask: new Int32Array(n).fill(1),
        labels: new Int32Array(n).fill(0),
        batchSize: 2,
        seqLen,
        rows: [0, 1],
      }],
    }),
  );
  const ctx = context(train, dir, { from, backend: "cpu", epochs: 1 }, a);
  const error = await rejection(train.run(ctx));
  assert.ok(error instanceof ArtifactError, String(error));
  assert.match(
    error.message,
    new RegExp(
      `holds windows of ${seqLen} pieces, more than the model's ${config.max_position_embeddings} ` +
        "positions \\(max_position_embeddings of the checkpoint",
    ),
  );
  await assert.rejects(Deno.stat(ctx.output("log")), Deno.errors.NotFound);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("validate names an input that is not a batches file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "stage-checks-" });
  const a = await artifacts(dir);
  await Deno.writeTextFile(`${dir}/encoded.json`, "{}");
  const model = new URL("./testdata/exported_tiny", import.meta.url).pathname;
  const ctx = context(validate, dir, {}, {
    model,
    batches: a.passwd,
    encoded: `${dir}/encoded.json`,
    dataset: `${dir}/encoded.json`,
  });
  const error = await rejection(validate.run(ctx));
  assert.ok(error instanceof ArtifactError, String(error));
  assert.match(error.message, /^Input "batches" \(.*passwd\) is not a batches file: the magic/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("the JSON stages name an input of the wrong shape instead of failing with a TypeError", async () => {
  const dir = await Deno.makeTempDir({ prefix: "stage-checks-" });
  const write = async (name: string, value: unknown) => {
    await Deno.writeTextFile(`${dir}/${name}`, JSON.stringify(value));
    return `${dir}/${name}`;
  };
  const empty = await write("empty.json", {});
  const list = await write("list.json", []);
  const noOutputs = await write("outputs.json", { outputs: null });
  await Deno.writeTextFile(`${dir}/passwd`, PASSWD);
  const cases: [AnyStage, Record<string, string>, RegExp][] = [
    [
      preprocessInput as AnyStage,
      { dataset: empty },
      /^Input "dataset" \(.*empty\.json\) is not a dataset file: its first line is not a ner-dataset header: use the dataset output of a load stage \(load\.dataset\)$/,
    ],
    [
      preprocessTarget as AnyStage,
      { dataset: list, encoded: list },
      /^Input "dataset" \(.*list\.json\) is not a dataset file: its first line is not a ner-dataset header/,
    ],
    [
      embedPad as AnyStage,
      { dataset: noOutputs, encoded: noOutputs, targets: noOutputs },
      /^Input "dataset" \(.*\) is not a dataset file/,
    ],
    [
      tensorize as AnyStage,
      { padded: `${dir}/passwd` },
      /^Input "padded" \(.*passwd\) is not a label ids file: it is not JSON: use the ids output of a label-ids stage \(label-ids\.ids\)$/,
    ],
    [
      // A stream of another type, and one cut short (no trailer line).
      preprocessTarget as AnyStage,
      {
        dataset: await write("targets.jsonl", { artifact: "ner-targets", label_all_tokens: true }),
      },
      /^Input "dataset" \(.*targets\.jsonl\) is not a dataset file: it is a ner-targets file/,
    ],
    [
      preprocessInput as AnyStage,
      {
        dataset: await write("cut.jsonl", { artifact: "ner-dataset", format: "kmou" }),
      },
      /^Input "dataset" \(.*cut\.jsonl\) is not a dataset file: it ends before its trailer line/,
    ],
  ];
  for (const [stage, inputs, pattern] of cases) {
    const error = await rejection(stage.run(context(stage, dir, {}, inputs)));
    assert.ok(error instanceof ArtifactError, `${stage.name}: ${error}`);
    assert.match(error.message, pattern, stage.name);
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("decodeBatches checks its header against the file before reading data", () => {
  const good = encodeBatches({
    train: [{
      ids: new Int32Array(4),
      mask: new Int32Array(4),
      labels: new Int32Array(4),
      batchSize: 2,
      seqLen: 2,
      rows: [0, 1],
    }],
  });
  const truncated = good.slice(0, good.length - 8);
  const longHeader = good.slice();
  new DataView(longHeader.buffer).setUint32(8, 1 << 30, true);
  const notJson = good.slice();
  notJson[12] = 0x7b + 1;
  for (
    const [bytes, pattern] of [
      [new TextEncoder().encode(PASSWD), /the magic NERB is missing/],
      [truncated, /batch 0 of split "train" runs past the end of the data/],
      [longHeader, /header of 1073741824 bytes runs past the end of the file/],
      [notJson, /header is not UTF-8 JSON/],
    ] as const
  ) {
    assert.throws(() => decodeBatches(bytes), (error: unknown) => {
      assert.ok(error instanceof BatchesFormatError, String(error));
      assert.ok(isUserError(error));
      assert.match(error.message, pattern);
      return true;
    });
  }
});

// Interruption ----------------------------------------------------------------------------------

function aborted(): AbortSignal {
  const controller = new AbortController();
  controller.abort();
  return controller.signal;
}

function isAbort(error: unknown): boolean {
  return error instanceof DOMException && error.name === "AbortError";
}

Deno.test("load stops reading a corpus once the run is interrupted", async () => {
  const dir = await Deno.makeTempDir({ prefix: "stage-checks-" });
  await Deno.writeTextFile(`${dir}/train.txt`, CORPUS.repeat(2000));
  const controller = new AbortController();
  const ctx = context(load, dir, { train: `${dir}/train.txt` }, {}, controller.signal);
  setTimeout(() => controller.abort(), 0);
  const error = await rejection(load.run(ctx));
  assert.ok(isAbort(error), String(error));
  await assert.rejects(Deno.stat(ctx.output("dataset")), Deno.errors.NotFound);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("preprocess-input stops between documents once the run is interrupted", async () => {
  const dir = await Deno.makeTempDir({ prefix: "stage-checks-" });
  const docs = Array.from({ length: 3000 }, (_, i) => ({
    text: `a b ab ba ${i}`,
    entities: [],
    source: { file: "x", line: i + 1 },
  }));
  await writeStream(
    `${dir}/dataset.json`,
    { artifact: "ner-dataset", format: "kmou" },
    [
      ...docs.map((d) => ({ split: "train", ...d })),
      ...docs.map((d) => ({ split: "validation", ...d })),
    ],
    { labels: [], skipped: 0, train: 3000, validation: 3000 },
  );
  await Deno.mkdir(`${dir}/tokenizer`);
  const controller = new AbortController();
  const ctx = context(
    preprocessInput,
    dir,
    {
      tokenizer: { learn: { vocab_size: 64 } },
    },
    { dataset: `${dir}/dataset.json` },
    controller.signal,
  );
  // Interrupt at the first progress report of tokenizing: the loop must see it soon after.
  const update = ctx.progress.update;
  ctx.progress.update = (current, total, message) => {
    if (ctx.updates.length === 0) setTimeout(() => controller.abort(), 0);
    update(current, total, message);
  };
  const error = await rejection(preprocessInput.run(ctx));
  assert.ok(isAbort(error), String(error));
  assert.ok(Math.max(...ctx.updates) < 1000, `went on to ${ctx.updates.join(",")}`);
  await assert.rejects(Deno.stat(ctx.output("encoded")), Deno.errors.NotFound);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("every NER stage that loops over documents or windows stops at an aborted signal", async () => {
  const dir = await Deno.makeTempDir({ prefix: "stage-checks-" });
  const a = await artifacts(dir);
  const doc = { text: "a b", entities: [], source: { file: "x", line: 1 } };
  const window = {
    doc: 0,
    window: 0,
    ids: [2, 5, 6, 3],
    tokens: ["[CLS]", "a", "b", "[SEP]"],
    offsets: [null, [0, 1], [2, 3], null],
    wordStart: [false, true, true, false],
  };
  const stream = async (name: string, header: object, records: object[], end?: object) => {
    await writeStream(`${dir}/${name}`, header, records, end);
    return `${dir}/${name}`;
  };
  const dataset = await stream(
    "dataset.jsonl",
    { artifact: "ner-dataset", format: "kmou" },
    [{ split: "train", ...doc }, { split: "validation", ...doc }],
    { labels: ["PS"], skipped: 0, train: 1, validation: 1 },
  );
  const encoded = await stream(
    "encoded.jsonl",
    { artifact: "ner-encoded", max_length: 8, overflow: "window", pad_id: 0, vocab_size: 9 },
    [{ split: "train", ...window }, { split: "validation", ...window }],
  );
  const targets = await stream(
    "targets.jsonl",
    { artifact: "ner-targets", label_all_tokens: true },
    [
      { split: "train", doc: 0, tags: [null, "O", "O", null] },
      { split: "validation", doc: 0, tags: [null, "O", "O", null] },
    ],
  );
  const row = { ids: [2, 5, 6, 3], labels: [-100, 0, 0, -100] };
  const padded = await stream(
    "padded.jsonl",
    { artifact: "ner-label-ids", pad_id: 0, max_length: 8 },
    [{ split: "train", ...row }, { split: "validation", ...row }],
  );
  await Deno.writeTextFile(`${dir}/train.txt`, CORPUS);
  const model = new URL("./testdata/exported_tiny", import.meta.url).pathname;
  const cases: [AnyStage, Record<string, unknown>, Record<string, string>][] = [
    [load as AnyStage, { train: `${dir}/train.txt` }, {}],
    [preprocessTarget as AnyStage, {}, { dataset, encoded }],
    [embedPad as AnyStage, {}, { dataset, encoded, targets }],
    [tensorize as AnyStage, {}, { padded }],
    [train as AnyStage, {}, a],
    [validate as AnyStage, {}, { model, batches: a.batches, encoded, dataset }],
  ];
  for (const [stage, params, inputs] of cases) {
    const ctx = context(stage, dir, params, inputs, aborted());
    const error = await rejection(stage.run(ctx));
    assert.ok(isAbort(error), `${stage.name}: ${error}`);
    for (const name of Object.keys(stage.outputs)) {
      await assert.rejects(Deno.stat(ctx.output(name)), Deno.errors.NotFound, stage.name);
    }
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("preprocess-target names inputs that do not belong together: a document without a window", async () => {
  const dir = await Deno.makeTempDir({ prefix: "stage-checks-" });
  const doc = { text: "a b", entities: [], source: { file: "x", line: 1 } };
  const window = {
    doc: 0,
    window: 0,
    ids: [2, 5, 6, 3],
    offsets: [null, [0, 1], [2, 3], null],
    wordStart: [false, true, true, false],
  };
  await writeStream(
    `${dir}/dataset.jsonl`,
    { artifact: "ner-dataset", format: "kmou" },
    [{ split: "train", ...doc }, { split: "train", ...doc }],
    { labels: [], skipped: 0, train: 2, validation: 0 },
  );
  // An encoding of one document only (of another dataset).
  await writeStream(
    `${dir}/encoded.jsonl`,
    { artifact: "ner-encoded", max_length: 8, overflow: "window", pad_id: 0, vocab_size: 9 },
    [{ split: "train", ...window }],
  );
  const inputs = { dataset: `${dir}/dataset.jsonl`, encoded: `${dir}/encoded.jsonl` };
  const ctx = context(preprocessTarget, dir, {}, inputs);
  const error = await rejection(preprocessTarget.run(ctx));
  assert.ok(error instanceof ArtifactError, String(error));
  assert.match(
    error.message,
    /^Inputs "encoded" \(.*\) and "dataset" \(.*\) do not belong together: train document 1 of the dataset has no window in the encoding/,
  );
  await assert.rejects(Deno.stat(ctx.output("targets")), Deno.errors.NotFound);
  await Deno.remove(dir, { recursive: true });
});
