/**
 * What a stage's cache key is made of (issue 11 item 6): the code it actually runs (no other
 * stage's module, not the engine's files, comments and layout left out) and the locked versions
 * of the npm packages it imports.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { Cache } from "../runner/store/cache.ts";
import type { ResolvedStage } from "../runner/core/pipeline.ts";
import { ENGINE_KEY_VERSION, stageKey } from "../runner/keys/stage_key.ts";
import { codeHashes, CodeIndex, codePackages, moduleFiles } from "../runner/keys/code_index.ts";
import { normalizeScript } from "../runner/keys/code_text.ts";
import { StatCache } from "../runner/store/stat_cache.ts";
import { explainChange } from "../runner/keys/explain.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");
const STAGES = ["train", "validate", "load", "embed_pad", "tensorize", "preprocess_input"]
  .concat(["preprocess_target", "label_ids"]);

/** A copy of the project's code (stages, ner, runner, schemas, deno.json, deno.lock). */
async function projectCopy(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "stage_keys_" });
  const copy = async (rel: string) => {
    const info = await Deno.stat(`${ROOT}/${rel}`);
    if (info.isDirectory) {
      await Deno.mkdir(`${dir}/${rel}`, { recursive: true });
      for await (const e of Deno.readDir(`${ROOT}/${rel}`)) await copy(`${rel}/${e.name}`);
    } else if (/\.(ts|json)$/.test(rel) || rel === "deno.lock") {
      await Deno.copyFile(`${ROOT}/${rel}`, `${dir}/${rel}`);
    }
  };
  for (const rel of ["stages", "ner", "runner", "schemas", "deno.json", "deno.lock"]) {
    await copy(rel);
  }
  return dir;
}

/** train's code and package hashes in a copy of the project (its runner/ as the engine). */
async function trainKeyParts(dir: string) {
  const index = new CodeIndex({ engineDir: `${dir}/runner` });
  const url = `file://${dir}/stages/train.ts`;
  return {
    code: await codeHashes(url, dir, index),
    packages: await codePackages(url, dir, index),
  };
}

Deno.test("no stage's code includes another stage's module or an engine file", async () => {
  for (const stage of STAGES) {
    const files = (await moduleFiles(`file://${ROOT}/stages/${stage}.ts`, ROOT))
      .map((f) => f.slice(ROOT.length + 1));
    const foreign = files.filter((f) =>
      f.startsWith("runner/") ||
      // Another stage kind's module; private helpers (`stages/_*.ts`) may be shared.
      (f.startsWith("stages/") && f !== `stages/${stage}.ts` && !f.startsWith("stages/_"))
    );
    assert.deepEqual(foreign, [], `${stage} depends on ${foreign.join(", ")}`);
  }
});

Deno.test("a data stage's key holds the code of the worker it starts for a large input", async () => {
  for (
    const [stage, worker] of [
      ["preprocess_input", "stages/_preprocess_worker.ts"],
      ["preprocess_target", "stages/_preprocess_target_worker.ts"],
      ["label_ids", "stages/_label_ids_worker.ts"],
      ["embed_pad", "stages/_label_ids_worker.ts"],
    ] as const
  ) {
    const files = (await moduleFiles(`file://${ROOT}/stages/${stage}.ts`, ROOT))
      .map((f) => f.slice(ROOT.length + 1));
    assert.ok(files.includes(worker), `${stage}: ${files.join(", ")}`);
    assert.ok(files.includes("stages/_parts.ts"), stage);
  }
});

