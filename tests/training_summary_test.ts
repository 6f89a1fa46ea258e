/**
 * `training_summary.json` (stages/_training_summary.ts): train writes `kept_epoch` counted from
 * 1 with `version: 2`; validate reads a summary of the first format (no `version`, counted
 * from 0) as counted from 1 too, so an old model directory reports the same epoch as the log
 * that trained it said, one higher than its file.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  TRAINING_SUMMARY,
  TRAINING_SUMMARY_VERSION,
  trainingFacts,
} from "../stages/_training_summary.ts";

async function modelDir(summary: string | null): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "training-summary-" });
  if (summary !== null) await Deno.writeTextFile(`${dir}/${TRAINING_SUMMARY}`, summary);
  return dir;
}

Deno.test("a training summary of the first format (kept_epoch from 0) is read counted from 1", async () => {
  const metric = { name: "span_f1", value: 0.9628 };
  const old = await modelDir(JSON.stringify({
    kept_epoch: 6,
    kept_metric: metric,
    stopped_early: false,
    epochs_run: 8,
  }));
  const now = await modelDir(JSON.stringify({
    version: TRAINING_SUMMARY_VERSION,
    kept_epoch: 7,
    kept_metric: metric,
    stopped_early: false,
    epochs_run: 8,
  }));
  try {
    assert.equal(TRAINING_SUMMARY_VERSION, 2);
    const expected = { kept_epoch: 7, kept_metric: metric, stopped_early: false };
    assert.deepEqual(await trainingFacts(old), expected);
    assert.deepEqual(await trainingFacts(now), expected);
  } finally {
    await Deno.remove(old, { recursive: true });
    await Deno.remove(now, { recursive: true });
  }
});

Deno.test("a model directory without a readable training summary gives no facts", async () => {
  for (const summary of [null, "not json", "[1]", "null"]) {
    const dir = await modelDir(summary);
    try {
      assert.deepEqual(await trainingFacts(dir), {}, String(summary));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
});
