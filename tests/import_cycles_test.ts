/**
 * No import cycles anywhere in the project, type imports and literal dynamic imports included
 * (issue 24): the engine's folders depend on each other one way, and so does every module of
 * the ML library, the stages, the benches and the tests. The graph is Deno's own
 * (`deno info --json` of a module that imports every module of the project); a cycle is
 * reported with the files that make it, each importing the next.
 *
 * @module
 */

import assert from "node:assert/strict";

const ROOT = new URL("..", import.meta.url);

/** Folders that hold no module of the project (outputs, caches, data, packages). */
const SKIP = new Set([".git", ".pipeline", "out", "node_modules", "data/sample"]);

/** Every `.ts` module under the project root, as file URLs. */
function projectModules(dir = ""): string[] {
  const found: string[] = [];
  for (const entry of Deno.readDirSync(new URL(dir || ".", ROOT))) {
    const rel = dir ? `${dir}/${entry.name}` : entry.name;
    if (entry.isDirectory && !SKIP.has(rel) && !entry.name.startsWith(".")) {
      found.push(...projectModules(rel));
    } else if (entry.isFile && entry.name.endsWith(".ts")) {
      found.push(new URL(rel, ROOT).href);
    }
  }
  return found;
}

interface Dependency {
  code?: { specifier: string };
  type?: { specifier: string };
}

/** The project's import graph: each module's imports inside the project, by file URL. */
async function importGraph(): Promise<Map<string, string[]>> {
  const dir = await Deno.makeTempDir({ prefix: "import_cycles_" });
  try {
    const entry = `${dir}/all.ts`;
    const modules = projectModules();
    await Deno.writeTextFile(entry, modules.map((m) => `import ${JSON.stringify(m)};\n`).join(""));
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", "--config", new URL("deno.json", ROOT).pathname, entry],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
      modules: { specifier: string; dependencies?: Dependency[] }[];
    };
    const graph = new Map<string, string[]>();
    for (const m of info.modules) {
      if (!m.specifier.startsWith(ROOT.href)) continue;
      const targets = (m.dependencies ?? [])
        .flatMap((d) => [d.code?.specifier, d.type?.specifier])
        .filter((s): s is string => s !== undefined && s.startsWith(ROOT.href));
      graph.set(m.specifier, [...new Set(targets)]);
    }
    assert.ok(graph.size >= modules.length, `${graph.size} modules in the graph`);
    return graph;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * The strongly connected components of more than one module, or of one that imports itself
 * (Tarjan's algorithm), each as one cycle through them (files in import order, the first again
 * at the end) and the number of modules in the component.
 */
function cycles(graph: Map<string, string[]>): { loop: string[]; size: number }[] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: { loop: string[]; size: number }[] = [];
  const connect = (v: string) => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const component = new Set<string>();
    for (let w = stack.pop()!;; w = stack.pop()!) {
      onStack.delete(w);
      component.add(w);
      if (w === v) break;
    }
    if (component.size > 1 || graph.get(v)?.includes(v)) {
      found.push({ loop: loopThrough(v, component), size: component.size });
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) connect(v);
  return found;

  /** A shortest path from `start` back to itself inside `component` (breadth first). */
  function loopThrough(start: string, component: Set<string>): string[] {
    const previous = new Map<string, string>();
    const queue = [start];
    while (queue.length) {
      const v = queue.shift()!;
      for (const w of graph.get(v) ?? []) {
        if (!component.has(w)) continue;
        if (w === start) {
          const path = [start];
          for (let at = v; at !== start; at = previous.get(at)!) path.splice(1, 0, at);
          return [...path, start];
        }
        if (!previous.has(w)) {
          previous.set(w, v);
          queue.push(w);
        }
      }
    }
    return [start, start];
  }
}

Deno.test("cycles finds a loop of imports, with the files in import order", () => {
  const graph = new Map([
    ["a", ["b"]],
    ["b", ["c", "d"]],
    ["c", ["a"]],
    ["d", []],
    ["e", ["e"]],
  ]);
  assert.deepEqual(cycles(graph), [
    { loop: ["a", "b", "c", "a"], size: 3 },
    { loop: ["e", "e"], size: 1 },
  ]);
  assert.deepEqual(cycles(new Map([["a", ["b"]], ["b", []]])), []);
});

Deno.test("no import cycles anywhere in the project, type imports included", async () => {
  const found = cycles(await importGraph()).map(({ loop, size }) =>
    `${loop.map((s) => s.replace(ROOT.href, "")).join(" -> ")} (${size} modules in the circle)`
  );
  assert.deepEqual(found, [], "each module imports the next: cut one of these imports");
});
