/**
 * Corpus edge cases (issue 11 item 14): labels with whitespace, a byte order mark in the middle
 * of a file, empty corpora, skip warnings, and look-alike strings in mismatch messages.
 */

import assert from "node:assert/strict";
import { CorpusError, parseCorpus } from "../ner/formats/mod.ts";
import { isUserError } from "../runner/errors.ts";
import { validator } from "../runner/config/schema.ts";
import type { StageContext } from "../runner/stage.ts";
import { load, type LoadParams } from "../stages/load.ts";
import { readArtifact } from "../stages/_artifacts.ts";

function corpusError(action: () => unknown): CorpusError {
  try {
    action();
  } catch (error) {
    assert.ok(error instanceof CorpusError, `expected a CorpusError, got ${error}`);
    return error;
  }
  assert.fail("expected a CorpusError");
}

Deno.test("a JSONL label with whitespace is rejected, as a BIO tag's type would be", () => {
  const text = '{"text": "Kim Lee", "entities": [{"start": 0, "end": 3, "label": "PS"}]}\n' +
    '{"text": "Kim Lee", "entities": [{"start": 0, "end": 7, "label": "P S"}]}\n';
  const error = corpusError(() => parseCorpus(text, "x.jsonl", { format: "jsonl" }));
  assert.equal(error.line, 2);
  assert.match(
    error.message,
    /^Entity entities\[0\] has the label "P S" with whitespace in it at x\.jsonl:2: write the type without spaces/,
  );
  for (const label of ["P\tS", " PS", "PS\u00a0"]) {
    const line = JSON.stringify({ text: "Kim", entities: [{ start: 0, end: 3, label }] });
    corpusError(() => parseCorpus(line, "x.jsonl", { format: "jsonl" }));
  }
  const skipped = parseCorpus(text, "x.jsonl", { format: "jsonl", onError: "skip" });
  assert.equal(skipped.documents.length, 1);
  assert.equal(skipped.skipped, 1);
});

Deno.test("a KMOU file joined from two with cat keeps checking the ; line after the second BOM", () => {
  const first = "\uFEFF; 한석규가 갔다\n$<한석규:PS>가 갔다\n\n";
  const good = "\uFEFF; 서울에 갔다\n$<서울:LC>에 갔다\n\n";
  const both = parseCorpus(first + good, "x.txt", { format: "kmou" });
  assert.deepEqual(both.documents.map((d) => d.text), ["한석규가 갔다", "서울에 갔다"]);
  assert.deepEqual(both.documents[1]!.source, { file: "x.txt", line: 4 });
  // The raw line after the BOM does not match its tagged line: that is an error, not skipped.
  const bad = "\uFEFF; 서울에 갔다\n$<부산:LC>에 갔다\n";
  const error = corpusError(() => parseCorpus(first + bad, "x.txt", { format: "kmou" }));
  assert.equal(error.line, 5);
  assert.match(error.message, /does not match the raw sentence.*"부산에 갔다" where line 4 reads/);
  // A BOM before a "$" line is dropped as well.
  const tagged = parseCorpus(first + "\uFEFF$<서울:LC>에 갔다\n", "x.txt", { format: "kmou" });
  assert.deepEqual(tagged.documents[1]?.entities, [{ start: 0, end: 2, label: "LC" }]);
});

