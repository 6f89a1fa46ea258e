import assert from "node:assert/strict";
import { aggregateEntities } from "../ner/predict/entities.ts";
import { decodeBio } from "../ner/bio_decode.ts";
import { formatTable, predictCommand } from "../predict.ts";
import { loadPipeline } from "../runner/config/load.ts";
import { UserError } from "../runner/errors.ts";
import { builtinStages } from "../stages/mod.ts";
import { memoryReporter, runBuiltinPipeline } from "./_engine_helpers.ts";
import { entityMetrics, parseConllLines } from "../ner/metrics.ts";
import { AGGREGATION_STRATEGIES, DEFAULT_MIN_SCORE, loadPredictor } from "../ner/predict/mod.ts";
import { encodeDocument, loadTokenizer } from "../ner/tokenizer/mod.ts";
import { runPipeline } from "../runner/run/variants.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const TINY = `${ROOT}tests/testdata/hf_tiny`;
const LABELS = ["O", "B-PS", "I-PS", "B-LC", "I-LC"];

/** Probability rows for pieces: each entry is [class, probability]; the rest is spread. */
function probs(rows: [number, number][]): number[] {
  return rows.flatMap(([c, p]) =>
    LABELS.map((_, i) => (i === c ? p : (1 - p) / (LABELS.length - 1)))
  );
}

Deno.test("word-pieces merge into whole entities: first-piece tags, B-/I- grouping, spans over continuation pieces, mean score", () => {
  const text = "Leo Smithson went to New Yorkshire today";
  //            0   4       12   17 20  24        34
  const window = {
    offsets: [null, [0, 3], [4, 9], [9, 12], [13, 17], [18, 20], [21, 24], [25, 29], [29, 34], [
      35,
      40,
    ], null] as ([number, number] | null)[],
    wordStart: [false, true, true, false, true, true, true, true, false, true, false],
  };
  const p = probs([
    [0, 1], // [CLS]
    [1, 0.9], // Leo B-PS
    [2, 0.7], // Smith I-PS
    [0, 0.99], // ##son: its own prediction does not matter
    [0, 0.8], // went
    [0, 0.8], // to
    [3, 0.6], // New B-LC
    [4, 0.5], // York I-LC
    [1, 0.9], // ##shire
    [0, 0.9], // today
    [0, 1], // [SEP]
  ]);
  const entities = aggregateEntities(text, window, p, LABELS);
  assert.deepEqual(entities.map((e) => [e.text, e.label, e.start, e.end]), [
    ["Leo Smithson", "PS", 0, 12],
    ["New Yorkshire", "LC", 21, 34],
  ]);
  assert.ok(Math.abs(entities[0]!.score - 0.8) < 1e-9);
  assert.ok(Math.abs(entities[1]!.score - 0.55) < 1e-9);
  // Piece units (models trained with label_all_tokens) follow each piece's own tag instead.
  const pieces = aggregateEntities(text, window, p, LABELS, "piece");
  assert.deepEqual(pieces.map((e) => e.text), ["Leo Smith", "New York", "shire"]);
});

Deno.test("entities come from the most probable valid BIO sequence; B- and a type change split", () => {
  const text = "a b c d e";
  const window = {
    offsets: [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]] as [number, number][],
    wordStart: [true, true, true, true, true],
  };
  // Argmax would read I-PS I-LC B-LC B-LC O: an I- with nothing to continue, twice. The valid
  // sequence of highest probability makes "a" the B-LC that "b" continues.
  const p = probs([[2, 0.9], [4, 0.9], [3, 0.9], [3, 0.9], [0, 0.9]]);
  const entities = aggregateEntities(text, window, p, LABELS);
  assert.deepEqual(entities.map((e) => [e.text, e.label]), [["a b", "LC"], ["c", "LC"], [
    "d",
    "LC",
  ]]);
  assert.throws(() => aggregateEntities(text, window, p.slice(1), LABELS), RangeError);
});

