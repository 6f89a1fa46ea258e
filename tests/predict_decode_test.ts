/**
 * One call of `Predictor.predict` may choose its own aggregation and minimum score, for every
 * text or per text: what a server needs to answer requests that share a forward pass.
 *
 * @module
 */

import assert from "node:assert/strict";
import { loadPredictor } from "../ner/predict/mod.ts";

const MODEL = new URL("./testdata/sample_tiny", import.meta.url).pathname;
const TEXTS = [
  "김민준은 3월 5일 부산에서 삼성전자 사람들을 만났다.",
  "Leo Smith flew to Lagos on Monday.",
];

Deno.test({
  name: "a call's aggregation and min score override the predictor's, one for all or one per text",
  sanitizeResources: false,
  async fn() {
    const exact = await loadPredictor(MODEL, { backend: "cpu" });
    const simple = await loadPredictor(MODEL, { backend: "cpu", aggregation: "simple" });
    const strict = await loadPredictor(MODEL, { backend: "cpu", minScore: 0.8 });
    try {
      const byExact = await exact.predict(TEXTS);
      const bySimple = await simple.predict(TEXTS);
      const byStrict = await strict.predict(TEXTS);
      // The strategies give other entities on these texts, and the threshold drops some.
      assert.notDeepEqual(bySimple, byExact);
      assert.ok(byStrict.flat().length < byExact.flat().length);
      assert.ok(byStrict.flat().length > 0);

      assert.deepEqual(await exact.predict(TEXTS, { aggregation: "simple" }), bySimple);
      assert.deepEqual(await simple.predict(TEXTS, { aggregation: "exact" }), byExact);
      assert.deepEqual(await exact.predict(TEXTS, { minScore: 0.8 }), byStrict);
      // Per text: each gets what a predictor of its options gives it.
      assert.deepEqual(
        await exact.predict(TEXTS, [{ aggregation: "simple" }, { minScore: 0.8 }]),
        [bySimple[0], byStrict[1]],
      );
      // The predictor's own choice is unchanged by a call's.
      assert.deepEqual(await exact.predict(TEXTS), byExact);

      await assert.rejects(
        exact.predict(TEXTS, { aggregation: "none" as "exact" }),
        /Unknown aggregation "none": expected one of "exact", "simple"/,
      );
      await assert.rejects(
        exact.predict(TEXTS, [{}, { minScore: 2 }]),
        /Invalid minimum score 2: expected a number from 0 to 1/,
      );
      await assert.rejects(exact.predict(TEXTS, [{}]), /1 decode options for 2 texts/);
    } finally {
      for (const p of [exact, simple, strict]) p.dispose();
    }
  },
});
