/**
 * A model directory whose `config.json` does not match its weights, and `predict` with a
 * pipeline file: the model is the one of the cache key of the given parameters, or none.
 */
import assert from "node:assert/strict";
import { predictCommand } from "../predict.ts";
import { findModel } from "../predict_model.ts";
import { CheckpointError, loadModelDir } from "../ner/bert/checkpoint.ts";
import { decodeSafetensors, encodeSafetensors } from "../ner/bert/safetensors.ts";
import { Cache } from "../runner/store/cache.ts";
import { loadPipeline } from "../runner/config/load.ts";
import { UserError } from "../runner/errors.ts";
import { builtinStages } from "../stages/mod.ts";
import { memoryReporter } from "./_engine_helpers.ts";
import { runPipeline } from "../runner/run/variants.ts";
import { listRuns, recordPipelineRun } from "../runner/history/record.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const TINY = `${ROOT}tests/testdata/hf_tiny`;

/** A copy of hf_tiny whose config.json is changed by `edit`. */
async function tinyCopy(edit: (config: Record<string, unknown>) => void): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "predict-integrity-" });
  for await (const entry of Deno.readDir(TINY)) {
    await Deno.copyFile(`${TINY}/${entry.name}`, `${dir}/${entry.name}`);
  }
  const config = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
  edit(config);
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config, null, 2));
  return dir;
}

async function predictError(dir: string): Promise<unknown> {
  return await predictCommand([dir, "Leo Smith flew to Lagos.", "--backend", "cpu"]).then(
    () => null,
    (e) => e,
  );
}

