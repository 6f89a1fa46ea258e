/**
 * The NER stages' sections of the run report (`out/<pipeline>/report.html`): for `train`, the
 * backend and why it was chosen, loss, learning rate, gradient norm before and after clipping
 * and throughput per step (all but the learning rate with a moving average over the noisy
 * steps), and per epoch the training and validation loss and the validation scores, with the
 * epoch train kept, from the training log; for
 * `validate`, the scores and per-type tables of metrics.json, the confusion matrix of entity
 * types and 20 validation sentences with gold and predicted entities marked, errors first,
 * from its `analysis` output.
 *
 * The stages import this module by a computed specifier, so it is not part of their code
 * hash: changing the report never reruns training.
 *
 * @module
 */

import {
  type Cell,
  type Chart,
  heatmap,
  type Html,
  html,
  lineChart,
  PALETTE,
  type Series,
  table,
} from "../runner/html_report.ts";
import type { ReportContext, ReportSection } from "../runner/stage.ts";
import type { EntitySpan } from "../ner/types.ts";
import type { ExampleSentence, ValidationAnalysis } from "./validate.ts";

/**
 * The colour of each chart series; distinct from each other (the browser test counts the
 * pixels of each to see that every chart drew).
 */
export const SERIES_COLORS = {
  loss: PALETTE[0],
  lr: PALETTE[1],
  gradBefore: PALETTE[2],
  gradAfter: PALETTE[3],
  throughput: PALETTE[4],
  f1: PALETTE[5],
  precision: PALETTE[6],
  recall: PALETTE[7],
  accuracy: "#546e7a",
  validationLoss: "#f4511e",
  spanF1: "#7cb342",
} as const;

type LogLine = Record<string, unknown>;

const num = (v: unknown): number => typeof v === "number" ? v : NaN;

async function readLog(path: string): Promise<LogLine[]> {
  const out: LogLine[] = [];
  for (const line of (await Deno.readTextFile(path)).split("\n")) {
    if (!line.trim()) continue;
    try {
      const v = JSON.parse(line);
      if (v && typeof v === "object" && !Array.isArray(v)) out.push(v);
    } catch { /* a line that is not JSON is left out */ }
  }
  return out;
}

/** A chart of a section, drawn. */
const draw = (c: Chart) => lineChart(c.series, c.options);

const median = (xs: number[]) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : NaN;
};

/**
 * The epoch train kept, counted from 1: its summary line's `kept_epoch` (the last line of the
 * log), or, in a log without one, the first epoch with the best word-piece F1.
 */
function keptEpoch(lines: LogLine[], epochs: LogLine[]): number {
  const summary = lines.findLast((l) => typeof l.kept_epoch === "number");
  if (summary) return summary.kept_epoch as number;
  const f1s = epochs.map((e) => num(e.f1));
  if (!f1s.some(Number.isFinite)) return num(epochs.at(-1)?.epoch);
  return num(epochs[f1s.indexOf(Math.max(...f1s.filter(Number.isFinite)))]!.epoch);
}

/**
 * The `train` stage's sections: the backend, the per-step charts and the per-epoch scores.
 *
 * @param ctx The stage's parameters and output paths (`log`).
 * @returns The sections.
 */
