/**
 * Loading a pipeline file: its check as remembered (remembered.ts), when the file, its
 * overrides and its stage kinds are unchanged; else the full check (check.ts), remembered for
 * next time. A fully cached rerun takes the first path, and imports none of the check's modules.
 *
 * @module
 */

import type { Pipeline } from "../core/pipeline.ts";
import { UserError } from "../errors.ts";
import { dirname, resolve } from "../paths.ts";
import type { LoadOptions } from "./options.ts";
import { checkedFingerprint, rememberedPipeline, rememberPipeline } from "./remembered.ts";

/** The project root for a pipeline file. */
export function projectRoot(file: string): string {
  let dir = dirname(resolve(file));
  for (;;) {
    try {
      Deno.statSync(`${dir}/deno.json`);
      return dir;
    } catch {
      const up = dirname(dir);
      if (up === dir) return dirname(resolve(file));
      dir = up;
    }
  }
}

/**
 * Reads and checks a pipeline file.
 *
 * @param file Path of the YAML file.
 * @param options The registry of stage kinds and `--set` overrides.
 * @returns The checked pipeline.
 * @throws {PipelineValidationError} With every problem found, each with file:line:col.
 * @throws {UserError} When the file cannot be read.
 */
export async function loadPipeline(file: string, options: LoadOptions): Promise<Pipeline> {
  let text: string;
  try {
    // Sync, as the other small reads of a rerun: an async one costs a thread hop.
    text = Deno.readTextFileSync(file);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new UserError(`Pipeline file "${file}" does not exist: check the path`);
    }
    throw new UserError(`Cannot read pipeline file "${file}": ${(error as Error).message}`);
  }
  const root = projectRoot(file);
  const cacheDir = options.cacheDir ?? `${root}/.pipeline`;
  const fingerprint = cacheDir === false
    ? undefined
    : await checkedFingerprint(text, file, root, options);
  if (fingerprint) {
    const remembered = await rememberedPipeline(fingerprint, cacheDir as string, {
      registry: options.registry,
      file,
      root,
      text,
      allowOutside: options.allowOutside ?? [],
    });
    if (remembered) return remembered;
  }
  // The full check loads yaml and ajv, which a fully cached rerun does without.
  const { checkPipelineFile } = await import(
    new URL("./check.ts", import.meta.url).href
  ) as typeof import("./check.ts");
  const { pipeline, fileAllowed } = await checkPipelineFile(text, file, root, options);
  if (fingerprint) {
    await rememberPipeline(fingerprint, cacheDir as string, pipeline, fileAllowed);
  }
  return pipeline;
}
