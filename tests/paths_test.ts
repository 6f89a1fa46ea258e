/**
 * runner/paths.ts gives what `node:path` (POSIX) and `node:url` give, for the engine's paths and
 * their edge cases; and a cached run's modules import no `node:` module (issue 13: the first
 * one starts Node compatibility, a quarter of a no-op rerun).
 *
 * @module
 */

import assert from "node:assert/strict";
import * as node from "node:path";
import * as nodeUrl from "node:url";
import * as paths from "../runner/paths.ts";

const PATHS = [
  "",
  ".",
  "..",
  "/",
  "//",
  "a",
  "a/",
  "a/b",
  "a//b/",
  "./a/../b",
  "../../a",
  "/a",
  "/a/",
  "/a/b/c",
  "/a/b/../../..",
  "/a/./b/./c/",
  "/a//b///c",
  "/x y/é/#?%",
  "a/../..",
];

Deno.test("dirname, normalize, join, basename and isAbsolute agree with node:path", () => {
  for (const p of PATHS) {
    assert.equal(paths.dirname(p), node.posix.dirname(p), `dirname(${JSON.stringify(p)})`);
    assert.equal(paths.isAbsolute(p), node.posix.isAbsolute(p), p);
    assert.equal(paths.basename(p), node.posix.basename(p), `basename(${JSON.stringify(p)})`);
    if (!p.endsWith("/") || p === "/") {
      assert.equal(paths.normalize(p), node.posix.normalize(p), `normalize(${JSON.stringify(p)})`);
    }
    for (const q of ["b", "../c", "", "/d/e"]) {
      assert.equal(paths.join(p, q), node.posix.join(p, q).replace(/(.)\/$/, "$1"), `${p} + ${q}`);
    }
  }
  assert.equal(paths.sep, node.posix.sep);
});

Deno.test("resolve and relative agree with node:path", () => {
  for (const p of PATHS) {
    assert.equal(paths.resolve(p), node.posix.resolve(p), `resolve(${JSON.stringify(p)})`);
    assert.equal(paths.resolve("/root", p), node.posix.resolve("/root", p), p);
    assert.equal(paths.resolve(p, "x", ""), node.posix.resolve(p, "x", ""), p);
    for (const q of PATHS) {
      assert.equal(paths.relative(p, q), node.posix.relative(p, q), `relative(${p}, ${q})`);
    }
  }
  assert.equal(paths.resolve(), Deno.cwd());
});

Deno.test("file URLs agree with node:url", () => {
  for (const p of ["/a/b.ts", "/x y/é/#?%.ts", "/tab\there", "/back\\slash", "/dir/", "rel/x.ts"]) {
    assert.equal(paths.pathToFileURL(p).href, nodeUrl.pathToFileURL(p).href, p);
    const url = nodeUrl.pathToFileURL(p);
    assert.equal(paths.fileURLToPath(url), nodeUrl.fileURLToPath(url), p);
    assert.equal(paths.fileURLToPath(url.href), nodeUrl.fileURLToPath(url.href), p);
  }
  assert.equal(paths.fileURLToPath(import.meta.url), nodeUrl.fileURLToPath(import.meta.url));
  assert.throws(() => paths.fileURLToPath("https://example.com/a"), TypeError);
  assert.throws(() => paths.fileURLToPath("file:///a%2Fb"), TypeError);
});

Deno.test("a cached run loads no node: module: main.ts's static imports have none", async () => {
  const root = new URL("..", import.meta.url);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", new URL("main.ts", root).pathname],
    stdout: "piped",
    stderr: "null",
  }).output();
  const info = JSON.parse(new TextDecoder().decode(out.stdout));
  const modules = new Map<string, { dependencies?: unknown[] }>(
    info.modules.map((m: { specifier: string }) => [m.specifier, m]),
  );
  const statics = new Set<string>();
  const visit = (specifier: string, from: string[]) => {
    if (statics.has(specifier)) return;
    statics.add(specifier);
    const deps = (modules.get(specifier)?.dependencies ?? []) as {
      specifier: string;
      isDynamic?: boolean;
      code?: { specifier: string };
    }[];
    for (const dep of deps) {
      if (dep.isDynamic || !dep.code) continue;
      assert.ok(
        !dep.code.specifier.startsWith("node:"),
        `${[...from, specifier].map((s) => s.replace(root.href, "")).join(" -> ")} imports ` +
          `${dep.code.specifier} statically: use runner/paths.ts, or import it where it is used`,
      );
      visit(dep.code.specifier, [...from, specifier]);
    }
  };
  visit(info.roots[0], []);
  assert.ok(statics.size > 20, `${statics.size} modules`);
});

Deno.test("no npm package is reachable from main.ts through code imports (literal dynamic ones too)", async () => {
  // Deno prepares, when a program starts, every npm package that a literal import reaches, run
  // or not (with nodeModulesDir "auto": 40 ms for tfjs and the tokenizers, a third of a no-op
  // rerun). Modules that reach one are imported by URL (`new URL(...)`, typed with
  // `typeof import(...)`, which is a type dependency only).
  const root = new URL("..", import.meta.url);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", new URL("main.ts", root).pathname],
    stdout: "piped",
    stderr: "null",
  }).output();
  const info = JSON.parse(new TextDecoder().decode(out.stdout));
  const modules = new Map<string, { dependencies?: { code?: { specifier: string } }[] }>(
    info.modules.map((m: { specifier: string }) => [m.specifier, m]),
  );
  const seen = new Set<string>();
  const found: string[] = [];
  const visit = (specifier: string, from: string[]) => {
    if (seen.has(specifier)) return;
    seen.add(specifier);
    if (specifier.startsWith("npm:")) {
      found.push([...from, specifier].map((s) => s.replace(root.href, "")).join(" -> "));
      return;
    }
    for (const dep of modules.get(specifier)?.dependencies ?? []) {
      if (dep.code) visit(dep.code.specifier, [...from, specifier]);
    }
  };
  visit(info.roots[0], []);
  assert.deepEqual(found, [], "import these by URL where they are used");
});
