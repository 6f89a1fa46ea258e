/**
 * Hugging Face's aggregation strategies against a reference of `transformers`'
 * TokenClassificationPipeline: tests/testdata/hf_tiny/aggregation.json, written by
 * tools/fixtures/make_hf_aggregation_fixture.py (PyTorch on the same checkpoint, with
 * transformers' post-processing restated in Python). No Python runs here.
 */

import assert from "node:assert/strict";
import { aggregateEntities } from "../ner/predict/entities.ts";
import { hfAggregate, type HfAggregationStrategy } from "../ner/predict/hf_aggregation.ts";
import { loadPredictor, type PredictedEntity } from "../ner/predict/mod.ts";
import { encodeDocument, loadTokenizer } from "../ner/tokenizer/mod.ts";

const TINY = new URL("./testdata/hf_tiny", import.meta.url).pathname;
const STRATEGIES: HfAggregationStrategy[] = ["simple", "first", "average", "max"];

interface Expected {
  entity_group: string;
  score: number;
  start: number;
  end: number;
  word: string;
}
interface Fixture {
  labels: string[];
  sentences: { text: string; ids: number[]; expected: Record<string, Expected[]> }[];
  probabilities: {
    name: string;
    text: string;
    tokens: string[];
    offsets: [number, number][];
    probs: number[][];
    expected: Record<string, Expected[]>;
  }[];
}

const fixture: Fixture = JSON.parse(await Deno.readTextFile(`${TINY}/aggregation.json`));

/** Entities and the reference side by side: labels and offsets exact, scores within 1e-5. */
function assertSame(
  text: string,
  got: readonly PredictedEntity[],
  expected: readonly Expected[],
  what: string,
) {
  const show = (es: readonly { label: string; start: number; end: number }[]) =>
    es.map((e) => `${e.label} ${JSON.stringify(text.slice(e.start, e.end))} ${e.start}-${e.end}`);
  assert.deepEqual(
    show(got),
    show(expected.map((e) => ({ label: e.entity_group, start: e.start, end: e.end }))),
    what,
  );
  got.forEach((e, i) => {
    assert.equal(e.text, text.slice(e.start, e.end), what);
    const want = expected[i]!.score;
    assert.ok(Math.abs(e.score - want) <= 1e-5, `${what}: ${e.text} score ${e.score} vs ${want}`);
  });
}

Deno.test('Hugging Face\'s simple: an I-PER after O starts an entity (in the: PER "the" 3-6), where exact retags it', () => {
  const labels = ["O", "B-PER", "I-PER"];
  const window = {
    offsets: [null, [0, 2], [3, 6], null] as ([number, number] | null)[],
    tokens: ["[CLS]", "in", "the", "[SEP]"],
    wordStart: [false, true, true, false],
  };
  const probs = [[1, 0, 0], [0.8, 0.1, 0.1], [0.3, 0.1, 0.6], [1, 0, 0]].flat();
  const simple = hfAggregate("in the", window, probs, labels, "simple");
  assert.deepEqual(simple.map((e) => [e.label, e.text, e.start, e.end]), [["PER", "the", 3, 6]]);
  assert.ok(Math.abs(simple[0]!.score - 0.6) < 1e-12);
  // Our decoder allows no I- after O: the most probable valid labelling has no entity here.
  assert.deepEqual(aggregateEntities("in the", window, probs, labels, "piece"), []);
});

Deno.test("Hugging Face's strategies equal transformers' on hand-written probabilities: ties, B- after B-, type changes, [UNK], punctuation", () => {
  assert.ok(fixture.probabilities.length >= 5);
  for (const c of fixture.probabilities) {
    const window = { offsets: [null, ...c.offsets, null], tokens: ["[CLS]", ...c.tokens, "[SEP]"] };
    const n = fixture.labels.length;
    const probs = [new Array(n).fill(0), ...c.probs, new Array(n).fill(0)].flat();
    for (const s of STRATEGIES) {
      const got = hfAggregate(c.text, window, probs, fixture.labels, s);
      assertSame(c.text, got, c.expected[s]!, `${c.name} (${s})`);
    }
  }
});