Deno.test("a KMOU mismatch between NFC and NFD text shows the code points that differ", () => {
  const nfc = "한국에 갔다";
  const text = `; ${nfc}\n$<${nfc.slice(0, 2).normalize("NFD")}:LC>에 갔다\n`;
  const error = corpusError(() => parseCorpus(text, "x.txt", { format: "kmou" }));
  assert.match(
    error.message,
    /which look alike but differ in code points: U\+1112 U\+1161 U\+11AB U\+1100 U\+116E U\+11A8 where line 1 has U\+D55C U\+AD6D \(one line is in Unicode NFD, the other NFC: convert the file to NFC/,
  );
  // A no-break space for a space looks alike too; an ordinary typo shows no code points.
  const nbsp = corpusError(() =>
    parseCorpus("; 서울 에\n$<서울:LC>\u00a0에\n", "x.txt", { format: "kmou" })
  );
  assert.match(nbsp.message, /differ in code points: U\+00A0 where line 1 has U\+0020;/);
  const typo = corpusError(() =>
    parseCorpus("; 서울에\n$<서울:LC>애\n", "x.txt", { format: "kmou" })
  );
  assert.doesNotMatch(typo.message, /U\+/);
});

// The load stage ---------------------------------------------------------------------------------

async function runLoad(
  files: Record<string, string>,
  params: Partial<LoadParams>,
): Promise<{ lines: string[]; error: unknown; dataset?: Record<string, unknown[]> | undefined }> {
  const dir = await Deno.makeTempDir({ prefix: "corpus-edge-" });
  for (const [name, text] of Object.entries(files)) {
    await Deno.writeTextFile(`${dir}/${name}`, text);
  }
  const withPaths: Record<string, unknown> = { ...params };
  for (const key of ["train", "validation"] as const) {
    if (typeof params[key] === "string") withPaths[key] = `${dir}/${params[key]}`;
  }
  assert.ok(validator(load.schema)(withPaths));
  const lines: string[] = [];
  const ctx: StageContext<LoadParams> = {
    id: "load",
    params: withPaths as unknown as LoadParams,
    inputs: {},
    output: (name) => `${dir}/${name}.out.json`,
    root: dir,
    scratch: dir,
    progress: { update() {} },
    log: { info: (m) => void lines.push(m), warn: (m) => void lines.push(`warning: ${m}`) },
    signal: new AbortController().signal,
  };
  let error: unknown;
  let dataset;
  try {
    await load.run(ctx);
    dataset = await readArtifact(
      { dataset: ctx.output("dataset") },
      "dataset",
      "ner-dataset",
    ) as unknown as Record<string, unknown[]>;
  } catch (e) {
    error = e;
  }
  await Deno.remove(dir, { recursive: true });
  return { lines, error, dataset };
}

const RECORD = (i: number) => `; 서울${i}에 갔다\n$<서울${i}:LC>에 갔다\n\n`;

Deno.test("an empty training file is a user error naming the file, and nothing is held out", async () => {
  const { lines, error } = await runLoad({ "train.txt": "" }, { train: "train.txt" });
  assert.ok(error instanceof CorpusError, String(error));
  assert.ok(isUserError(error));
  assert.match(
    error.message,
    /^No documents in the train file ".*\/train\.txt": give a file with at least one record in the "kmou" format$/,
  );
  assert.ok(!lines.some((l) => /held out/.test(l)), lines.join("\n"));
  // An empty validation file too.
  const validation = await runLoad({ "train.txt": RECORD(1), "v.txt": "\n\n" }, {
    train: "train.txt",
    validation: "v.txt",
  });
  assert.ok(validation.error instanceof CorpusError, String(validation.error));
  assert.match(validation.error.message, /^No documents in the validation file ".*\/v\.txt"/);
});

Deno.test("the validation split holds out a correct count, never every document", async () => {
  const one = await runLoad({ "train.txt": RECORD(1) }, { train: "train.txt" });
  assert.ok(one.error instanceof CorpusError, String(one.error));
  assert.match(one.error.message, /holds 1 document, too few to hold out a validation split/);
  const two = await runLoad({ "train.txt": RECORD(1) + RECORD(2) }, {
    train: "train.txt",
    split: { ratio: 0.5, seed: 1 },
  });
  assert.equal(two.error, undefined);
  assert.ok(
    two.lines.includes("no validation file: held out 1 document of 2 (seed 1)"),
    two.lines.join("\n"),
  );
  assert.equal(two.dataset?.train?.length, 1);
  assert.equal(two.dataset?.validation?.length, 1);
});

Deno.test("skip warnings name each problem's location once", async () => {
  const bad = "; 서울에 갔다\n$<서울:LC에 갔다\n\n";
  const { lines, error } = await runLoad({ "train.txt": RECORD(1) + bad + RECORD(2) + RECORD(3) }, {
    train: "train.txt",
    on_error: "skip",
  });
  assert.equal(error, undefined);
  const warnings = lines.filter((l) => l.startsWith("warning:   "));
  assert.equal(warnings.length, 1, lines.join("\n"));
  assert.equal(warnings[0]!.match(/train\.txt:5/g)?.length, 1, warnings[0]);
  assert.match(warnings[0]!, /^warning: {3}Unclosed "<" in tagged sentence at .*train\.txt:5:2: /);
  // Only skipped records: the file holds no documents, and the message says why.
  const all = await runLoad({ "train.txt": bad }, { train: "train.txt", on_error: "skip" });
  assert.ok(all.error instanceof CorpusError, String(all.error));
  assert.match(all.error.message, /all 1 records were malformed and skipped: fix the records/);
});
