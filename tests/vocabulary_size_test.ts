/**
 * A learned vocabulary sized by merges (issue 22, item 1): `merges` bounds the merged pieces on
 * top of the alphabet, whatever its size; `vocab_size` bounds all entries; preprocess-input says
 * how the vocabulary splits and warns when merges are few against the training characters.
 */

import assert from "node:assert/strict";
import { commonHangul, learnWordPiece, vocabularyParts } from "../ner/tokenizer/mod.ts";
import { memoryReporter, runBuiltinPipeline } from "./_engine_helpers.ts";

const ROOT = new URL("..", import.meta.url).pathname;

// A few Korean and English sentences, repeated so that pairs are frequent.
const TEXTS = [
  "서울에서 김민준은 새 연구소를 열었다",
  "부산에서 이서연은 책을 팔았다",
  "Kofi Mensah spoke in Nairobi on Monday",
  "Ana Lopez teaches marine biology in Lisbon",
].flatMap((t) => [t, t, t]);

Deno.test("merges bounds the merged pieces on top of the whole alphabet; vocab_size bounds all entries", () => {
  const free = learnWordPiece(TEXTS, { merges: 1_000_000, lowercase: false });
  const all = vocabularyParts(free).merged;
  assert.ok(all > 40, `${all} merges`);
  for (const merges of [0, 10, 40]) {
    const parts = vocabularyParts(learnWordPiece(TEXTS, { merges, lowercase: false }));
    assert.equal(parts.merged, merges);
    assert.equal(parts.alphabet, vocabularyParts(free).alphabet);
  }
  // A vocab_size that leaves room for 10 merges learns 10; both bounds: the tighter one wins.
  const alphabet = vocabularyParts(free).alphabet;
  const size = 5 + 2 * alphabet + 10;
  assert.equal(
    vocabularyParts(learnWordPiece(TEXTS, { vocabSize: size, lowercase: false })).merged,
    10,
  );
  assert.equal(
    vocabularyParts(learnWordPiece(TEXTS, { vocabSize: size, merges: 4, lowercase: false })).merged,
    4,
  );
  // With merges alone, the Hangul syllables are all added and take nothing from the merges.
  const hangul = vocabularyParts(
    learnWordPiece(TEXTS, { merges: 10, hangul: true, lowercase: false }),
  );
  const seen = new Set(TEXTS.join("").replaceAll(" ", ""));
  const added = commonHangul().filter((c) => !seen.has(c)).length;
  assert.equal(hangul.alphabet, alphabet + added);
  assert.equal(hangul.merged, 10);
  // With vocab_size, they share its room with the merges, as before.
  const shared = vocabularyParts(
    learnWordPiece(TEXTS, { vocabSize: 2000, hangul: true, lowercase: false }),
  );
  assert.ok(shared.alphabet < alphabet + added);
  assert.throws(() => learnWordPiece(TEXTS, { lowercase: false }), RangeError);
  assert.throws(() => learnWordPiece(TEXTS, { merges: -1, lowercase: false }), RangeError);
});

Deno.test({
  name:
    "preprocess-input logs merged pieces and the alphabet, and warns when merges are few against the training characters",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const run = async (tokenizer: string) => {
      const dir = await Deno.makeTempDir({ prefix: "vocab-size-" });
      const reporter = memoryReporter();
      try {
        const summary = await runBuiltinPipeline(
          `${ROOT}pipelines/ner.yaml`,
          dir,
          {
            sets: [`stages.preprocess-input.with.tokenizer=${tokenizer}`],
            only: ["preprocess-input"],
            reporter,
          },
        );
        assert.equal(summary.byId["preprocess-input"], "ran");
        return reporter.lines.filter((l) => l.includes("[preprocess-input]"));
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    };
    // The sample's texts have a few hundred characters: vocab_size 1000 leaves few merges.
    const tight = await run('{"learn":{"vocab_size":1000}}');
    const learned = tight.find((l) => l.includes("learned a WordPiece vocabulary"))!;
    assert.match(learned, /: \d+ merged pieces; an alphabet of \d+ characters uses \d+ entries$/);
    assert.ok(
      tight.some((l) => /warning: few merged pieces: .* rather than vocab_size$/.test(l)),
      tight.join("\n"),
    );
    // Sized by merges: no warning, and the Hangul syllables are counted apart.
    const merged = await run('{"learn":{"merges":2000,"hangul":true}}');
    // 2,000 merges, less the few that would cross an entity boundary (entity_boundaries).
    const line = merged.find((l) => l.includes("learned a WordPiece vocabulary"))!;
    const m = line.match(
      /: (\d+) merged pieces; an alphabet of \d+ characters uses \d+ entries \(\d+ from the training texts, \d+ Hangul syllables added\)$/,
    );
    assert.ok(m && Number(m[1]) <= 2000 && Number(m[1]) > 1990, line);
    assert.ok(!merged.some((l) => l.includes("warning")), merged.join("\n"));
  },
});
