/**
 * Outputs shaped like train's and validate's, for the report tests.
 *
 * @module
 */

/** Text that must come out escaped wherever the report shows it. */
export const EVIL = `<script>alert("x")</script>`;

/**
 * A training log as train writes it: the backend line, steps, epoch lines (epochs from 1) and
 * the summary line.
 */
export function fakeTrainingLog(steps = 24, epochs = 3): string {
  const lines: unknown[] = [{ backend: "wasm", backend_reason: `auto: ${EVIL} was best` }];
  const per = steps / epochs;
  for (let s = 1; s <= steps; s++) {
    // Clipped (at 1) at every step of the browser test's 120: the two norms never overlap.
    const norm = 12 / Math.sqrt(s);
    lines.push({
      step: s,
      epoch: Math.floor((s - 1) / per) + 1,
      loss: 2 * Math.exp(-s / 8) + 0.1,
      grad_norm: norm,
      grad_norm_clipped: Math.min(1, norm),
      lr: 1e-3 * Math.min(s / 4, (steps - s + 1) / (steps - 3)),
      tokens_per_s: 2000 + 300 * Math.sin(s),
      seconds: s * 0.5,
      backend: "wasm",
    });
    if (s % per === 0) {
      const e = s / per - 1;
      lines.push({
        epoch: e + 1,
        loss: 1 / (e + 1),
        validation_loss: 0.6 - 0.15 * e + 0.05 * e * e,
        span_f1: 0.52 + 0.1 * e,
        f1: 0.5 + 0.1 * e,
        precision: 0.55 + 0.1 * e,
        recall: 0.45 + 0.1 * e,
        accuracy: 0.8 + 0.05 * e,
        backend: "wasm",
      });
    }
  }
  // The summary line train writes last (kept by span_f1: the last epoch).
  lines.push({
    version: 2,
    kept_epoch: epochs,
    kept_metric: { name: "span_f1", value: 0.52 + 0.1 * (epochs - 1) },
    stopped_early: false,
    epochs_run: epochs,
  });
  return lines.map((l) => JSON.stringify(l)).join("\n") + "\n";
}

/** metrics.json as validate writes it. */
export function fakeMetrics(): string {
  const per = (f1: number, support: number) => ({ precision: f1, recall: f1, f1, support });
  return JSON.stringify({
    headline: "span_f1",
    precision: 0.8,
    recall: 0.7,
    f1: 0.75,
    accuracy: 0.9,
    per_type: { LC: per(0.7, 10), [EVIL]: per(0.8, 5) },
    span_f1: 0.74,
    span_precision: 0.79,
    span_recall: 0.69,
    span_macro_f1: 0.72,
    span_per_type: { LC: per(0.69, 10), PS: per(0.79, 5) },
    char_macro_f1: 0.81,
    labelled_pieces: "every piece",
    sentences: 3,
    backend: "wasm",
  });
}

/** The analysis output of validate. */
export function fakeAnalysis(): string {
  const text = `Kim went to Seoul with ${EVIL}`;
  return JSON.stringify({
    confusion: { types: ["LC", "PS"], counts: [[4, 1, 2], [0, 5, 1], [1, 0, 0]] },
    sentences: [
      {
        doc: 1,
        text,
        gold: [{ start: 0, end: 3, label: "PS" }, { start: 12, end: 17, label: "LC" }],
        pred: [{ start: 0, end: 3, label: "LC" }],
        errors: 3,
      },
      { doc: 0, text: "Lee", gold: [{ start: 0, end: 3, label: "PS" }], pred: [], errors: 1 },
      {
        doc: 2,
        text: "Busan",
        gold: [{ start: 0, end: 5, label: "LC" }],
        pred: [{ start: 0, end: 5, label: "LC" }],
        errors: 0,
      },
    ],
  });
}
