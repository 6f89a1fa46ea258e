/**
 * A pool worker for tests: the real one (ner/predict/_pool_worker.ts), except that a call
 * whose first text is {@link CRASH} throws where nothing catches it, as a bug in a worker
 * would: the worker dies with its call unanswered.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import "../ner/predict/_pool_worker.ts";
import type { ToPoolWorker } from "../ner/predict/_pool_protocol.ts";

/** The text that crashes the worker (tests/predict_pool_test.ts sends it). */
const CRASH = "crash the worker";

// The real handler (an arrow function: it needs no `this`).
const answer = self.onmessage as (e: MessageEvent<ToPoolWorker>) => unknown;
self.onmessage = (e: MessageEvent<ToPoolWorker>) => {
  if (e.data.type === "predict" && e.data.texts[0] === CRASH) {
    setTimeout(() => {
      throw new Error("crashed on cue");
    });
    return;
  }
  return answer(e);
};
