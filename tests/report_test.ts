/**
 * The run report (`out/<pipeline>/report.html`): the HTML helpers (escaping, chart geometry),
 * the NER sections, and the engine writing it after every run through the CLI.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  escapeHtml,
  heatmap,
  html,
  lineChart,
  movingAverage,
  smoothingWindow,
  table,
  ticks,
} from "../runner/html_report.ts";
import { renderReport } from "../runner/report/page.ts";
import { main } from "../runner/cli/main.ts";
import { moduleFiles } from "../runner/keys/code_index.ts";
import { Registry } from "../runner/registry.ts";
import { defineStage } from "../runner/stage.ts";
import { markSpans, trainSections, validateSections } from "../stages/_report.ts";
import { train } from "../stages/train.ts";
import { exampleSentences, spanConfusion, validate } from "../stages/validate.ts";
import { project } from "./_engine_helpers.ts";
import { EVIL, fakeAnalysis, fakeMetrics, fakeTrainingLog } from "./_report_fixtures.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** The `points` of each polyline in markup. */
function polylines(markup: string): string[][] {
  return [...markup.matchAll(/<polyline[^>]* points="([^"]*)"/g)].map((m) =>
    m[1]!.split(" ").filter(Boolean)
  );
}

Deno.test("html escapes interpolated text, keeps nested markup, drops null and false", () => {
  assert.equal(escapeHtml(`a<b>&"c"'`), "a&lt;b&gt;&amp;&quot;c&quot;&#39;");
  const inner = html`<i>${EVIL}</i>`;
  const outer = html`<p title="${EVIL}">${inner}${null}${false}${undefined}${[1, "<", 2]}</p>`;
  assert.equal(
    outer.markup,
    `<p title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"><i>&lt;script&gt;` +
      `alert(&quot;x&quot;)&lt;/script&gt;</i>1&lt;2</p>`,
  );
  assert.ok(!table(["h"], [[EVIL]]).markup.includes("<script>"));
  assert.ok(!heatmap([EVIL], ["b"], [[1]], { rows: "r", cols: "c" }).markup.includes("<script>"));
});

Deno.test("lineChart draws one polyline per series with one vertex per finite point", () => {
  const loss: [number, number][] = Array.from({ length: 37 }, (_, i) => [i + 1, 2 / (i + 1)]);
  const chart = lineChart([
    { name: "loss", points: loss },
    { name: EVIL, points: [[1, 1], [2, NaN], [3, 0.5]] },
  ], { title: "Loss", x: "step", width: 500, height: 200 }).markup;
  const lines = polylines(chart);
  assert.equal(lines.length, 2);
  assert.equal(lines[0]!.length, 37);
  assert.equal(lines[1]!.length, 2, "the NaN point is left out");
  assert.ok(!chart.includes("<script>"));
  // Every vertex lies inside the plot; x grows with the step; the first loss is the highest.
  const xy = lines[0]!.map((p) => p.split(",").map(Number) as [number, number]);
  for (const [x, y] of xy) {
    assert.ok(x >= 0 && x <= 500 && y >= 0 && y <= 200, `${x},${y}`);
  }
  for (let i = 1; i < xy.length; i++) assert.ok(xy[i]![0] > xy[i - 1]![0]);
  assert.equal(Math.min(...xy.map((p) => p[1])), xy[0]![1]);
  assert.equal(xy[0]![0] < xy.at(-1)![0], true);
});

Deno.test("lineChart without data says so; one point is drawn as a dot", () => {
  const empty = lineChart([{ name: "loss", points: [] }], { title: "Loss", x: "step" }).markup;
  assert.match(empty, /no data/);
  assert.equal(polylines(empty).length, 0);
  const nan = lineChart([{ name: "a", points: [[1, NaN]] }], { title: "A", x: "x" }).markup;
  assert.match(nan, /no data/);
  const one = lineChart([{ name: "f1", points: [[1, 0.5]] }], { title: "F1", x: "epoch" }).markup;
  assert.equal(polylines(one)[0]!.length, 1);
  assert.match(one, /<circle /);
  assert.doesNotMatch(one, /NaN|Infinity/);
});

