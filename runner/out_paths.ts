/**
 * Where the engine materialises outputs: `out/<pipeline>/<stage>/<output><extension>`, and a
 * sweep's variants under `out/<pipeline>/<label>/`. The materialiser places files there, and
 * commands that read an output (`predict`) find it with the same functions.
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