Deno.test("a comment in stages/embed_pad.ts or runner/report.ts leaves train's key alone", async () => {
  const dir = await projectCopy();
  try {
    const before = await trainKeyParts(dir);
    for (const rel of ["stages/embed_pad.ts", "runner/report.ts"]) {
      const text = await Deno.readTextFile(`${dir}/${rel}`);
      await Deno.writeTextFile(
        `${dir}/${rel}`,
        `// An edited comment.\n${text}\n/* and one more */\n`,
      );
    }
    assert.deepEqual(await trainKeyParts(dir), before);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a comment or indentation edit in a module train runs keeps its key; code does not", async () => {
  const dir = await projectCopy();
  try {
    const before = await trainKeyParts(dir);
    const path = `${dir}/ner/types.ts`;
    const text = await Deno.readTextFile(path);
    await Deno.writeTextFile(
      path,
      `/** A new header. */\n${text.replace(/\n {2}/g, "\n    // a note\n      ")}`,
    );
    assert.deepEqual(await trainKeyParts(dir), before);
    await Deno.writeTextFile(path, text.replace("= -100;", "= -101;"));
    const after = await trainKeyParts(dir);
    assert.notEqual(after.code["ner/types.ts"], before.code["ner/types.ts"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("normalizeScript drops comments and layout, and nothing inside literals", () => {
  const same = (a: string, b: string) => assert.equal(normalizeScript(a), normalizeScript(b));
  const differ = (a: string, b: string) => assert.notEqual(normalizeScript(a), normalizeScript(b));
  same("const a = 1; // one\n", "const  a = 1;\n\n\n/* one */");
  same("f(  x ,\ty )", "f( /* c */ x , y )");
  // What looks like a comment inside a string, a template, a regex or a class is code.
  differ('const s = "a // b";', 'const s = "a // c";');
  differ("const s = 'a /* b */';", "const s = 'a /* c */';");
  differ("const t = `x ${`// ${y}`} // z`;", "const t = `x ${`// ${y}`} // w`;");
  differ("const r = /\\/\\/x/; f();", "const r = /\\/\\/x/; g();");
  differ("const r = /[/]// x/; f(a);", "const r = /[/]// x/; f(b);");
  differ("if (ok) /a\\/\\/b/.test(s) && f(1);", "if (ok) /a\\/\\/b/.test(s) && f(2);");
  // A division is not a regex: the line comment after it is one.
  same("const q = a / b; // c / d", "const q = a / b; // e");
  same("const q = n! / 2; // x", "const q = n! / 2;");
  same("const q = f(x) / 2 / 3; // x", "const q = f(x) / 2 / 3;");
  same("const q = 1./2; // x", "const q = 1./2;");
  // Line breaks matter to semicolon insertion; spaces keep tokens apart.
  differ("return\nx", "return x");
  differ("a + ++b", "a++ + b");
  differ("typeof x", "typeofx");
  // What the scanner cannot be sure of is left to the raw text.
  assert.equal(normalizeScript('const s = "open;\n'), null);
  assert.equal(normalizeScript("/* open"), null);
  assert.equal(normalizeScript("const t = `open ${x"), null);
});

/** A project with its own deno.json and deno.lock and a stage module importing `left`. */
async function packageProject(lock: { left: string; dep: string; other: string }) {
  const dir = await Deno.makeTempDir({ prefix: "stage_keys_npm_" });
  await Deno.writeTextFile(
    `${dir}/deno.json`,
    JSON.stringify({
      imports: { left: `npm:left@^1.0.0`, other: "npm:other@^1.0.0" },
    }),
  );
  await writeLock(dir, lock);
  await Deno.writeTextFile(
    `${dir}/stage.ts`,
    'import { pad } from "left";\nimport type { T } from "other";\nexport const s = pad;\n',
  );
  return dir;
}

async function writeLock(dir: string, v: { left: string; dep: string; other: string }) {
  await Deno.writeTextFile(
    `${dir}/deno.lock`,
    JSON.stringify({
      version: "5",
      specifiers: { "npm:left@^1.0.0": v.left, "npm:other@^1.0.0": v.other },
      npm: {
        [`left@${v.left}`]: { integrity: `sha512-left${v.left}`, dependencies: ["dep"] },
        [`dep@${v.dep}`]: { integrity: `sha512-dep${v.dep}` },
        [`other@${v.other}`]: { integrity: `sha512-other${v.other}` },
      },
    }),
  );
}

/** The key of a stage of kind `padder` whose module is `<dir>/stage.ts`. */
async function keyOf(dir: string) {
  const cache = await Cache.open(`${dir}/.pipeline`);
  const stage = {
    id: "pad",
    definition: { name: "padder", version: 1, module: `file://${dir}/stage.ts` },
    params: {},
    inputs: {},
    pathParams: [],
  } as unknown as ResolvedStage;
  return await stageKey(stage, new Map(), cache, dir, new CodeIndex({ stat: new StatCache() }));
}

Deno.test("a new locked version of a package a stage imports changes its key, and says so", async () => {
  const dir = await packageProject({ left: "1.3.0", dep: "2.0.0", other: "1.0.0" });
  try {
    const one = await keyOf(dir);
    assert.equal(one.parts.engine, ENGINE_KEY_VERSION);
    assert.deepEqual(one.parts.packages, {
      left: "1.3.0 sha512-left1.3.0",
      dep: "2.0.0 sha512-dep2.0.0",
    });
    await writeLock(dir, { left: "1.4.0", dep: "2.0.0", other: "1.0.0" });
    const two = await keyOf(dir);
    assert.notEqual(two.key, one.key);
    assert.deepEqual(explainChange(two.parts, one.parts), [
      "npm package left changed (1.3.0 -> 1.4.0)",
    ]);
    // A package it depends on (as deno.lock lists it) counts too.
    await writeLock(dir, { left: "1.4.0", dep: "2.1.0", other: "1.0.0" });
    const three = await keyOf(dir);
    assert.notEqual(three.key, two.key);
    assert.deepEqual(explainChange(three.parts, two.parts), [
      "npm package dep changed (2.0.0 -> 2.1.0)",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a package a stage does not import (or imports for types only) leaves its key", async () => {
  const dir = await packageProject({ left: "1.3.0", dep: "2.0.0", other: "1.0.0" });
  try {
    const one = await keyOf(dir);
    await writeLock(dir, { left: "1.3.0", dep: "2.0.0", other: "1.9.0" });
    assert.equal((await keyOf(dir)).key, one.key);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the key of a stage kept before packages were keyed says the engine changed", () => {
  const now = {
    engine: ENGINE_KEY_VERSION,
    kind: "k",
    version: 1,
    code: { "a.ts": "1" },
    packages: { yaml: "2.9.1 sha512-x" },
    params: {},
    inputs: {},
    files: {},
  };
  const { engine: _engine, packages: _packages, ...old } = now;
  assert.deepEqual(explainChange(now, old as unknown as typeof now), [
    `engine key format changed (before v1 -> v${ENGINE_KEY_VERSION})`,
  ]);
  assert.deepEqual(
    explainChange({ ...now, packages: { yaml: "2.9.1 sha512-y" } }, now),
    ["npm package yaml changed (2.9.1, integrity sha512-x -> sha512-y)"],
  );
});
