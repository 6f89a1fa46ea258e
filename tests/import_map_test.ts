/**
 * The project's import map (deno.json `imports`) holds what the program uses and nothing more:
 * with `nodeModulesDir: "auto"`, the first command in a fresh clone sets up every package of it
 * in `node_modules/` (an `Initialize …` line each). A package only the tests use (s3rver) has a
 * tests-only config instead, `tests/s3rver/deno.json`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** Folders whose code is not the program's: tests, and what runs and installs leave. */
const NOT_PROGRAM = new Set(["tests", "node_modules", "out", "data"]);

/** The program's source files under `dir` (hidden folders left out). */
async function* sourceFiles(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory && !entry.name.startsWith(".") && !NOT_PROGRAM.has(entry.name)) {
      yield* sourceFiles(path);
    } else if (entry.isFile && /\.(ts|js|mjs)$/.test(entry.name)) {
      yield path;
    }
  }
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

Deno.test("every package of deno.json's import map is imported by code outside tests/", async () => {
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
  const names = Object.keys(config.imports ?? {});
  assert.ok(names.length > 0);
  const sources: string[] = [];
  for await (const file of sourceFiles(ROOT.replace(/\/$/, ""))) {
    sources.push(await Deno.readTextFile(file));
  }
  const unused = names.filter((name) => {
    // The name as a quoted specifier, alone or with a path after it.
    const specifier = new RegExp(`["'\`]${escape(name)}(/[^"'\`]*)?["'\`]`);
    return !sources.some((text) => specifier.test(text));
  });
  assert.deepEqual(
    unused,
    [],
    `deno.json maps packages that only tests use (each is set up on the first run in a clone): ` +
      `${unused.join(", ")}; give them a tests-only config, as tests/s3rver/deno.json`,
  );
});