export async function trainSections(ctx: ReportContext): Promise<ReportSection[]> {
  const log = ctx.outputs.log;
  if (!log) return [];
  const lines = await readLog(log);
  const steps = lines.filter((l) => typeof l.step === "number");
  const epochs = lines.filter((l) => typeof l.step !== "number" && typeof l.epoch === "number");
  const head = lines.find((l) => "backend_reason" in l);
  const backend = String(head?.backend ?? steps[0]?.backend ?? epochs[0]?.backend ?? "unknown");
  const reason = head ? String(head.backend_reason) : "not recorded in this training log";
  const per = (key: string): [number, number][] =>
    steps.map((s) => [num(s.step), num(s[key])] as [number, number]);
  const hasClipped = steps.some((s) => typeof s.grad_norm_clipped === "number");
  const grad: Series[] = [
    { name: "before clipping", points: per("grad_norm"), color: SERIES_COLORS.gradBefore },
  ];
  if (hasClipped) {
    grad.push({
      name: "after clipping",
      points: per("grad_norm_clipped"),
      color: SERIES_COLORS.gradAfter,
    });
  }
  const last = steps.at(-1);
  const facts: Cell[][] = [
    ["backend", html`<b>${backend}</b>`],
    ["why", reason],
    ["steps", String(steps.length)],
    ["epochs", String(epochs.length)],
    ["training time", last ? `${num(last.seconds).toFixed(1)} s` : ""],
    ["median throughput", `${Math.round(median(steps.map((s) => num(s.tokens_per_s))))} tokens/s`],
    ["clipping at global norm", String(ctx.params.max_grad_norm ?? "")],
  ];
  const stepCharts: Chart[] = [
    {
      series: [{ name: "loss", points: per("loss"), color: SERIES_COLORS.loss }],
      options: { title: "Loss per step", x: "step", y: "loss", smooth: "auto" },
    },
    {
      series: [{ name: "learning rate", points: per("lr"), color: SERIES_COLORS.lr }],
      options: { title: "Learning rate per step", x: "step", y: "learning rate" },
    },
    {
      series: grad,
      options: { title: "Gradient norm per step", x: "step", y: "global norm", smooth: "auto" },
    },
    {
      series: [{
        name: "tokens/s",
        points: per("tokens_per_s"),
        color: SERIES_COLORS.throughput,
      }],
      options: { title: "Throughput per step", x: "step", y: "tokens/s", smooth: "auto" },
    },
  ];
  const training: ReportSection = {
    title: "training",
    body: html`${table(["", ""], facts)}<div class="charts">${stepCharts.map(draw)}</div>`,
    charts: stepCharts,
  };
  const epochPoints = (key: string): [number, number][] =>
    epochs.map((e) => [num(e.epoch), num(e[key])] as [number, number]);
  const has = (key: string) => epochs.some((e) => typeof e[key] === "number");
  const kept = keptEpoch(lines, epochs);
  const summary = lines.findLast((l) => typeof l.kept_epoch === "number");
  const metric = summary?.kept_metric as { name?: unknown; value?: unknown } | null | undefined;
  const keptBy = metric && typeof metric.name === "string" && typeof metric.value === "number"
    ? ` by ${metric.name} (${metric.value.toFixed(4)})`
    : "";
  const columns: [string, string][] = [
    ["training loss", "loss"],
    ["validation loss", "validation_loss"],
    ["exact-span F1", "span_f1"],
    ["word-piece entity F1", "f1"],
    ["precision", "precision"],
    ["recall", "recall"],
    ["token accuracy", "accuracy"],
  ];
  const shown = columns.filter(([, key]) => key === "loss" || has(key));
  const epochRows = epochs.map((e) =>
    [
      num(e.epoch),
      ...shown.map(([, key]) => num(e[key])),
      num(e.epoch) === kept ? html`<b>kept</b>` : "",
    ] as Cell[]
  );
  const scores: Series[] = [
    { name: "exact-span F1", points: epochPoints("span_f1"), color: SERIES_COLORS.spanF1 },
    { name: "word-piece entity F1", points: epochPoints("f1"), color: SERIES_COLORS.f1 },
    { name: "precision", points: epochPoints("precision"), color: SERIES_COLORS.precision },
    { name: "recall", points: epochPoints("recall"), color: SERIES_COLORS.recall },
    { name: "token accuracy", points: epochPoints("accuracy"), color: SERIES_COLORS.accuracy },
  ].filter((series) => series.points.some(([, y]) => Number.isFinite(y)));
  const losses: Series[] = [
    { name: "training (mean)", points: epochPoints("loss"), color: SERIES_COLORS.loss },
  ];
  if (has("validation_loss")) {
    losses.push({
      name: "validation",
      points: epochPoints("validation_loss"),
      color: SERIES_COLORS.validationLoss,
    });
  }
  const epochCharts: Chart[] = [
    { series: losses, options: { title: "Loss per epoch", x: "epoch", y: "loss", markers: true } },
    {
      series: scores,
      options: { title: "Validation scores per epoch", x: "epoch", markers: true, zero: false },
    },
  ];
  const validation: ReportSection = has("f1")
    ? {
      title: "validation per epoch",
      body: html`<p>Kept: epoch ${kept}${keptBy}.</p><div class="charts">${
        epochCharts.map(draw)
      }</div>${table(["epoch", ...shown.map(([name]) => name), ""], epochRows)}`,
      charts: epochCharts,
    }
    : {
      title: "validation per epoch",
      body: html`<p>No validation split: the last epoch is kept.</p>${
        table(["epoch", "training loss"], epochs.map((e) => [num(e.epoch), num(e.loss)]))
      }`,
    };
  return [training, validation];
}

