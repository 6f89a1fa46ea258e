/**
 * `predict --file` on inputs of any length (issue 23 item 15): 130,000 lines (a spread `push`
 * of them all overflowed the stack), results written as the lines come (stdin kept open), and
 * a line far longer than the model's window, cut into parts whose entities' offsets stay exact
 * in the whole line. The model is the tiny checkpoint under tests/testdata/hf_tiny.
 *
 * @module
 */

import assert from "node:assert/strict";
import { predictCommand } from "../predict.ts";
import { loadPredictor } from "../ner/predict/mod.ts";
import { cutPoints, MAX_TEXT_CHARS } from "../ner/predict/stream.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const TINY = `${ROOT}tests/testdata/hf_tiny`;

/** Runs `predict` in this process, keeping what it prints. */
async function capture(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const log = console.log;
  const error = console.error;
  console.log = (...a: unknown[]) => void out.push(a.join(" "));
  console.error = (...a: unknown[]) => void err.push(a.join(" "));
  try {
    return { code: await predictCommand(args), out, err };
  } finally {
    console.log = log;
    console.error = error;
  }
}

Deno.test({
  name:
    "item 15: predict --file reads 130,000 lines (one JSON line each) without overflowing the stack",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "predict-lines-" });
    try {
      const words = ["Leo", "Smith", "Lagos", "met", "Ivy", "in"];
      const lines = Array.from({ length: 130_000 }, (_, i) => words[i % words.length]!);
      // Blank lines are skipped, as before.
      await Deno.writeTextFile(`${dir}/input.txt`, lines.join("\n") + "\n\n \n");
      const { code, out } = await capture([
        TINY,
        "--file",
        `${dir}/input.txt`,
        "--json",
        "--backend",
        "wasm",
      ]);
      assert.equal(code, 0);
      assert.equal(out.length, lines.length);
      for (let i = 0; i < out.length; i += 997) {
        const result = JSON.parse(out[i]!);
        assert.equal(result.text, lines[i]);
        for (const e of result.entities) assert.equal(lines[i]!.slice(e.start, e.end), e.text);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("item 15: predict --file - writes each line's result as it comes, before the input ends", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `${ROOT}main.ts`,
      "predict",
      TINY,
      "--file",
      "-",
      "--json",
      "--backend",
      "wasm",
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const writer = child.stdin.getWriter();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  /** The next line of output, or a failure after 60 s without one. */
  const nextLine = async (): Promise<string> => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("no result while the input is open")), 60_000);
    });
    try {
      while (!buffer.includes("\n")) {
        const { value, done } = await Promise.race([reader.read(), late]);
        if (done) throw new Error(`output ended: ${buffer}`);
        buffer += value;
      }
      const line = buffer.slice(0, buffer.indexOf("\n"));
      buffer = buffer.slice(line.length + 1);
      return line;
    } finally {
      clearTimeout(timer);
    }
  };
  try {
    await writer.write(new TextEncoder().encode("Leo Smith flew to Lagos.\n"));
    assert.equal(JSON.parse(await nextLine()).text, "Leo Smith flew to Lagos.");
    await writer.write(new TextEncoder().encode("Ivy met him.\n"));
    assert.equal(JSON.parse(await nextLine()).text, "Ivy met him.");
    await writer.close();
    const status = await child.status;
    assert.equal(status.code, 0);
    assert.equal(buffer, "");
  } finally {
    try {
      child.kill();
    } catch { /* ended */ }
    await reader.cancel().catch(() => {});
    await child.stderr.cancel().catch(() => {});
    await child.status;
  }
});

Deno.test({
  name:
    "item 15: a line longer than 20,000 characters is predicted in parts cut at spaces, says so, and its entities' offsets are exact in the whole line",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "predict-long-" });
    try {
      const sentence = "Leo Smith flew to Lagos and met Ivy Kowalski in Seoul. ";
      const long = sentence.repeat(Math.ceil(3.5 * MAX_TEXT_CHARS / sentence.length)).trim();
      await Deno.writeTextFile(`${dir}/input.txt`, `short line\n${long}\nlast line\n`);
      // A long line's entities are written as its parts are done: its own process's stdout.
      const run = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          `${ROOT}main.ts`,
          "predict",
          TINY,
          "--file",
          `${dir}/input.txt`,
          "--json",
          "--backend",
          "wasm",
        ],
        env: { NO_COLOR: "1" },
      }).output();
      assert.equal(run.code, 0);
      const out = new TextDecoder().decode(run.stdout).split("\n");
      const err = new TextDecoder().decode(run.stderr).trim().split("\n");
      assert.equal(out.pop(), "");
      assert.equal(out.length, 3);
      assert.deepEqual(out.map((l) => JSON.parse(l).text), ["short line", long, "last line"]);
      const starts = cutPoints(long, MAX_TEXT_CHARS);
      assert.equal(starts.length, 4);
      assert.deepEqual(err, [
        `note: line 2 of "${dir}/input.txt" has ${long.length} characters: predicted in 4 parts ` +
        `of at most ${MAX_TEXT_CHARS}, cut at spaces (an entity across a cut is found in two ` +
        "pieces, or not at all); offsets are into the whole line",
      ]);
      // Each cut follows a space: no word is cut.
      for (const s of starts.slice(1)) assert.match(long[s - 1]!, /\s/);
      const result = JSON.parse(out[1]!);
      assert.equal(result.text, long);
      assert.ok(result.entities.length > 0);
      assert.ok(result.entities.at(-1).start > starts.at(-1)!, "entities in the last part");
      for (const e of result.entities) assert.equal(long.slice(e.start, e.end), e.text);
      // They are each part's entities, predicted alone, moved to where the part starts.
      const predictor = await loadPredictor(TINY, { backend: "wasm" });
      const parts = starts.map((s, i) => long.slice(s, starts[i + 1] ?? long.length));
      const alone = await predictor.predict(parts);
      predictor.dispose();
      const at = (e: { label: string; start: number; end: number }) =>
        `${e.label}@${e.start}-${e.end}`;
      assert.deepEqual(
        result.entities.map(at),
        alone.flatMap((entities, i) =>
          entities.map((e) => at({ ...e, start: e.start + starts[i]!, end: e.end + starts[i]! }))
        ),
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("item 15: cutPoints cuts after a space in the second half of a part, else at the limit, never inside a surrogate pair", () => {
  assert.deepEqual(cutPoints("short", 10), [0]);
  assert.deepEqual(cutPoints("Leo flew to Lagos", 10), [0, 9]);
  // No space in the second half: cut at the limit.
  assert.deepEqual(cutPoints("abcdefghijklmnop", 10), [0, 10]);
  // An emoji (two UTF-16 units) across the limit stays whole.
  const text = "abcdefghi\u{1F600}xyz";
  assert.deepEqual(cutPoints(text, 10), [0, 9]);
  for (const s of cutPoints("a b ".repeat(10_000), 1000).slice(1)) assert.ok(s > 0);
});