const MISMATCHES: {
  what: string;
  edit: (c: Record<string, unknown>) => void;
  message: RegExp;
}[] = [
  {
    what: "hidden size",
    edit: (c) => c.hidden_size = 32,
    message:
      /^Tensor "bert\.embeddings\.LayerNorm\.bias" of ".*\/model\.safetensors" has shape \[16\], but ".*\/config\.json" gives it \[32\] \(hidden_size is 32 in config\.json, 16 in the weights\): correct config\.json, or use the config\.json saved with these weights/,
  },
  {
    what: "vocabulary size",
    edit: (c) => c.vocab_size = 900,
    message:
      /^Tensor "bert\.embeddings\.word_embeddings\.weight" .* has shape \[875, 16\], but .* gives it \[900, 16\] \(vocab_size is 900 in config\.json, 875 in the weights\)/,
  },
  {
    what: "max positions",
    edit: (c) => c.max_position_embeddings = 256,
    message:
      /^Tensor "bert\.embeddings\.position_embeddings\.weight" .* \[128, 16\], .* \[256, 16\] \(max_position_embeddings is 256 in config\.json, 128 in the weights\)/,
  },
  {
    what: "intermediate size",
    edit: (c) => c.intermediate_size = 64,
    message:
      /^Tensor "bert\.encoder\.layer\.0\.intermediate\.dense\.bias" .* \[32\], .* \[64\] \(intermediate_size is 64/,
  },
  {
    what: "label count",
    edit: (c) => {
      c.id2label = { "0": "O", "1": "B-PER", "2": "I-PER" };
      c.label2id = { O: 0, "B-PER": 1, "I-PER": 2 };
    },
    message:
      /^Tensor "classifier\.bias" .* has shape \[5\], but .* gives it \[3\] \(the label count of id2label is 3 in config\.json, 5 in the weights\): make id2label and label2id name one label per classifier row/,
  },
  {
    what: "layer count",
    edit: (c) => c.num_hidden_layers = 3,
    message:
      /^".*\/config\.json" gives num_hidden_layers 3, but the weights hold layers 0, 1 \(in ".*\/model\.safetensors"\): set num_hidden_layers to 2 in config\.json/,
  },
  {
    what: "a million layers",
    edit: (c) => c.num_hidden_layers = 1_000_000,
    message:
      /^Invalid ".*\/config\.json": BERT config "num_hidden_layers" is 1000000: at most 256 is supported: correct it/,
  },
];

for (const { what, edit, message } of MISMATCHES) {
  Deno.test(`predict refuses a config.json whose ${what} does not match the weights: a CheckpointError naming file, tensor and shapes`, async () => {
    const dir = await tinyCopy(edit);
    try {
      const error = await predictError(dir);
      assert.ok(error instanceof CheckpointError, String((error as Error)?.stack ?? error));
      assert.ok(error instanceof UserError);
      assert.match(error.message, message);
      // train.with.from and validate read the directory through the same loader.
      const fromTrain = await loadModelDir(dir).then(() => null, (e) => e);
      assert.ok(fromTrain instanceof CheckpointError, String(fromTrain));
      assert.equal(fromTrain.message, error.message);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("a million layers in config.json are refused before anything is allocated", async () => {
  const dir = await tinyCopy((c) => c.num_hidden_layers = 1_000_000);
  try {
    const before = Deno.memoryUsage().rss;
    const error = await loadModelDir(dir).then(() => null, (e) => e);
    assert.ok(error instanceof CheckpointError);
    const grown = Deno.memoryUsage().rss - before;
    assert.ok(grown < 200 * 2 ** 20, `rss grew by ${(grown / 2 ** 20).toFixed(0)} MiB`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("shapes are checked from the header before the weights are read: a 400 MB table is not loaded to be refused", async () => {
  const dir = await tinyCopy(() => {});
  try {
    // One tensor of 6,250,000 x 16 float32 values; the file is sparse, so it takes no disk.
    const bytes = 6_250_000 * 16 * 4;
    const header = new TextEncoder().encode(
      JSON.stringify({
        "bert.embeddings.word_embeddings.weight": {
          dtype: "F32",
          shape: [6_250_000, 16],
          data_offsets: [0, bytes],
        },
      }).padEnd(256),
    );
    const file = await Deno.open(`${dir}/model.safetensors`, { write: true, truncate: true });
    const length = new Uint8Array(8);
    new DataView(length.buffer).setBigUint64(0, BigInt(header.length), true);
    await file.write(length);
    await file.write(header);
    await file.truncate(8 + header.length + bytes);
    file.close();
    const before = Deno.memoryUsage().rss;
    const error = await loadModelDir(dir).then(() => null, (e) => e);
    const grown = Deno.memoryUsage().rss - before;
    assert.ok(error instanceof CheckpointError, String(error));
    assert.match(error.message, /vocab_size is 875 in config\.json, 6250000 in the weights/);
    assert.ok(grown < 200 * 2 ** 20, `rss grew by ${(grown / 2 ** 20).toFixed(0)} MiB`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("predict refuses a checkpoint without a classifier: it names the missing weights", async () => {
  const dir = await tinyCopy(() => {});
  try {
    const { tensors } = decodeSafetensors(await Deno.readFile(`${dir}/model.safetensors`));
    for (const name of [...tensors.keys()]) {
      if (name.startsWith("classifier.")) tensors.delete(name);
    }
    await Deno.writeFile(`${dir}/model.safetensors`, encodeSafetensors(tensors));
    const error = await predictError(dir);
    assert.ok(error instanceof CheckpointError, String(error));
    assert.match(
      error.message,
      /^".*\/model\.safetensors" lacks 2 of the weights of the token classifier that ".*\/config\.json" describes \(classifier\.weight, classifier\.bias\): a base checkpoint cannot predict: fine-tune it first/,
    );
    // For fine-tuning (train.with.from) a checkpoint without a classifier is fine.
    const loaded = await loadModelDir(dir);
    assert.equal(loaded.weights.has("classifier.weight"), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task predict with a mismatched config.json exits 2 with one error line, no stack", async () => {
  const dir = await tinyCopy((c) => c.vocab_size = 900);
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${ROOT}main.ts`, "predict", dir, "Leo Smith", "--backend", "cpu"],
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 2, stderr);
    assert.match(stderr, /^error: Tensor "bert\.embeddings\.word_embeddings\.weight" /m);
    assert.doesNotMatch(stderr, /Uncaught|RangeError|^ {4}at /m, stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * A project with pipelines/ner-pretrained.yaml, hf_tiny as `models/tiny` and 80 sentences of
 * the sample corpus; cache and outputs in the project (`.pipeline/`, `out/`).
 */
async function pretrainedProject(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "predict-key-" });
  await Deno.writeTextFile(`${dir}/deno.json`, "{}\n");
  await Deno.mkdir(`${dir}/pipelines`);
  await Deno.copyFile(
    `${ROOT}pipelines/ner-pretrained.yaml`,
    `${dir}/pipelines/ner-pretrained.yaml`,
  );
  await Deno.mkdir(`${dir}/models/tiny`, { recursive: true });
  for await (const entry of Deno.readDir(TINY)) {
    await Deno.copyFile(`${TINY}/${entry.name}`, `${dir}/models/tiny/${entry.name}`);
  }
  const blocks = (await Deno.readTextFile(`${ROOT}data/sample/train.txt`)).split(/\n\n+/);
  await Deno.mkdir(`${dir}/data/sample`, { recursive: true });
  await Deno.writeTextFile(
    `${dir}/data/sample/train.txt`,
    blocks.slice(0, 48).join("\n\n") + "\n\n",
  );
  await Deno.writeTextFile(
    `${dir}/data/sample/validation.txt`,
    blocks.slice(48, 60).join("\n\n") + "\n\n",
  );
  return dir;
}

/** Runs a pipeline and records it in the history, as `deno task run` does; returns its id. */
async function run(file: string, sets: string[]): Promise<string> {
  const pipeline = await loadPipeline(file, { registry: builtinStages(), sets });
  const summary = await runPipeline(pipeline, { reporter: memoryReporter() });
  for (const s of summary.stages) assert.notEqual(s.status, "failed", `${s.id}: ${s.error}`);
  await recordPipelineRun(pipeline, summary, 1);
  const runs = await listRuns(`${pipeline.root}/.pipeline`, pipeline.name);
  return runs.toSorted((a, b) => a.last_seen.localeCompare(b.last_seen)).at(-1)!.id;
}

Deno.test({
  name:
    "predict with a pipeline uses the model of the cache key of its --set values, refuses an untrained configuration, and says when out/ holds another model",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await pretrainedProject();
    const file = `${dir}/pipelines/ner-pretrained.yaml`;
    const base = [
      "vars.checkpoint=models/tiny",
      "stages.train.with.epochs=1",
      "stages.train.with.backend=wasm",
    ];
    const other = [...base, "stages.train.with.seed=7"];
    const refused = (sets: string[]) =>
      predictCommand([file, "Leo Smith", "--backend", "cpu", ...sets.flatMap((s) => ["--set", s])])
        .then(() => null, (e) => e as Error);
    try {
      // Nothing trained yet.
      const early = await refused(base);
      assert.ok(early instanceof UserError, String(early));
      assert.match(
        early.message,
        /^No trained model at ".*out\/ner-pretrained\/train\/model": run the pipeline first: deno task run \S*ner-pretrained\.yaml --set vars\.checkpoint=models\/tiny --set stages\.train\.with\.epochs=1 --set stages\.train\.with\.backend=wasm$/,
      );

      const baseRun = await run(file, base);
      // Other parameters, not trained: refused, although out/ holds a model.
      const untrained = await refused(other);
      assert.ok(untrained instanceof UserError, String(untrained));
      assert.match(
        untrained.message,
        /^The model at ".*out\/ner-pretrained\/train\/model" is not the one of ".*ner-pretrained\.yaml" with these --set values \(stage "train" would run: parameter "seed" changed \(42 -> 7\)\): .*run the pipeline first: deno task run .* --set stages\.train\.with\.seed=7$/,
      );

      // The parameters that were trained get the model their key names in the run index.
      const cache = await Cache.open(`${dir}/.pipeline`);
      const pipeline = await loadPipeline(file, { registry: builtinStages(), sets: base });
      const dry = await runPipeline(pipeline, {
        dryRun: true,
        only: ["train"],
        reporter: memoryReporter(),
      });
      const key = dry.stages.find((s) => s.id === "train")!.key!;
      const baseModel = cache.objectPath((await cache.record(key))!.outputs.model!);
      // With the stage and the key it came from (serve's /metadata gives them).
      assert.deepEqual(await findModel(file, { sets: base }), {
        dir: baseModel,
        stage: { id: "train", key },
      });

      // Once trained, out/ holds the other model; the first parameters still get theirs.
      const otherRun = await run(file, other);
      const otherModel = (await findModel(file, { sets: other })).dir;
      assert.notEqual(otherModel, baseModel);
      const found = await findModel(file, { sets: base });
      assert.equal(found.dir, baseModel);
      assert.match(
        found.note ?? "",
        /^note: ".*out\/ner-pretrained\/train\/model" holds another model .*cached as .*\.pipeline\/objects\//,
      );

      // --run takes a recorded run's model without its --set values (the file alone does not
      // check without them): the last run's, or the one of an id prefix.
      const byRun = (which: string) => findModel(file, { run: which });
      assert.equal((await byRun("last")).dir, otherModel);
      assert.equal((await byRun(otherRun.slice(0, 8))).dir, otherModel);
      assert.equal((await byRun(baseRun.slice(0, 8))).dir, baseModel);
      assert.match(
        (await byRun(baseRun.slice(0, 8))).note ?? "",
        new RegExp(`^note: the model of run ${baseRun.slice(0, 8)} \\(stage "train", last run `),
      );
      const mixed = await predictCommand([file, "x", "--run", "last", "--set", base[0]!])
        .then(() => null, (e) => e as Error);
      assert.ok(mixed instanceof UserError);
      assert.match(
        mixed.message,
        /^--run takes the parameters of the run it names: leave out --set/,
      );

      // Without --set the rule is the same: the pipeline as it is now, here the first parameters.
      const yaml = await Deno.readTextFile(file);
      await Deno.writeTextFile(
        file,
        yaml.replace("checkpoint: models/bert-base-cased", "checkpoint: models/tiny")
          .replace(/epochs: 3\n/, "epochs: 1\n      backend: wasm\n"),
      );
      assert.equal((await findModel(file)).dir, baseModel);

      // predictCommand prints the note on stderr and predicts with the model of the key.
      const errors: string[] = [];
      const logs: string[] = [];
      const [log, error] = [console.log, console.error];
      console.log = (...a: unknown[]) => void logs.push(a.join(" "));
      console.error = (...a: unknown[]) => void errors.push(a.join(" "));
      let code;
      try {
        code = await predictCommand([
          file,
          "Leo Smith flew to Lagos.",
          "--json",
          "--backend",
          "cpu",
        ]);
      } finally {
        [console.log, console.error] = [log, error];
      }
      assert.equal(code, 0);
      assert.equal(JSON.parse(logs.join("\n")).text, "Leo Smith flew to Lagos.");
      assert.equal(errors.length, 1);
      assert.match(errors[0]!, /^note: .* holds another model/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
