import assert from "node:assert/strict";
import { CorpusError, parseCorpus, readCorpus, type ReadOptions } from "../ner/formats/mod.ts";
import type { Document } from "../ner/types.ts";
import { renderSampleFiles, SAMPLE_FILES } from "../data/generate_sample.ts";
import { UserError } from "../runner/errors.ts";

const DATA = new URL("./testdata/formats/", import.meta.url);
const fixture = (name: string) => Deno.readTextFile(new URL(name, DATA));

/** Each entity as `label:surface`, in order. */
function surfaces(document: Document | undefined): string[] {
  assert.ok(document);
  return document.entities.map((e) => `${e.label}:${document.text.slice(e.start, e.end)}`);
}

function parse(text: string, options: ReadOptions, file = "x.txt") {
  return parseCorpus(text, file, options);
}

function catchCorpusError(action: () => unknown): CorpusError {
  try {
    action();
  } catch (error: unknown) {
    assert.ok(error instanceof CorpusError, `expected a CorpusError, got ${error}`);
    return error;
  }
  assert.fail("expected a CorpusError");
}

// KMOU ------------------------------------------------------------------------------------------

Deno.test("kmou reader takes the raw sentence as text and spans from the tags", async () => {
  const { documents, skipped } = parse(await fixture("kmou_basic.txt"), { format: "kmou" });
  assert.equal(skipped, 0);
  assert.equal(documents.length, 4);
  assert.deepEqual(documents[0], {
    text: "한석규가 서울에 갔다",
    entities: [{ start: 0, end: 3, label: "PS" }, { start: 5, end: 7, label: "LC" }],
    source: { file: "x.txt", line: 1 },
  });
  assert.equal(documents[1]?.source.line, 10);
  assert.equal(documents[3]?.source.line, 17);
  assert.deepEqual(surfaces(documents[3]), ["OG:삼성전자", "QT:3%"]);
});

Deno.test("kmou reader finds adjacent entities and entities at sentence start and end", async () => {
  const { documents } = parse(await fixture("kmou_basic.txt"), { format: "kmou" });
  assert.equal(documents[1]?.text, "김철수박영희는 부산");
  assert.deepEqual(documents[1]?.entities, [
    { start: 0, end: 3, label: "PS" },
    { start: 3, end: 6, label: "PS" },
    { start: 8, end: 10, label: "LC" },
  ]);
});

Deno.test("kmou reader keeps a literal < that does not open a tag", async () => {
  const { documents } = parse(await fixture("kmou_basic.txt"), { format: "kmou" });
  assert.equal(documents[2]?.text, "a < b and x<y:z hold at <12:00> in 10:30 Seoul");
  assert.deepEqual(surfaces(documents[2]), ["TI:10:30", "LC:Seoul"]);
});

Deno.test("kmou reader accepts a BOM, CRLF endings and trailing blank lines", async () => {
  const text = await fixture("kmou_basic.txt");
  const plain = parse(text, { format: "kmou" }).documents;
  const windows = parse(`\uFEFF${text.replaceAll("\n", "\r\n")}\r\n\r\n \r\n`, { format: "kmou" });
  assert.deepEqual(windows.documents, plain);
});

Deno.test("kmou reader uses the tagged sentence when the raw line is missing", () => {
  const { documents } = parse("$<Kim:PS> went to <Busan:LC>\n", { format: "kmou" });
  assert.deepEqual(surfaces(documents[0]), ["PS:Kim", "LC:Busan"]);
  assert.equal(documents[0]?.text, "Kim went to Busan");
});

Deno.test("kmou reader reads a surface with colons up to the last colon", () => {
  const { documents } = parse("; 회의는 10:30에\n$회의는 <10:30:TI>에\n", { format: "kmou" });
  assert.deepEqual(surfaces(documents[0]), ["TI:10:30"]);
});

Deno.test("kmou reader starts a new record at a ; line without a blank line", () => {
  const text = "; 가\n$<가:PS>\n; 나\n$<나:LC>\n";
  const { documents } = parse(text, { format: "kmou" });
  assert.deepEqual(documents.map((d) => d.source.line), [1, 3]);
  assert.deepEqual(surfaces(documents[1]), ["LC:나"]);
});

Deno.test("kmou reader reports a tagged sentence that differs from the raw one with its line and column", async () => {
  const text = await fixture("kmou_mismatch.txt");
  const error = catchCorpusError(() => parse(text, { format: "kmou" }, "data/m.txt"));
  assert.equal(error.name, "CorpusError");
  assert.ok(error instanceof UserError);
  assert.equal(error.file, "data/m.txt");
  assert.equal(error.line, 5);
  assert.equal(error.column, 20);
  assert.match(
    error.message,
    /^Tagged sentence does not match the raw sentence at data\/m\.txt:5:20: without tags it reads "애서 이겼다" where line 4 reads "에서 이겼다"/,
  );
});