Deno.test("ticks are round and cover the range", () => {
  assert.deepEqual(ticks(0, 1), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(ticks(0, 37, 8), [0, 5, 10, 15, 20, 25, 30, 35]);
  assert.deepEqual(ticks(3, 3), [3]);
});

Deno.test("spanConfusion pairs exact spans, then overlapping ones; counts missed and spurious", () => {
  const gold = [[
    { start: 0, end: 3, label: "PS" },
    { start: 5, end: 9, label: "LC" },
    { start: 12, end: 14, label: "OG" },
  ]];
  const pred = [[
    { start: 0, end: 3, label: "PS" }, // right
    { start: 5, end: 8, label: "OG" }, // overlaps LC, wrong type
    { start: 20, end: 22, label: "PS" }, // spurious
  ]];
  const { types, counts } = spanConfusion(gold, pred, ["LC", "OG", "PS"]);
  assert.deepEqual(types, ["LC", "OG", "PS"]);
  // rows: LC, OG, PS, spurious; columns: LC, OG, PS, missed
  assert.deepEqual(counts, [
    [0, 1, 0, 0],
    [0, 0, 0, 1],
    [0, 0, 1, 0],
    [0, 0, 1, 0],
  ]);
});

Deno.test("exampleSentences puts errors first, most first, then corpus order", () => {
  const s = (start: number, label = "PS") => ({ start, end: start + 2, label });
  const picked = exampleSentences(
    ["aa", "bb", "cc", "dd", "ee"],
    [[s(0)], [s(0)], [s(0), s(5)], [], [s(0), s(3), s(6)]],
    [[s(0)], [s(0, "LC")], [], [], []],
    4,
  );
  // Three errors, then two and two in corpus order, then a correct one.
  assert.deepEqual(picked.map((p) => [p.doc, p.errors]), [[4, 3], [1, 2], [2, 2], [0, 0]]);
});

Deno.test("markSpans escapes the text and outlines spans the other side lacks", () => {
  const text = `Kim <b> met ${EVIL}`;
  const out = markSpans(
    text,
    [{ start: 0, end: 3, label: "PS" }, { start: 12, end: text.length, label: "OG" }],
    [{ start: 0, end: 3, label: "PS" }],
    () => "#eee",
  ).markup;
  assert.ok(!out.includes("<script>") && !out.includes("<b>"));
  assert.match(out, /<mark class="ok"[^>]*>Kim<sub>PS<\/sub><\/mark>/);
  assert.match(out, /<mark class="err"[^>]*>&lt;script&gt;/);
});

Deno.test("the report numbers epochs as the training log does, from 1", async () => {
  const dir = await Deno.makeTempDir({ prefix: "report-epochs-" });
  try {
    await Deno.writeTextFile(`${dir}/log.jsonl`, fakeTrainingLog(24, 3));
    const sections = await trainSections({
      id: "train",
      params: {},
      outputs: { log: `${dir}/log.jsonl` },
      root: dir,
    });
    const perEpoch = sections.find((s) => s.title === "validation per epoch")!.body.markup;
    const rows = [...perEpoch.matchAll(/<tr><td class="num">([^<]*)<\/td>/g)].map((m) => m[1]);
    assert.deepEqual(rows, ["1", "2", "3"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** The `y` of each vertex of a polyline's `points`. */
const ys = (points: string[]) => points.map((p) => Number(p.split(",")[1]));
const spread = (v: number[]) => Math.max(...v) - Math.min(...v);

Deno.test("movingAverage is centred, shorter at the ends, and leaves out non-finite points", () => {
  const points: [number, number][] = [[1, 2], [2, 4], [3, NaN], [4, 6], [5, 8], [6, 10]];
  assert.deepEqual(movingAverage(points, 3), [[1, 3], [2, 4], [4, 6], [5, 8], [6, 9]]);
  assert.deepEqual(movingAverage(points, 1), points.filter(([, y]) => !Number.isNaN(y)));
  assert.equal(smoothingWindow(49), 1);
  assert.equal(smoothingWindow(120), 5);
  assert.equal(smoothingWindow(750), 31);
});

Deno.test("per-step charts draw a moving average over the faint steps; the learning rate as is", async () => {
  const dir = await Deno.makeTempDir({ prefix: "report-smooth-" });
  try {
    await Deno.writeTextFile(`${dir}/log.jsonl`, fakeTrainingLog(120, 4));
    const [training] = await trainSections({
      id: "train",
      params: {},
      outputs: { log: `${dir}/log.jsonl` },
      root: dir,
    });
    const figures = training!.body.markup.split("<figure").slice(1);
    const figure = (title: string) => figures.find((f) => f.includes(title))!;
    for (const [title, series] of [["Loss", 1], ["Gradient norm", 2], ["Throughput", 1]] as const) {
      const f = figure(`${title} per step`);
      assert.match(f, /line: moving average of 5 steps; faint: each step/, title);
      const raw = polylines(f.replace(/<polyline(?![^>]*data-raw)[^>]*>/g, ""));
      const all = polylines(f);
      assert.equal(raw.length, series, title);
      assert.equal(all.length, 2 * series, title);
      for (const line of all) assert.equal(line.length, 120, title);
    }
    // Throughput swings by ±300 tokens/s from step to step; its average over 5 steps by a
    // quarter of that.
    const [rawLine, average] = polylines(figure("Throughput per step"));
    assert.ok(spread(ys(average!)) < spread(ys(rawLine!)) / 2);
    const lr = figure("Learning rate per step");
    assert.doesNotMatch(lr, /data-raw|moving average/);
    assert.equal(polylines(lr).length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the report draws the validation loss per epoch and marks the epoch train kept", async () => {
  const dir = await Deno.makeTempDir({ prefix: "report-kept-" });
  try {
    // Kept by the lowest validation loss (epoch 2), not by the best word-piece F1 (epoch 3).
    const log = [
      { backend: "wasm", backend_reason: "asked for" },
      { epoch: 1, loss: 0.9, validation_loss: 0.5, span_f1: 0.6, f1: 0.6, accuracy: 0.8 },
      { epoch: 2, loss: 0.5, validation_loss: 0.3, span_f1: 0.7, f1: 0.7, accuracy: 0.85 },
      { epoch: 3, loss: 0.2, validation_loss: 0.4, span_f1: 0.8, f1: 0.8, accuracy: 0.9 },
      {
        version: 2,
        kept_epoch: 2,
        kept_metric: { name: "loss", value: 0.3 },
        stopped_early: true,
        epochs_run: 3,
      },
    ];
    await Deno.writeTextFile(`${dir}/log.jsonl`, log.map((l) => JSON.stringify(l)).join("\n"));
    const sections = await trainSections({
      id: "train",
      params: {},
      outputs: { log: `${dir}/log.jsonl` },
      root: dir,
    });
    const body = sections.find((s) => s.title === "validation per epoch")!.body.markup;
    assert.match(body, /Kept: epoch 2 by loss \(0\.3000\)/);
    const rows = [...body.matchAll(/<tr><td class="num">(\d)<\/td>(.*?)<\/tr>/g)];
    assert.deepEqual(rows.map((r) => [r[1], r[2]!.includes("<b>kept</b>")]), [
      ["1", false],
      ["2", true],
      ["3", false],
    ]);
    // The table has the validation loss and the exact-span F1 of each epoch.
    assert.match(body, /<th>validation loss<\/th>/);
    assert.match(rows[1]![2]!, /<td class="num">0\.3<\/td>/);
    const loss = body.slice(body.indexOf("Loss per epoch"));
    const validation = loss.match(/<polyline data-series="validation" points="([^"]*)"/);
    assert.equal(validation![1]!.split(" ").length, 3);
    // Epochs are whole: the x axis has no tick between two.
    const ticks = [
      ...loss.slice(0, loss.indexOf("</figure>")).matchAll(/text-anchor="middle">([\d.]+)</g),
    ];
    assert.deepEqual(ticks.map((t) => t[1]), ["1", "2", "3"]);
    assert.match(body, /data-series="exact-span F1"/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the report's code is not part of train's and validate's code hash", async () => {
  for (const stage of [train, validate]) {
    const files = (await moduleFiles(stage.module, ROOT)).map((f) => f.slice(ROOT.length));
    assert.ok(files.includes(`stages/${stage.name}.ts`), files.join(", "));
    assert.ok(!files.includes("stages/_report.ts"), files.join(", "));
    assert.ok(!files.includes("runner/html_report.ts"), files.join(", "));
  }
});

Deno.test("renderReport escapes parameters and stage notes", () => {
  const page = renderReport({
    pipeline: EVIL,
    file: "p.yaml",
    when: new Date("2026-01-02T03:04:05Z"),
    stages: [{ id: "a", kind: "k", status: "failed", seconds: 1, key: null, note: EVIL }],
    params: { a: { text: EVIL, nested: { list: [EVIL] } } },
    sections: [],
  });
  assert.ok(!page.includes("<script"), page);
  assert.match(page, /nested\.list/);
  assert.match(page, /2026-01-02 03:04:05 UTC/);
});

Deno.test("a stage without parameters shows no parameter row; an empty object parameter does", () => {
  const page = renderReport({
    pipeline: "p",
    file: "p.yaml",
    when: new Date("2026-01-02T03:04:05Z"),
    stages: [],
    params: { "label-ids": {}, other: { options: {} } },
    sections: [],
  });
  const params = page.slice(page.indexOf('<section id="parameters">'));
  const label = params.slice(
    params.indexOf("<h3>label-ids</h3>"),
    params.indexOf("<h3>other</h3>"),
  );
  assert.match(label, /<p>no parameters<\/p>/);
  assert.doesNotMatch(label, /<table/);
  assert.match(params, /<td>options<\/td><td>\{\}<\/td>/);
});

// --- The engine: test stage kinds whose outputs look like train's and validate's. ---

const fakeTrain = defineStage({
  name: "fake-train",
  version: 1,
  description: "Writes a training-log-shaped JSONL",
  schema: {
    type: "object",
    properties: { epochs: { type: "integer", default: 3 }, note: { type: "string" } },
  },
  inputs: {},
  outputs: { log: { type: "train-log", description: "log", extension: ".jsonl" } },
  module: import.meta.url,
  async run(ctx) {
    await Deno.writeTextFile(ctx.output("log"), fakeTrainingLog(8 * ctx.params.epochs));
  },
  report: (ctx) => trainSections(ctx),
});

const fakeValidate = defineStage({
  name: "fake-validate",
  version: 1,
  description: "Writes metrics-shaped JSON",
  schema: { type: "object", properties: {} },
  inputs: { log: { type: "train-log", description: "log" } },
  outputs: {
    metrics: { type: "metrics", description: "metrics", extension: ".json" },
    analysis: { type: "ner-analysis", description: "analysis", extension: ".json" },
  },
  module: import.meta.url,
  async run(ctx) {
    await Deno.writeTextFile(ctx.output("metrics"), fakeMetrics());
    await Deno.writeTextFile(ctx.output("analysis"), fakeAnalysis());
  },
  report: (ctx) => validateSections(ctx),
});

const broken = defineStage({
  name: "broken-report",
  version: 1,
  description: "Writes a file; its report hook throws",
  schema: { type: "object", properties: {} },
  inputs: {},
  outputs: { text: { type: "file", description: "text", extension: ".txt" } },
  module: import.meta.url,
  async run(ctx) {
    await Deno.writeTextFile(ctx.output("text"), "hi");
  },
  report: () => Promise.reject(new Error("the hook broke")),
});

const PIPELINE = `name: rep
stages:
  train: { uses: fake-train, with: { epochs: 3, note: "${EVIL.replaceAll('"', '\\"')}" } }
  validate: { uses: fake-validate, inputs: { log: train.log } }
  other: { uses: broken-report }
`;

async function captureStderr<T>(fn: () => Promise<T>): Promise<{ value: T; lines: string[] }> {
  const lines: string[] = [];
  const original = console.error;
  const writeSync = Deno.stderr.writeSync;
  console.error = (...args: unknown[]) => void lines.push(args.join(" "));
  Deno.stderr.writeSync = (b: Uint8Array) => {
    lines.push(new TextDecoder().decode(b));
    return b.length;
  };
  try {
    return { value: await fn(), lines };
  } finally {
    console.error = original;
    Deno.stderr.writeSync = writeSync;
  }
}

const SECTIONS = [
  "Stages",
  "Parameters",
  "train: training",
  "Loss per step",
  "Learning rate per step",
  "Gradient norm per step",
  "before clipping",
  "after clipping",
  "Throughput per step",
  "train: validation per epoch",
  "Loss per epoch",
  "Validation scores per epoch",
  "validate: scores",
  "Exact character spans, per type",
  "Word-piece entities (conlleval), per type",
  "validate: confusion matrix of entity types",
  "validate: validation sentences",
  "other: report unavailable",
];

Deno.test("a run through the CLI writes a self-contained report with every section, also when cached", async () => {
  const dir = await project({ "pipeline.yaml": PIPELINE });
  const registry = new Registry().register(fakeTrain).register(fakeValidate).register(broken);
  const file = `${dir}/pipeline.yaml`;
  const first = await captureStderr(() => main(["run", file], registry));
  assert.equal(first.value, 0, first.lines.join(""));
  assert.match(first.lines.join(""), /warning: .*stage "other".*the hook broke/);
  const path = `${dir}/out/rep/report.html`;
  const page = await Deno.readTextFile(path);
  for (const forbidden of ["http://", "https://", "<script", "<link", "<img", "@import", "url("]) {
    assert.ok(!page.includes(forbidden), `the report has ${forbidden}`);
  }
  for (const section of SECTIONS) assert.ok(page.includes(section), `no "${section}"`);
  // The backend and why it was chosen; the parameters; the stage table.
  assert.match(page, /<b>wasm<\/b>/);
  assert.match(page, /auto: &lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt; was best/);
  assert.match(page, /<td>note<\/td><td>&lt;script&gt;/);
  assert.equal((page.match(/class="status-ran"/g) ?? []).length, 3);
  // Charts: loss, learning rate, two gradient norms and throughput, one vertex per step;
  // two losses and five scores per epoch, one vertex per epoch.
  const lines = polylines(page);
  assert.deepEqual(lines.map((l) => l.length), [...Array(5).fill(24), ...Array(7).fill(3)]);
  // The sentences: errors marked, text escaped.
  assert.match(page, /<mark class="err"[^>]*>Kim<sub>LC<\/sub>/);
  assert.match(page, /3 errors/);
  assert.match(page, /correct/);

  // A fully cached run rewrites the report from the cached outputs.
  await Deno.remove(path);
  const second = await captureStderr(() => main(["run", file, "--quiet"], registry));
  assert.equal(second.value, 0, second.lines.join(""));
  const again = await Deno.readTextFile(path);
  assert.equal((again.match(/class="status-cached"/g) ?? []).length, 3);
  assert.match(again, /cached \(ran in /);
  assert.deepEqual(polylines(again).map((l) => l.length), lines.map((l) => l.length));

  // A dry run writes none.
  await Deno.remove(path);
  await captureStderr(() => main(["run", file, "--dry-run"], registry));
  await assert.rejects(Deno.stat(path), Deno.errors.NotFound);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a report that cannot be written is a warning, not a failed run", async () => {
  const dir = await project({ "pipeline.yaml": PIPELINE });
  const registry = new Registry().register(fakeTrain).register(fakeValidate).register(broken);
  // A directory where the report file would go: the rename onto it fails.
  await Deno.mkdir(`${dir}/out/rep/report.html`, { recursive: true });
  await Deno.writeTextFile(`${dir}/out/rep/report.html/x`, "");
  const run = await captureStderr(() => main(["run", `${dir}/pipeline.yaml`], registry));
  assert.equal(run.value, 0, run.lines.join(""));
  assert.match(run.lines.join(""), /warning: the report was not written/);
  const left = [...Deno.readDirSync(`${dir}/out/rep`)].map((e) => e.name);
  assert.deepEqual(left.filter((n) => n.includes(".tmp-")), [], "no temporary file is left");
  await Deno.remove(dir, { recursive: true });
});