interface TypeScores {
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

function typeTable(perType: Record<string, TypeScores> | undefined, overall: Cell[]): Html {
  if (!perType) return html`<p>not in metrics.json</p>`;
  const rows: Cell[][] = Object.entries(perType).map((
    [t, s],
  ) => [t, s.precision, s.recall, s.f1, s.support]);
  rows.push(overall);
  return table(["type", "precision", "recall", "F1", "support"], rows);
}

/** Light backgrounds for entity types, by position in the sorted type list. */
const TYPE_TINTS = [
  "#ffe0b2",
  "#c8e6c9",
  "#bbdefb",
  "#f8bbd0",
  "#d1c4e9",
  "#b2ebf2",
  "#fff9c4",
  "#d7ccc8",
  "#cfd8dc",
  "#f0f4c3",
];

/**
 * A text with spans marked: each span a `<mark>` tinted by type, followed by its type; spans
 * not in `other` (errors) outlined in red.
 *
 * @param text The sentence.
 * @param spans Spans to mark (overlapping ones after the first are left out).
 * @param other The spans of the other side (gold for predictions, predictions for gold).
 * @param tint Background of each type.
 * @returns The marked text.
 */
export function markSpans(
  text: string,
  spans: readonly EntitySpan[],
  other: readonly EntitySpan[],
  tint: (type: string) => string,
): Html {
  const same = (a: EntitySpan) =>
    other.some((b) => a.start === b.start && a.end === b.end && a.label === b.label);
  const parts: Html[] = [];
  let at = 0;
  for (const s of [...spans].sort((a, b) => a.start - b.start)) {
    if (s.start < at || s.end > text.length || s.end <= s.start) continue;
    parts.push(html`${text.slice(at, s.start)}`);
    parts.push(
      html`<mark class="${same(s) ? "ok" : "err"}" style="background:${tint(s.label)}">${
        text.slice(s.start, s.end)
      }<sub>${s.label}</sub></mark>`,
    );
    at = s.end;
  }
  parts.push(html`${text.slice(at)}`);
  return html`${parts}`;
}

const SENTENCE_STYLE = html`<style>
.sent{background:#fff;border:1px solid #e3e3e3;margin:6px 0;padding:4px 10px}
.sent .line{margin:2px 0;line-height:1.9}.sent .who{display:inline-block;width:72px;color:#777}
.sent mark{padding:1px 2px;border-radius:3px;border:1px solid transparent}
.sent mark.err{border:2px solid #e53935}.sent sub{font-size:10px;color:#555;margin-left:2px}
.sent .tag{float:right;font-size:12px;color:#b71c1c}.sent .tag.good{color:#2e7d32}
</style>`;

function sentenceBlock(s: ExampleSentence, tint: (t: string) => string): Html {
  const tag = s.errors
    ? html`<span class="tag">${s.errors} error${s.errors === 1 ? "" : "s"}</span>`
    : html`<span class="tag good">correct</span>`;
  return html`
    <div
      class="sent">${tag}<div class="line"><span class="who">gold</span>${markSpans(
        s.text,
        s.gold,
        s.pred,
        tint,
      )}</div><div class="line"><span class="who">predicted</span>${markSpans(
        s.text,
        s.pred,
        s.gold,
        tint,
      )}</div></div>
  `;
}

/**
 * The `validate` stage's sections: the scores, the per-type tables, the confusion matrix and
 * the sentences.
 *
 * @param ctx The stage's parameters and output paths (`metrics`, `analysis`).
 * @returns The sections.
 */
export async function validateSections(ctx: ReportContext): Promise<ReportSection[]> {
  if (!ctx.outputs.metrics) return [];
  // deno-lint-ignore no-explicit-any
  const m: any = JSON.parse(await Deno.readTextFile(ctx.outputs.metrics));
  let analysis: ValidationAnalysis | undefined;
  if (ctx.outputs.analysis) {
    analysis = JSON.parse(await Deno.readTextFile(ctx.outputs.analysis));
  }
  const headline = typeof m.headline === "string" ? m.headline : "f1";
  const scores: Cell[][] = [
    [html`<b>headline: ${headline}</b>`, html`<b>${Number(m[headline]).toFixed(4)}</b>`],
    [
      "exact character-span F1 (P / R)",
      `${f(m.span_f1)} (${f(m.span_precision)} / ${f(m.span_recall)})`,
    ],
    ["exact-span macro F1", f(m.span_macro_f1)],
    ["character macro F1 (KLUE)", f(m.char_macro_f1)],
    ["word-piece entity F1 (P / R)", `${f(m.f1)} (${f(m.precision)} / ${f(m.recall)})`],
    ["token accuracy", f(m.accuracy)],
    ["sentences", String(m.sentences)],
    ["labelled pieces", m.labelled_pieces],
    ["backend", m.backend],
  ];
  const sections: ReportSection[] = [{
    title: "scores",
    body: html`
      <div class="charts">
        <div>${table(["metric", "value"], scores)}</div>
        <div><h3>Exact character spans, per type</h3>${typeTable(m.span_per_type, [
          html`<b>all (micro)</b>`,
          m.span_precision,
          m.span_recall,
          m.span_f1,
          "",
        ])}</div>
        <div><h3>Word-piece entities (conlleval), per type</h3>${typeTable(m.per_type, [
          html`<b>all (micro)</b>`,
          m.precision,
          m.recall,
          m.f1,
          "",
        ])}</div>
      </div>
    `,
  }];
  if (!analysis) {
    sections.push({
      title: "confusion matrix and sentences",
      body:
        html`<p>This validation ran before it wrote an analysis output; run it again (<code>--force validate</code>) for the confusion matrix and the sentences.</p>`,
    });
    return sections;
  }
  const { types, counts } = analysis.confusion;
  const n = types.length;
  sections.push({
    title: "confusion matrix of entity types",
    body:
      html`<p>Gold spans (rows) paired with predicted spans (columns): first the same boundaries, then the most overlap. A gold span with no predicted span is <i>missed</i>; a predicted span with no gold one is <i>spurious</i>. The diagonal is the right type (boundaries may still differ).</p>${
        heatmap([...types, "spurious"], [...types, "missed"], counts, {
          rows: "gold",
          cols: "predicted",
          highlight: (r, c) => r === c && r < n,
        })
      }`,
  });
  const tints = new Map(types.map((t, i) => [t, TYPE_TINTS[i % TYPE_TINTS.length]!]));
  const tint = (t: string) => tints.get(t) ?? "#eeeeee";
  const wrong = analysis.sentences.filter((s) => s.errors > 0).length;
  sections.push({
    title: "validation sentences",
    body:
      html`${SENTENCE_STYLE}<p>${analysis.sentences.length} sentences, ${wrong} with errors first (most errors first). Entities outlined in red are errors: on the gold line, missed or mistyped; on the predicted line, spurious, mistyped or with other boundaries.</p>${
        analysis.sentences.map((s) => sentenceBlock(s, tint))
      }`,
  });
  return sections;
}

function f(x: unknown): string {
  return typeof x === "number" ? x.toFixed(4) : "";
}