Deno.test({
  name: "predict --aggregation takes exact, simple, first, average or max; another is a user error",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const run = (...flags: string[]) =>
      capture(() => predictCommand([TINY, "Kofi Mensah", "--json", "--backend", "cpu", ...flags]));
    for (const a of ["exact", "simple", "first", "average", "max"]) {
      assert.equal((await run("--aggregation", a)).code, 0);
    }
    await assert.rejects(
      () => run("--aggregation", "mean"),
      (e: unknown) =>
        e instanceof UserError &&
        e.message ===
          `Unknown aggregation "mean": expected one of "exact", "simple", "first", "average", "max"`,
    );
  },
});

Deno.test({
  name:
    "minScore drops the entities scored under it, for every strategy, and keeps one scored exactly at it",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const texts = [
      "Kofi Mensah spoke in Nairobi on Monday.",
      "삼성전자는 어제 부산에 새 연구소를 열었다.",
    ];
    for (const aggregation of AGGREGATION_STRATEGIES) {
      const all = await loadPredictor(TINY, { backend: "cpu", aggregation });
      const every = await all.predict(texts);
      all.dispose();
      const scores = every.flat().map((e) => e.score).sort((a, b) => a - b);
      // A threshold that some entities are under, one is exactly at, and others above.
      const at = scores[Math.floor(scores.length / 2)]!;
      assert.ok(scores[0]! < at && at < scores.at(-1)!, `${aggregation}: ${scores.join(" ")}`);
      const some = await loadPredictor(TINY, { backend: "cpu", aggregation, minScore: at });
      const kept = await some.predict(texts);
      some.dispose();
      assert.deepEqual(kept, every.map((es) => es.filter((e) => e.score >= at)), aggregation);
      assert.ok(kept.flat().some((e) => e.score === at), aggregation);
      assert.equal(all.minScore, DEFAULT_MIN_SCORE);
      assert.equal(some.minScore, at);
    }
    await assert.rejects(() => loadPredictor(TINY, { minScore: 1.5 }), RangeError);
    await assert.rejects(() => loadPredictor(TINY, { minScore: NaN }), RangeError);
  },
});

Deno.test({
  name:
    "predict --min-score drops entities under it; a --min-score that is not a number from 0 to 1 is a user error",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const text = "Kofi Mensah spoke in Nairobi on Monday.";
    const run = (...flags: string[]) =>
      capture(() => predictCommand([TINY, text, "--json", "--backend", "cpu", ...flags]));
    const scores = (out: string) =>
      JSON.parse(out).entities.map((e: { score: number }) => e.score) as number[];
    const every = scores((await run()).out);
    const kept = scores((await run("--min-score", "0.5", "--aggregation", "average")).out);
    const average = scores((await run("--aggregation", "average")).out);
    assert.ok(every.length > 0);
    assert.ok(kept.length > 0 && kept.length < average.length, `${kept} of ${average}`);
    assert.deepEqual(kept, average.filter((s) => s >= 0.5));
    for (const bad of ["1.5", "-0.1", "abc", ""]) {
      await assert.rejects(
        () => run("--min-score", bad),
        (e: unknown) =>
          e instanceof UserError &&
          e.message === `Invalid --min-score "${bad}": expected a number from 0 to 1`,
      );
    }
  },
});

