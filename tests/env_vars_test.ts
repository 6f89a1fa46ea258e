/**
 * Environment variables (issue 23 item 19): every `NERPIPE_*` variable the documentation names is
 * checked when a command starts, and a value the program would not use is exit 2, naming the
 * variable and what it allows (before, `NERPIPE_BLAS_THREADS=-1` fell back to 1 without a word).
 *
 * @module
 */

import assert from "node:assert/strict";
import { builtinEnvVars } from "../stages/mod.ts";
import { REMOTE_ENV_VAR } from "../runner/remote/schemes.ts";
import { SERVE_TOKEN_ENV_VAR } from "../serve/auth.ts";

const ROOT = new URL("..", import.meta.url).pathname;

/** `main.ts dag pipelines/ner.yaml` (it reads nothing else) with these variables set. */
async function dag(env: Record<string, string>) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}main.ts`, "dag", "pipelines/ner.yaml"],
    cwd: ROOT,
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr).trim() };
}

Deno.test("issue 23 item 19: a NERPIPE_* value the program would not use is exit 2, naming it and what it allows", async () => {
  const threads = "an integer from 1 to 1024 (OpenBLAS threads; unset: 1)";
  const bad: [Record<string, string>, string][] = [
    [
      { NERPIPE_BLAS_THREADS: "-1" },
      `NERPIPE_BLAS_THREADS: Value "-1" is not allowed: expected ${threads}`,
    ],
    [
      { NERPIPE_BLAS_THREADS: "abc" },
      `NERPIPE_BLAS_THREADS: Value "abc" is not allowed: expected ${threads}`,
    ],
    [
      { NERPIPE_BLAS_THREADS: "99999999999999999999" },
      `NERPIPE_BLAS_THREADS: Value "99999999999999999999" is not allowed: expected ${threads}`,
    ],
    [
      { NERPIPE_BLAS_THREADS: "0" },
      `NERPIPE_BLAS_THREADS: Value "0" is not allowed: expected ${threads}`,
    ],
    [
      { NERPIPE_BLAS_THREADS: "1.5" },
      `NERPIPE_BLAS_THREADS: Value "1.5" is not allowed: expected ${threads}`,
    ],
    [
      { NERPIPE_BLAS: "1" },
      'NERPIPE_BLAS: Value "1" is not allowed: expected 0 (or off, false, no)',
    ],
    [
      { NERPIPE_BLAS: "/nonexistent/libopenblas.so" },
      'NERPIPE_BLAS: Value "/nonexistent/libopenblas.so" is a path where there is no file: expected',
    ],
    [
      { NERPIPE_WEBGPU_FUSED: "yes" },
      'NERPIPE_WEBGPU_FUSED: Value "yes" is not allowed: expected 1 (our fused',
    ],
    [
      { NERPIPE_PARTS_MIN_BYTES: "-5" },
      'NERPIPE_PARTS_MIN_BYTES: Value "-5" is not allowed: expected a whole number of bytes',
    ],
    [{ NERPIPE_PARTS_MIN_BYTES: "1e6" }, 'NERPIPE_PARTS_MIN_BYTES: Value "1e6" is not allowed'],
    [
      { NERPIPE_REMOTE: "s3://KEY:SECRET@bucket/x" },
      "NERPIPE_REMOTE: The value is not a remote cache (the remote's address holds credentials",
    ],
  ];
  for (const [env, line] of bad) {
    const out = await dag(env);
    assert.equal(out.code, 2, out.stderr);
    assert.ok(
      out.stderr.startsWith(`error: environment: ${line}`),
      `${JSON.stringify(env)}: ${out.stderr}`,
    );
    assert.equal(out.stderr.split("\n").length, 1, out.stderr);
    assert.doesNotMatch(out.stderr, /SECRET/);
  }
  // Every problem at once, one line each.
  const all = await dag({ NERPIPE_BLAS_THREADS: "-1", NERPIPE_WEBGPU_FUSED: "2" });
  assert.equal(all.code, 2);
  assert.deepEqual(all.stderr.split("\n").map((l) => l.split(":").slice(0, 3).join(":")), [
    "error: environment: NERPIPE_BLAS_THREADS",
    "error: environment: NERPIPE_WEBGPU_FUSED",
  ]);
  // What the documentation allows runs; empty is unset.
  const good = await dag({
    NERPIPE_BLAS_THREADS: "2",
    NERPIPE_BLAS: "libopenblas.so.0",
    NERPIPE_WEBGPU_FUSED: "0",
    NERPIPE_PARTS_MIN_BYTES: "0",
    NERPIPE_REMOTE: "",
  });
  assert.equal(good.code, 0, good.stderr);
  for (const off of ["0", "off", "FALSE", "no", `${ROOT}deno.json`]) {
    const out = await dag({ NERPIPE_BLAS: off });
    assert.equal(out.code, 0, `${off}: ${out.stderr}`);
  }
});

Deno.test("issue 23 item 19: every NERPIPE_* variable the README and docs name is one the CLI checks", async () => {
  const texts = [await Deno.readTextFile(`${ROOT}README.md`)];
  for await (const e of Deno.readDir(`${ROOT}docs`)) {
    if (e.name.endsWith(".md")) texts.push(await Deno.readTextFile(`${ROOT}docs/${e.name}`));
  }
  const documented = new Set(texts.flatMap((t) => t.match(/NERPIPE_[A-Z_]+[A-Z]/g) ?? []));
  const checked = new Set(
    [REMOTE_ENV_VAR, ...builtinEnvVars(), SERVE_TOKEN_ENV_VAR].map((v) => v.name),
  );
  assert.deepEqual([...documented].sort(), [...checked].sort());
});
