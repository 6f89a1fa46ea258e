import assert from "node:assert/strict";
import { loadPipeline } from "../runner/config/load.ts";
import { builtinStages } from "../stages/mod.ts";
import { runBuiltinPipeline, runScript } from "./_engine_helpers.ts";
import { parseConllLines } from "../ner/metrics.ts";
import { entityMetrics } from "../ner/metrics.ts";
import { decodeBatches } from "../ner/batches.ts";

const ROOT = new URL("..", import.meta.url).pathname;

async function run(file: string, dir: string, sets: string[], dryRun = false) {
  const summary = await runBuiltinPipeline(`${ROOT}${file}`, dir, { sets, dryRun });
  const failed = summary.stages.find((s) => s.status === "failed");
  if (failed) throw new Error(`${failed.id} failed: ${failed.error}`);
  return summary.byId;
}

/** Word boundaries as BERT pre-tokenization draws them: whitespace, and around punctuation. */
const SEPARATOR = /[\s\p{P}!-\/:-@\[-`{-~]/u;

/**
 * Predicts tests/testdata/handwritten/sentences.json with a model and checks that every entity
 * starts where a word starts and ends where a word ends or before one of the model's tails, and
 * that the expected entities come back exactly.
 */
async function checkHandwritten(modelDir: string, tails: Record<string, number>) {
  const { loadPredictor } = await import("../ner/predict/mod.ts");
  const file = new URL("./testdata/handwritten/sentences.json", import.meta.url);
  const { sentences } = JSON.parse(await Deno.readTextFile(file)) as {
    sentences: { text: string; expected: [string, string][] }[];
  };
  const predictor = await loadPredictor(modelDir, { backend: "wasm" });
  try {
    const results = await predictor.predict(sentences.map((s) => s.text));
    sentences.forEach(({ text, expected }, i) => {
      const got = results[i]!;
      for (const e of got) {
        const where = `"${e.text}" in "${text}"`;
        const before = text[e.start - 1];
        assert.ok(
          before === undefined || SEPARATOR.test(before) || SEPARATOR.test(text[e.start]!),
          `${where} starts inside a word`,
        );
        let wordEnd = e.end;
        while (wordEnd < text.length && !SEPARATOR.test(text[wordEnd]!)) wordEnd++;
        const rest = text.slice(e.end, wordEnd);
        assert.ok(
          rest === "" || SEPARATOR.test(text[e.end - 1]!) || Object.hasOwn(tails, rest),
          `${where} ends inside a word, before "${rest}", which is no tail`,
        );
      }
      for (const [surface, label] of expected) {
        assert.ok(
          got.some((e) => e.text === surface && e.label === label),
          `"${surface}" ${label} in "${text}": got ${
            got.map((e) => `${e.text} ${e.label}`).join(", ")
          }`,
        );
      }
    });
  } finally {
    predictor.dispose();
  }
}

// A CI-sized run of the real pipeline on the bundled sample: 4 epochs on the wasm backend.
const CI_SETS = ["stages.train.with.epochs=4", "stages.train.with.backend=wasm"];

Deno.test({
  name: "the NER pipeline trains on the sample corpus and reaches entity F1 above 0.85",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "ner-e2e-" });
    const first = await run("pipelines/ner.yaml", dir, CI_SETS);
    assert.ok(Object.values(first).every((s) => s === "ran"), JSON.stringify(first));
    const metrics = JSON.parse(await Deno.readTextFile(`${dir}/out/ner/validate/metrics.json`));
    assert.ok(metrics.f1 > 0.85, `entity F1 ${metrics.f1}`);
    // Korean spans are exact: the character-level figure is the headline and no longer lags.
    assert.equal(metrics.headline, "span_f1");
    assert.ok(
      Math.abs(metrics.span_f1 - metrics.f1) < 0.03,
      `span F1 ${metrics.span_f1}, entity F1 ${metrics.f1}`,
    );
    // F1 is the harmonic mean of the reported precision and recall (was: each figure in [0, 1]).
    const harmonic = (p: number, r: number) => (p + r === 0 ? 0 : (2 * p * r) / (p + r));
    assert.ok(Math.abs(metrics.f1 - harmonic(metrics.precision, metrics.recall)) < 1e-12);
    assert.ok(
      Math.abs(metrics.span_f1 - harmonic(metrics.span_precision, metrics.span_recall)) < 1e-12,
      JSON.stringify(metrics),
    );
    assert.deepEqual(Object.keys(metrics.per_type).sort(), ["DT", "LC", "OG", "PS", "QT", "TI"]);
    // Train kept the epoch by the figure validate reports, decoded and scored the same way: the
    // kept value is validate's headline for the same weights, to the last bit.
    assert.deepEqual(metrics.kept_metric, { name: "span_f1", value: metrics.span_f1 });
    // The boundary rules learned from the training spans travel with the model.
    assert.equal(metrics.boundaries.mode, "words+learned-tails");

    // The predictions file gives back exactly the reported figures.
    const conll = parseConllLines(
      await Deno.readTextFile(`${dir}/out/ner/validate/predictions.txt`),
    );
    const again = entityMetrics(conll.gold, conll.pred);
    assert.equal(again.f1, metrics.f1);
    assert.equal(again.precision, metrics.precision);
    assert.equal(again.recall, metrics.recall);

    // The model directory is a Hugging Face one.
    const config = JSON.parse(await Deno.readTextFile(`${dir}/out/ner/train/model/config.json`));
    assert.equal(config.model_type, "bert");
    assert.equal(config.id2label["0"], "O");
    assert.equal(config.span_boundaries.mode, "words+learned-tails");
    for (const tail of ["에서", "은", "는", "의"]) {
      assert.ok(config.span_boundaries.tails[tail] > 0, `tail ${tail}`);
    }
    for (const f of ["model.safetensors", "tokenizer.json", "vocab.txt", "tokenizer_config.json"]) {
      await Deno.stat(`${dir}/out/ner/train/model/${f}`);
    }
    const log = (await Deno.readTextFile(`${dir}/out/ner/train/log.jsonl`)).trim().split("\n");
    const head = JSON.parse(log[0]!);
    assert.ok("backend_reason" in head, "the log opens with the backend and why");
    const step = JSON.parse(log.find((l) => l.includes('"step"'))!);
    for (const key of ["step", "loss", "grad_norm", "lr", "tokens_per_s", "backend"]) {
      assert.ok(key in step, key);
    }

    // Sentences written by hand: no entity cuts a word, and names, places and organisations
    // with a particle come back exact.
    await checkHandwritten(`${dir}/out/ner/train/model`, config.span_boundaries.tails);

    // A second run executes nothing; more epochs rerun only train and validate.
    const second = await run("pipelines/ner.yaml", dir, CI_SETS);
    assert.ok(Object.values(second).every((s) => s === "cached"), JSON.stringify(second));
    // Decoding at any piece boundary instead reruns validate alone, and says so in its metrics.
    const pieces = await run("pipelines/ner.yaml", dir, [
      ...CI_SETS,
      "stages.validate.with.boundaries=pieces",
    ]);
    assert.equal(pieces.validate, "ran");
    assert.equal(pieces.train, "cached");
    const loose = JSON.parse(await Deno.readTextFile(`${dir}/out/ner/validate/metrics.json`));
    assert.equal(loose.boundaries.mode, "pieces");
    // The decoding benchmark scores the same model as validate does, both ways.
    const bench = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${ROOT}bench/main.ts`, "--decoding", `${dir}/out/ner`, "--json"],
      stdout: "piped",
      stderr: "inherit",
    }).output();
    assert.equal(bench.code, 0);
    const decodes = JSON.parse(new TextDecoder().decode(bench.stdout)).decodes as {
      decode: string;
      span_f1: number;
    }[];
    const f1 = (name: string) => decodes.find((d) => d.decode === name)!.span_f1;
    assert.equal(f1("rules"), metrics.span_f1);
    assert.equal(f1("pieces"), loose.span_f1);
    // Only entities off the piece boundaries are out of reach then (the words' rules add none).
    assert.ok(
      loose.boundaries.gold_inexpressible <= metrics.boundaries.gold_inexpressible,
      JSON.stringify([loose.boundaries, metrics.boundaries]),
    );
    const more = await run(
      "pipelines/ner.yaml",
      dir,
      ["stages.train.with.epochs=5", "stages.train.with.backend=wasm"],
      true,
    );
    assert.deepEqual(more, {
      load: "cached",
      "preprocess-input": "cached",
      "preprocess-target": "cached",
      "label-ids": "cached",
      tensorize: "cached",
      train: "would-run",
      validate: "would-run",
    });
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test("the CoNLL pipeline differs only in its load stage and groups the same windows into the same batches", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ner-conll-" });
  const sets = ["stages.train.with.epochs=1"];
  const kmou = await loadPipeline(`${ROOT}pipelines/ner.yaml`, {
    registry: builtinStages(),
    cacheDir: false,
  });
  const conll = await loadPipeline(`${ROOT}pipelines/ner-conll.yaml`, {
    registry: builtinStages(),
    cacheDir: false,
  });
  assert.deepEqual(kmou.order, conll.order);
  for (const id of kmou.order.filter((id) => id !== "load")) {
    assert.deepEqual(kmou.stages.get(id)!.params, conll.stages.get(id)!.params, id);
  }
  for (const file of ["pipelines/ner.yaml", "pipelines/ner-conll.yaml"]) {
    const summary = await runBuiltinPipeline(`${ROOT}${file}`, dir, { sets, only: ["tensorize"] });
    assert.equal(summary.stages.find((s) => s.id === "tensorize")!.status, "ran", file);
  }
  // Every split holds the same encoded windows in the same batches, in the same order. The
  // batches' contents are not the same (their lengths, token ids and labels differ): the CoNLL
  // copy's whitespace tokens carry particles and punctuation into entity spans ("April 10." for
  // "April 10", "러시아에" for "러시아"), so its learned vocabulary and targets differ.
  const layout = async (name: string) =>
    Object.fromEntries(
      Object.entries(decodeBatches(await Deno.readFile(`${dir}/out/${name}/tensorize/batches.bin`)))
        .map(([split, batches]) => [
          split,
          batches.map((b) => ({ batchSize: b.batchSize, rows: b.rows })),
        ]),
    );
  // The same documents: texts and entity types, split by split.
  const documents = async (name: string) =>
    (await Deno.readTextFile(`${dir}/out/${name}/load/dataset.jsonl`)).split("\n")
      .filter((line) => line.startsWith('{"split"')).map((line) => JSON.parse(line))
      .map((d) => [d.split, d.text, d.entities.map((e: { label: string }) => e.label)]);
  assert.deepEqual(await documents("ner-conll"), await documents("ner"));
  const batches = await layout("ner-conll");
  assert.deepEqual(Object.keys(batches), ["train", "validation"]);
  assert.equal(batches.train!.length, Math.ceil(3000 / 32));
  assert.deepEqual(batches, await layout("ner"));
  const lines = (await Deno.readTextFile(`${dir}/out/ner-conll/load/dataset.jsonl`)).trimEnd()
    .split("\n").map((line) => JSON.parse(line));
  const dataset = lines.at(-1).end;
  assert.equal(dataset.train, 3000);
  assert.equal(lines.filter((l) => l.split === "train").length, 3000);
  assert.deepEqual(dataset.labels, ["DT", "LC", "OG", "PS", "QT", "TI"]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a broken corpus line stops the run with file:line, exit code 2 and nothing cached", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ner-bad-" });
  await Deno.writeTextFile(
    `${dir}/bad.txt`,
    "; 서울에 갔다\n$<서울:LC>에 갔다\n\n; 부산에 갔다\n$<부산:LC에 갔다\n\n",
  );
  await Deno.writeTextFile(
    `${dir}/pipeline.yaml`,
    "name: bad\nstages:\n  load:\n    uses: load\n    with: { format: kmou, train: bad.txt }\n",
  );
  const { code, stderr } = await runScript(`${ROOT}main.ts`, ["run", "pipeline.yaml"], dir);
  assert.equal(code, 2, stderr);
  assert.match(stderr, /error: stage "load" failed: Unclosed "<" .*bad\.txt:5/);
  assert.doesNotMatch(stderr, /\n\s+at /);
  const runs = [...Deno.readDirSync(`${dir}/.pipeline`)].map((e) => e.name);
  assert.ok(!runs.includes("runs"), "no run record was written");
  await Deno.remove(dir, { recursive: true });
});