Deno.test({
  name:
    "predict --boundaries overrides the model's rules; a mode other than words+learned-tails or pieces is a user error",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // hf_tiny stores no rules: it decodes at any piece unless told otherwise.
    const plain = await loadPredictor(TINY, { backend: "cpu" });
    assert.deepEqual(plain.boundaries, { mode: "pieces", tails: new Set() });
    plain.dispose();
    const words = await loadPredictor(TINY, { backend: "cpu", boundaries: "words+learned-tails" });
    assert.equal(words.boundaries.mode, "words+learned-tails");
    words.dispose();
    const text = "Kofi Mensah spoke in Nairobi on Monday.";
    const run = (...flags: string[]) =>
      capture(() => predictCommand([TINY, text, "--json", "--backend", "cpu", ...flags]));
    await run("--boundaries", "pieces");
    for (const bad of ["words", "", "PIECES"]) {
      await assert.rejects(
        () => run("--boundaries", bad),
        (e: unknown) =>
          e instanceof UserError &&
          e.message ===
            `Unknown boundaries "${bad}": expected one of "words+learned-tails", "pieces"`,
      );
    }
  },
});

Deno.test("the table lists text, label, start, end and score", () => {
  const table = formatTable("서울에 갔다", [
    { start: 0, end: 3, label: "LC", text: "서울에", score: 0.98765 },
  ]);
  assert.equal(
    table,
    "서울에 갔다\n  text    label  start  end  score\n  서울에  LC     0      3    0.988",
  );
  assert.equal(formatTable("x", []), "x\n  (no entities)");
});

async function capture(fn: () => Promise<number>): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const original = console.log;
  console.log = (...a: unknown[]) => void lines.push(a.join(" "));
  try {
    return { code: await fn(), out: lines.join("\n") };
  } finally {
    console.log = original;
  }
}

/** A small project with pipelines/ner-pretrained.yaml and 80 sentences of the sample corpus. */
async function pretrainedProject(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "ner-pretrained-" });
  await Deno.writeTextFile(`${dir}/deno.json`, "{}\n");
  await Deno.mkdir(`${dir}/pipelines`);
  await Deno.copyFile(
    `${ROOT}pipelines/ner-pretrained.yaml`,
    `${dir}/pipelines/ner-pretrained.yaml`,
  );
  // The checkpoint lives in the project, as models/ does for users: paths stay inside it.
  await Deno.mkdir(`${dir}/models/hf_tiny`, { recursive: true });
  for await (const entry of Deno.readDir(TINY)) {
    if (entry.isFile) {
      await Deno.copyFile(`${TINY}/${entry.name}`, `${dir}/models/hf_tiny/${entry.name}`);
    }
  }
  const blocks = (await Deno.readTextFile(`${ROOT}data/sample/train.txt`)).split(/\n\n+/);
  await Deno.mkdir(`${dir}/data/sample`, { recursive: true });
  await Deno.writeTextFile(
    `${dir}/data/sample/train.txt`,
    blocks.slice(0, 64).join("\n\n") + "\n\n",
  );
  await Deno.writeTextFile(
    `${dir}/data/sample/validation.txt`,
    blocks.slice(64, 80).join("\n\n") + "\n\n",
  );
  return dir;
}