Deno.test("kmou reader reports an unclosed < with its line and column", async () => {
  const text = await fixture("kmou_unclosed.txt");
  const error = catchCorpusError(() => parse(text, { format: "kmou" }, "data/x.txt"));
  assert.equal(error.line, 5);
  assert.equal(error.column, 12);
  assert.equal(
    error.message,
    'Unclosed "<" in tagged sentence at data/x.txt:5:12: close the entity as <surface:TAG>, e.g. "<서울:LC>"',
  );
});

Deno.test("kmou reader with onError skip counts and records skipped records", async () => {
  const result = parse(await fixture("kmou_unclosed.txt"), { format: "kmou", onError: "skip" });
  assert.equal(result.documents.length, 2);
  assert.equal(result.skipped, 1);
  assert.equal(result.problems.length, 1);
  assert.equal(result.problems[0]?.line, 5);
  assert.equal(result.problems[0]?.column, 12);
  assert.match(result.problems[0]?.message ?? "", /^Unclosed "<"/);
  assert.deepEqual(surfaces(result.documents[1]), ["LC:부산"]);

  const mismatch = parse(await fixture("kmou_mismatch.txt"), { format: "kmou", onError: "skip" });
  assert.equal(mismatch.skipped, 2);
  assert.deepEqual(mismatch.problems.map((p) => p.line), [5, 8]);
  assert.equal(mismatch.documents[0]?.text, "첫 문장입니다");
  assert.match(
    mismatch.problems[1]?.message ?? "",
    /at x\.txt:8:13: without tags it reads "들" where line 7 reads nothing;/,
  );
});

Deno.test("kmou reader reports a record without a $ line", () => {
  const error = catchCorpusError(() => parse("; 혼자 있는 문장\n\n", { format: "kmou" }));
  assert.equal(error.line, 1);
  assert.match(error.message, /^Record without a "\$" tagged sentence at x\.txt:1: /);
});

// CoNLL -----------------------------------------------------------------------------------------

Deno.test("conll reader skips -DOCSTART- and starts an entity at I- after O", async () => {
  const { documents } = parse(await fixture("conll_basic.txt"), { format: "conll" });
  assert.equal(documents.length, 3);
  assert.equal(documents[0]?.text, "EU rejects German call to boycott British lamb .");
  assert.deepEqual(surfaces(documents[0]), ["ORG:EU", "MISC:German", "MISC:British"]);
  assert.deepEqual(documents[0]?.source, { file: "x.txt", line: 3 });
  assert.deepEqual(surfaces(documents[1]), ["PER:Peter Blackburn"]);
  assert.deepEqual(surfaces(documents[2]), ["LOC:New York", "LOC:Los Angeles", "PER:Kim"]);
});

Deno.test("conll reader reads the tag from tagColumn", () => {
  const text = "Kim B-PER O\nwent O O\n";
  const { documents } = parse(text, { format: "conll", tagColumn: 1 });
  assert.deepEqual(surfaces(documents[0]), ["PER:Kim"]);
  assert.deepEqual(parse(text, { format: "conll" }).documents[0]?.entities, []);
  assert.throws(() => parse(text, { format: "conll", tagColumn: 0 }), RangeError);
});

Deno.test("conll reader reports an invalid tag with its column and skips the sentence", () => {
  const text = "a O\nb X-PER\nc O\n\nd B-LC\n";
  const error = catchCorpusError(() => parse(text, { format: "conll" }));
  assert.equal(error.message, 'Invalid tag "X-PER" at x.txt:2:3: use "O", "B-TYPE" or "I-TYPE"');
  const result = parse(text, { format: "conll", onError: "skip" });
  assert.equal(result.skipped, 1);
  assert.deepEqual(result.documents.map((d) => d.text), ["d"]);
});

Deno.test("conll reader reports a line without a tag column", () => {
  const error = catchCorpusError(() => parse("lonely\n", { format: "conll" }));
  assert.equal(error.line, 1);
  assert.match(error.message, /^Missing tag column -1 at x\.txt:1:7: /);
});

// KLUE ------------------------------------------------------------------------------------------

Deno.test("klue reader ignores comment lines and reads space characters", async () => {
  const { documents, skipped } = parse(await fixture("klue_basic.txt"), { format: "klue" });
  assert.equal(skipped, 0);
  assert.equal(documents.length, 2);
  assert.equal(documents[0]?.text, "한국 중앙 대학교");
  assert.deepEqual(surfaces(documents[0]), ["LC:한국", "OG:중앙 대학교"]);
  assert.equal(documents[1]?.text, "나는 #1");
  assert.deepEqual(surfaces(documents[1]), ["QT:#1"]);
  assert.deepEqual(documents.map((d) => d.source.line), [1, 14]);
});

Deno.test("klue reader reports an I- tag on an empty character", async () => {
  const text = await fixture("klue_empty_char.txt");
  const error = catchCorpusError(() => parse(text, { format: "klue" }, "k.txt"));
  assert.equal(error.line, 7);
  assert.match(error.message, /^Tag "I-LC" on an empty character at k\.txt:7:1: /);
  const result = parse(text, { format: "klue", onError: "skip" });
  assert.equal(result.skipped, 1);
  assert.deepEqual(result.documents.map((d) => d.text), ["서울", "부산"]);
});