Deno.test("a piece is a subword when its token and its text differ in length, [UNK] never", () => {
  const labels = ["O", "B-PER", "I-PER"];
  // Qi-Xu as [UNK] - [UNK], then "ee" of "Lee" as a continuation: "Lee" is one word.
  const window = {
    offsets: [[0, 2], [2, 3], [3, 5], [6, 7], [7, 9]] as [number, number][],
    tokens: ["[UNK]", "-", "[UNK]", "L", "##ee"],
  };
  const probs = [[0, 1, 0], [1, 0, 0], [0.2, 0, 0.8], [0, 1, 0], [0.1, 0.9, 0]].flat();
  const first = hfAggregate("Qi-Xu Lee", window, probs, labels, "first");
  assert.deepEqual(first.map((e) => e.text), ["Qi", "Xu", "Lee"]);
  // Another unknown token is named by the option.
  const unk = { ...window, tokens: ["<unk>", "-", "<unk>", "L", "##ee"] };
  assert.deepEqual(
    hfAggregate("Qi-Xu Lee", unk, probs, labels, "first", { unkToken: "<unk>" }).map((e) => e.text),
    ["Qi", "Xu", "Lee"],
  );
  assert.throws(
    () => hfAggregate("Qi", window, probs.slice(1), labels, "first"),
    RangeError,
  );
  assert.throws(
    () => hfAggregate("Qi", window, probs, labels, "exact" as HfAggregationStrategy),
    /Unknown Hugging Face aggregation "exact"/,
  );
});

Deno.test({
  name:
    "loadPredictor with simple, first, average and max equals transformers' pipeline on hf_tiny, English and Korean",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // The reference tokenized as we do: same ids for every sentence.
    const tok = await loadTokenizer(TINY, { transformers: false });
    for (const s of fixture.sentences) {
      const { windows } = encodeDocument(tok, s.text, { maxLength: 128 });
      assert.equal(windows.length, 1);
      assert.deepEqual(windows[0]!.ids, s.ids, s.text);
    }
    assert.ok(fixture.sentences.some((s) => /[가-힣]/.test(s.text)));
    const texts = fixture.sentences.map((s) => s.text);
    for (const aggregation of STRATEGIES) {
      const predictor = await loadPredictor(TINY, { backend: "cpu", aggregation });
      try {
        assert.equal(predictor.aggregation, aggregation);
        const results = await predictor.predict(texts);
        fixture.sentences.forEach((s, i) => {
          assertSame(s.text, results[i]!, s.expected[aggregation]!, `${s.text} (${aggregation})`);
        });
      } finally {
        predictor.dispose();
      }
    }
    // The strategies disagree on these sentences: each one is tested for itself.
    const answers = STRATEGIES.map((a) =>
      JSON.stringify(fixture.sentences.map((s) => s.expected[a]))
    );
    assert.equal(new Set(answers).size, STRATEGIES.length);
  },
});

Deno.test({
  name: "exact, our decoder, stays the default and decodes the units the model was trained on",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // hf_tiny's config.json does not say label_all_tokens: words, each with its first piece's tag.
    const predictor = await loadPredictor(TINY, { backend: "cpu" });
    try {
      assert.equal(predictor.aggregation, "exact");
      assert.equal(predictor.units, "word");
      const text = fixture.sentences[1]!.text;
      const [entities] = await predictor.predict([text]);
      const tok = await loadTokenizer(TINY, { transformers: false });
      const w = encodeDocument(tok, text, { maxLength: 128 }).windows[0]!;
      // Every entity covers whole words: it starts at a word start and ends where one ends.
      const starts = new Set<number>();
      const ends = new Set<number>();
      w.offsets.forEach((o, k) => {
        if (o && w.wordStart[k]) starts.add(o[0]);
        if (o && (!w.offsets[k + 1] || w.wordStart[k + 1])) ends.add(o[1]);
      });
      assert.ok(entities!.length > 0);
      for (const e of entities!) {
        assert.ok(starts.has(e.start) && ends.has(e.end), `${e.text} ${e.start}-${e.end}`);
      }
    } finally {
      predictor.dispose();
    }
    await assert.rejects(
      () => loadPredictor(TINY, { aggregation: "mean" as "max" }),
      /Unknown aggregation "mean": expected one of "exact", "simple", "first", "average", "max"/,
    );
  },
});