Deno.test({
  name:
    "pipelines/ner-pretrained.yaml fine-tunes a local HF checkpoint end to end, and predict reads its model",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await pretrainedProject();
    const file = `${dir}/pipelines/ner-pretrained.yaml`;
    const sets = [
      "vars.checkpoint=models/hf_tiny",
      "stages.train.with.epochs=1",
      "stages.train.with.backend=wasm",
    ];
    try {
      // Before the run, predict says how to get a model.
      const early = await predictCommand([file, "Leo Smith", ...sets.flatMap((s) => ["--set", s])])
        .then(() => null, (e) => e);
      assert.ok(early instanceof UserError);
      assert.match(
        early.message,
        /^No trained model at ".*out\/ner-pretrained\/train\/model": run the pipeline first: deno task run /,
      );

      const pipeline = await loadPipeline(file, {
        registry: builtinStages(),
        sets,
        cacheDir: false,
      });
      const lines: string[] = [];
      const summary = await runPipeline(pipeline, { reporter: memoryReporter(lines) });
      for (const s of summary.stages) assert.equal(s.status, "ran", `${s.id}: ${s.error}`);
      const log = lines.join("\n");
      assert.match(
        log,
        /\[train\] classifier newly initialised .*: the checkpoint's classifier has 5 labels \(weight \[5,16\]\), the task has 13/,
      );
      assert.match(
        log,
        /\[train\] unexpected keys, ignored: bert\.embeddings\.position_ids, bert\.pooler\.dense\.bias, bert\.pooler\.dense\.weight/,
      );
      assert.match(log, /\[train\] BERT L2 H16 A2 I32, 13 labels, vocabulary 875/);
      const model = `${dir}/out/ner-pretrained/train/model`;
      assert.equal(
        await Deno.readTextFile(`${model}/vocab.txt`),
        await Deno.readTextFile(`${TINY}/vocab.txt`),
      );
      const config = JSON.parse(await Deno.readTextFile(`${model}/config.json`));
      assert.equal(Object.keys(config.id2label).length, 13);
      const metrics = JSON.parse(
        await Deno.readTextFile(`${dir}/out/ner-pretrained/validate/metrics.json`),
      );
      // The reported F1 is the one of validate's predictions.
      const conll = parseConllLines(
        await Deno.readTextFile(`${dir}/out/ner-pretrained/validate/predictions.txt`),
      );
      assert.equal(metrics.f1, entityMetrics(conll.gold, conll.pred).f1);

      // predict with the pipeline file finds train's model; JSON lines, spans that slice the text.
      const texts = [
        "Leo Smith flew to Lagos on May 13, 2013.",
        "차순자는 새솔통신 앞에서 민수빈을 기다렸다.",
      ];
      const { code, out } = await capture(() =>
        predictCommand([
          file,
          ...texts,
          "--json",
          "--backend",
          "cpu",
          ...sets.flatMap((s) => ["--set", s]),
        ])
      );
      assert.equal(code, 0);
      const results = out.split("\n").map((l) => JSON.parse(l));
      assert.deepEqual(results.map((r) => r.text), texts);
      for (const r of results) {
        for (const e of r.entities) {
          assert.equal(r.text.slice(e.start, e.end), e.text);
          assert.match(e.label, /^(DT|LC|OG|PS|QT|TI)$/);
        }
      }
      // It reads train's model: the same entities and scores as predicting with that directory.
      const direct = await capture(() =>
        predictCommand([model, ...texts, "--json", "--backend", "cpu"])
      );
      assert.equal(direct.code, 0);
      assert.deepEqual(results, direct.out.split("\n").map((l) => JSON.parse(l)));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "predict with a model the NER pipeline trained finds English and Korean entities, in windows for long texts",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "ner-predict-" });
    try {
      const sets = [
        "stages.train.with.epochs=3",
        "stages.train.with.backend=wasm",
        "stages.train.with.learning_rate=0.005",
        "stages.train.with.layers=1",
        "stages.train.with.hidden=32",
        "stages.train.with.intermediate=64",
        "stages.train.with.dropout=0",
      ];
      const summary = await runBuiltinPipeline(`${ROOT}pipelines/ner.yaml`, dir, { sets });
      for (const s of summary.stages) assert.notEqual(s.status, "failed", `${s.id}: ${s.error}`);
      const model = `${dir}/out/ner/train/model`;
      const english = "A film by director Leo Smith opens on April 10.";
      const korean = "차순자는 18시 45분에 새솔통신 앞에서 민수빈을 기다렸다.";
      // Long enough for several windows of 128 pieces.
      const long = Array.from({ length: 30 }, () => english).join(" ");
      await Deno.writeTextFile(`${dir}/input.txt`, `${english}\n\n${korean}\n${long}\n`);
      const { out } = await capture(() =>
        predictCommand([model, "--file", `${dir}/input.txt`, "--json", "--backend", "wasm"])
      );
      const results = out.split("\n").map((l) => JSON.parse(l));
      assert.equal(results.length, 3);
      const found = (i: number) =>
        results[i].entities.map((e: { text: string; label: string }) => `${e.label}:${e.text}`);
      assert.ok(found(0).includes("PS:Leo Smith"), found(0).join(" "));
      assert.ok(found(0).includes("DT:April 10"), found(0).join(" "));
      assert.ok(found(1).includes("PS:차순자"), found(1).join(" ")); // without its particle 는
      assert.ok(found(1).includes("OG:새솔통신"), found(1).join(" "));
      // Windows cover the whole text: the long text's entities are exactly those of each of its
      // windows' texts predicted alone, moved to where the window starts, the last one included.
      for (const e of results[2].entities) assert.equal(long.slice(e.start, e.end), e.text);
      const predictor = await loadPredictor(model, { backend: "wasm" });
      const tok = await loadTokenizer(model, { transformers: false });
      const spans = encodeDocument(tok, long, { maxLength: predictor.maxLength, stride: "window" })
        .windows.map((w) => {
          const pieces = w.offsets.filter((o): o is [number, number] => o !== null);
          return [pieces[0]![0], pieces.at(-1)![1]] as const;
        });
      assert.ok(spans.length > 1, `${spans.length} window`);
      assert.equal(spans.at(-1)![1], long.length);
      const alone = await predictor.predict(spans.map(([start, end]) => long.slice(start, end)));
      predictor.dispose();
      assert.ok(alone.at(-1)!.length > 0, "entities in the last window");
      const entity = (e: { label: string; text: string; start: number; end: number }) =>
        `${e.label}:${e.text}@${e.start}-${e.end}`;
      assert.deepEqual(
        results[2].entities.map(entity),
        alone.flatMap((entities, i) =>
          entities.map((e) =>
            entity({ ...e, start: e.start + spans[i]![0], end: e.end + spans[i]![0] })
          )
        ),
      );

      const table = await capture(() => predictCommand([model, english, "--backend", "wasm"]));
      assert.match(
        table.out,
        /^A film by director Leo Smith opens on April 10\.\n {2}text +label +start +end +score\n/,
      );
      assert.match(table.out, /\n {2}Leo Smith +PS +19 +28 +[01]\.\d{3}\n/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("decodeBio picks the most probable valid BIO sequence; argmax alone can break a name", () => {
  const labels = ["O", "B-PS", "I-PS", "B-DT", "I-DT", "B-QT", "I-QT"];
  const row = (p: Record<string, number>) => labels.map((l) => p[l] ?? 0.001);
  // 1545년 as 15 ##4 ##5년: argmax says B-DT B-QT I-DT (three chunks).
  const probs = [
    row({ "B-DT": 0.6, "B-QT": 0.3 }),
    row({ "B-QT": 0.45, "I-DT": 0.4 }),
    row({ "I-DT": 0.7, "I-QT": 0.2 }),
  ].flat();
  const argmax = [0, 1, 2].map((k) => {
    const r = probs.slice(k * labels.length, (k + 1) * labels.length);
    return labels[r.indexOf(Math.max(...r))]!;
  });
  assert.deepEqual(argmax, ["B-DT", "B-QT", "I-DT"]);
  const { tags, scores } = decodeBio(probs, labels, [true, true, true]);
  assert.deepEqual(tags, ["B-DT", "I-DT", "I-DT"]);
  assert.ok(Math.abs(scores[1]! - 0.4) < 1e-9);
  // Never an I- first or after O; pieces that are not units stay null and are skipped.
  const first = decodeBio(row({ "I-PS": 0.9, O: 0.05 }), labels, [true]);
  assert.notEqual(first.tags[0], "I-PS");
  const skipped = decodeBio([...row({ O: 0.9 }), ...row({ "I-PS": 0.9 })], labels, [true, false]);
  assert.deepEqual(skipped.tags, ["O", null]);
  assert.deepEqual(decodeBio([], labels, []).tags, []);
});
