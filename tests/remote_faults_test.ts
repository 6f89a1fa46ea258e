/**
 * The remote cache against a hostile or careless world (issue 23, items 10-12): artifacts that
 * do not depend on where the project is checked out, a push that never replaces another
 * clone's record, pulled records checked against the stage's declared outputs (and dropped
 * when a consumer rejects them), and downloads capped at the sizes a record declares, against
 * a server that lies about lengths and streams forever.
 *
 * @module
 */

import assert from "node:assert/strict";
import { runBuiltinPipeline } from "./_engine_helpers.ts";

const CORPUS = "; Leo Smith flew to Lagos.\n$<Leo Smith:PS> flew to <Lagos:LC>.\n\n" +
  "; Ivy Kowalski met Leo Smith.\n$<Ivy Kowalski:PS> met <Leo Smith:PS>.\n\n";

/** A checkout of a project whose pipeline loads a small corpus, at a path of its own. */
async function loadCheckout(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "checkout-" });
  await Deno.mkdir(`${dir}/data`);
  await Deno.writeTextFile(`${dir}/data/train.txt`, CORPUS);
  await Deno.writeTextFile(`${dir}/data/validation.txt`, CORPUS);
  await Deno.writeTextFile(
    `${dir}/pipeline.yaml`,
    "name: pp\nstages:\n  load:\n    uses: load\n" +
      "    with: { format: kmou, train: data/train.txt, validation: data/validation.txt }\n",
  );
  return dir;
}

Deno.test("item 10: load names each document's file relative to the project root: two checkouts at different paths make the same dataset bytes", async () => {
  const a = await loadCheckout();
  const b = await loadCheckout();
  const ran = await Promise.all(
    [a, b].map((dir) => runBuiltinPipeline(`${dir}/pipeline.yaml`, dir)),
  );
  assert.deepEqual(ran.map((r) => r.byId), [{ load: "ran" }, { load: "ran" }]);
  assert.equal(ran[0]!.stages[0]!.key, ran[1]!.stages[0]!.key);
  const textA = await Deno.readTextFile(`${a}/out/pp/load/dataset.jsonl`);
  const textB = await Deno.readTextFile(`${b}/out/pp/load/dataset.jsonl`);
  assert.equal(textA, textB);
  assert.ok(!textA.includes(a) && !textA.includes("/tmp/"), textA.slice(0, 400));
  const record = JSON.parse(textA.split("\n")[1]!);
  assert.deepEqual(record.source, { file: "data/train.txt", line: 1 });
});
