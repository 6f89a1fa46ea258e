/**
 * Where the engine materialises outputs: `out/<pipeline>/<stage>/<output><extension>`, and a
 * sweep's variants under `out/<pipeline>/<label>/`. The materialiser places files there, and
 * commands that read an output (`predict`) find it with the same functions; before a run writes
 * there, {@link checkOutFolders} makes sure that none of those folders leads out of the project.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { outputPath, treeDir } from "./out_paths.ts";
 *
 * assert.equal(treeDir("/p/out", "ner"), "/p/out/ner");
 * assert.equal(treeDir("/p/out", "ner", "lr-0.001"), "/p/out/ner/lr-0.001");
 * assert.equal(outputPath(treeDir("/p/out", "ner"), "train", "model"), "/p/out/ner/train/model");
 * assert.equal(outputPath("/p/out/ner", "load", "dataset", ".json"), "/p/out/ner/load/dataset.json");
 * ```
 *
 * @module
 */

import { checkOwned, realPathOf } from "../lib/owned.ts";
import { dirname } from "../paths.ts";

/**
 * The directory of a pipeline's outputs.
 *
 * @param outDir The `out/` directory (default of a run: `<project root>/out`).
 * @param pipeline The pipeline's name.
 * @param variant A sweep variant's label: its tree is a directory of that name in the pipeline's.
 * @returns `<outDir>/<pipeline>`, or `<outDir>/<pipeline>/<variant>`.
 */
export function treeDir(outDir: string, pipeline: string, variant?: string): string {
  return variant === undefined ? `${outDir}/${pipeline}` : `${outDir}/${pipeline}/${variant}`;
}

/**
 * An output's path inside its tree, as the tree's manifest names it.
 *
 * @param stage Stage id.
 * @param output Output name.
 * @param extension The output's extension (`OutputSpec.extension`, e.g. `.json`), if any.
 * @returns `<stage>/<output><extension>`.
 */
export function outputInTree(stage: string, output: string, extension = ""): string {
  return `${stage}/${output}${extension}`;
}

/**
 * Where an output is materialised.
 *
 * @param tree The tree's directory ({@link treeDir}).
 * @param stage Stage id.
 * @param output Output name.
 * @param extension The output's extension, if any.
 * @returns `<tree>/<stage>/<output><extension>`.
 */
export function outputPath(tree: string, stage: string, output: string, extension = ""): string {
  return `${tree}/${outputInTree(stage, output, extension)}`;
}

/**
 * Checks the folders of `out/` a run writes in, before it writes anything (lib/owned.ts): `out/`,
 * each tree and the folders in it (stage folders, a sweep's variant folders). One that is a
 * link to a directory outside the project stops the run.
 *
 * @param outDir The `out/` directory.
 * @param trees The trees the run writes (`out/<pipeline>`, a sweep's `out/<pipeline>/<label>`).
 * @throws {OutsideLinkError} For a link out of the project (the folder that holds `outDir`).
 */
export function checkOutFolders(outDir: string, trees: string[]): void {
  const bound = realPathOf(dirname(outDir));
  checkOwned(outDir, bound);
  for (const tree of trees) {
    for (let at = dirname(tree); at.length > outDir.length; at = dirname(at)) checkOwned(at, bound);
    checkOwned(tree, bound, 1);
  }
}