Deno.test("klue reader starts a new entity at I- after O", () => {
  const { documents } = parse("가\tO\n나\tI-PS\n다\tI-PS\n라\tI-LC\n", { format: "klue" });
  assert.deepEqual(surfaces(documents[0]), ["PS:나다", "LC:라"]);
});

// JSONL -----------------------------------------------------------------------------------------

Deno.test("jsonl reader reports a bad line with its line number", async () => {
  const text = await fixture("jsonl_basic.jsonl");
  const error = catchCorpusError(() => parse(text, { format: "jsonl" }, "c.jsonl"));
  assert.equal(error.line, 3);
  assert.match(error.message, /^Invalid JSON at c\.jsonl:3: unexpected token/);
});

Deno.test("jsonl reader sorts entities and skips bad lines when asked", async () => {
  const text = await fixture("jsonl_basic.jsonl");
  const result = parse(text, { format: "jsonl", onError: "skip" });
  assert.equal(result.skipped, 2);
  assert.deepEqual(result.problems.map((p) => p.line), [3, 5]);
  assert.match(result.problems[1]?.message ?? "", /outside the text/);
  assert.deepEqual(surfaces(result.documents[0]), ["PS:Kim", "LC:Seoul"]);
  assert.deepEqual(surfaces(result.documents[1]), ["LC:서울"]);
  assert.equal(result.documents[1]?.source.line, 4);
});

Deno.test("jsonl reader gives the column of a JSON syntax error when known", () => {
  const error = catchCorpusError(() => parse('{"text" "x"}\n', { format: "jsonl" }));
  assert.equal(error.column, 9);
});

Deno.test("jsonl reader rejects overlapping entities and missing fields", () => {
  const overlap = '{"text": "abcdef", "entities": [' +
    '{"start": 0, "end": 3, "label": "A"}, {"start": 2, "end": 4, "label": "B"}]}';
  assert.match(catchCorpusError(() => parse(overlap, { format: "jsonl" })).message, /Overlapping/);
  const missing = '{"text": "abc"}';
  assert.match(
    catchCorpusError(() => parse(missing, { format: "jsonl" })).message,
    /^Missing array "entities" at x\.txt:1: /,
  );
});

// Files -----------------------------------------------------------------------------------------

Deno.test("readCorpus names a missing file and how to fix it", async () => {
  await assert.rejects(
    () => readCorpus("no/such/corpus.txt", { format: "kmou" }),
    (error: unknown) => {
      assert.ok(error instanceof CorpusError);
      assert.equal(error.file, "no/such/corpus.txt");
      assert.match(error.message, /^Corpus file "no\/such\/corpus\.txt" not found: check the path/);
      return true;
    },
  );
});

Deno.test("readCorpus reads a file and uses its path as the source", async () => {
  const path = new URL("kmou_basic.txt", DATA).pathname;
  const { documents } = await readCorpus(path, { format: "kmou" });
  assert.equal(documents.length, 4);
  assert.equal(documents[0]?.source.file, path);
});

Deno.test("readCorpus rejects a file that is not UTF-8", async () => {
  const path = await Deno.makeTempFile({ suffix: ".txt" });
  try {
    await Deno.writeFile(path, new Uint8Array([0x3b, 0x20, 0x61, 0x0a, 0x24, 0xb0, 0xa1, 0x0a]));
    await assert.rejects(
      () => readCorpus(path, { format: "kmou" }),
      (error: unknown) => error instanceof CorpusError && error.line === 2,
    );
  } finally {
    await Deno.remove(path);
  }
});

// Sample corpus ---------------------------------------------------------------------------------

const SAMPLE = new URL("../data/", import.meta.url);

Deno.test("sample corpus files match what the generator writes", async () => {
  for (const [path, text] of Object.entries(renderSampleFiles())) {
    assert.equal(await Deno.readTextFile(new URL(path, SAMPLE)), text, `data/${path} is stale`);
  }
});

Deno.test("sample corpus parses as kmou without errors and agrees with its conll copy", async () => {
  for (
    const [kmou, conll, count] of [
      [SAMPLE_FILES.kmouTrain, SAMPLE_FILES.conllTrain, 3000],
      [SAMPLE_FILES.kmouValidation, SAMPLE_FILES.conllValidation, 500],
    ] as const
  ) {
    const a = await readCorpus(new URL(kmou, SAMPLE).pathname, { format: "kmou" });
    const b = await readCorpus(new URL(conll, SAMPLE).pathname, { format: "conll" });
    assert.equal(a.skipped, 0);
    assert.equal(a.documents.length, count);
    assert.equal(b.documents.length, count);
    for (const [i, document] of a.documents.entries()) {
      const other = b.documents[i]!;
      assert.equal(other.text, document.text);
      assert.deepEqual(
        other.entities.map((e) => e.label),
        document.entities.map((e) => e.label),
      );
    }
    const labels = new Set(a.documents.flatMap((d) => d.entities.map((e) => e.label)));
    assert.deepEqual([...labels].sort(), ["DT", "LC", "OG", "PS", "QT", "TI"]);
  }
});
