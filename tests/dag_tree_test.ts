/**
 * `dag`'s drawing for the terminal (runner/graph/draw.ts `renderTree`): every stage under what
 * it reads, each edge named by the outputs it carries, a stage with several upstream stages
 * drawn in full once.
 *
 * @module
 */

import assert from "node:assert/strict";
import { loadPipeline } from "../runner/config/load.ts";
import { renderTree } from "../runner/graph/draw.ts";
import { project } from "./_engine_helpers.ts";
import { testRegistry } from "./testdata/engine/stages.ts";

Deno.test("the tree puts each stage under the stages it reads, once in full, files at the top", async () => {
  const dir = await project({
    "poem.txt": "A poem",
    "pipeline.yaml": `name: tree
stages:
  a: { uses: emit, with: { text: Hi } }
  low: { uses: lower, inputs: { text: a.text } }
  both: { uses: join, inputs: { a: a.text, b: low.text } }
  last: { uses: lower, inputs: { text: both.text } }
  file: { uses: lower, inputs: { text: poem.txt } }
  twice: { uses: join, inputs: { a: file.text, b: file.text } }
`,
  });
  try {
    const pipeline = await loadPipeline(`${dir}/pipeline.yaml`, {
      registry: testRegistry(),
      sets: [],
      cacheDir: false,
    });
    assert.equal(
      renderTree(pipeline),
      [
        "poem.txt (file)",
        "└── text → file (lower)",
        "    └── text → twice (join)",
        "a (emit)",
        "├── text → low (lower)",
        "│   └── text → both (join)",
        "│       └── text → last (lower)",
        "└── text → both (join) (*)",
        "",
        "(*) what it leads to is drawn above",
      ].join("\n"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
