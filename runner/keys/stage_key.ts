/**
 * Stage keys: what a stage's cached result is looked up by (the engine's key version, the
 * stage's kind, version, code, packages, parameters and input hashes), and the reasons a key
 * differs from the last run's (`status`, `--explain`).
 *
 * @module
 */

import type { Cache } from "../store/cache.ts";
import type { ResolvedStage } from "../core/pipeline.ts";
import { codeHashes, CodeIndex, codePackages } from "./code_index.ts";
import type { StoredOutput } from "../core/result.ts";
import { sha256, stableJson } from "../lib/digest.ts";

/** What a stage's key was computed from; kept to explain why a stage is stale. */
export interface KeyParts {
  /** How the engine keys and runs stages (`ENGINE_KEY_VERSION`; absent before version 1). */
  engine: number;
  kind: string;
  version: number;
  /** sha256 of each code file's text without comments, by path relative to the project root. */
  code: Record<string, string>;
  /** Locked npm (and `jsr:`) packages the code imports: `version integrity`, by name. */
  packages: Record<string, string>;
  params: unknown;
  inputs: Record<string, string>;
  files: Record<string, string>;
}

/** A stage's key and what it was computed from. */
export interface StageKey {
  key: string;
  parts: KeyParts;
}

/**
 * The version of how the engine runs and keys stages, part of every key. The engine's files
 * (`runner/`) are not in any stage's code hashes (see `CodeIndex` in code_index.ts), so that a comment
 * in them reruns nothing; bump this when a change to the engine changes what a stage receives
 * or what its outputs are (parameters, paths, inputs, the key's composition), and every stage
 * runs again once.
 *
 * 1: code hashed without comments and layout, engine files left out, npm packages keyed.
 */
export const ENGINE_KEY_VERSION = 1;

/**
 * Computes a stage's key from the engine's key version, the stage's kind, version, code (its
 * project files and the locked npm packages they import), parameters and input hashes.
 *
 * @param stage The stage.
 * @param upstream Output hashes of upstream stages, by stage id.
 * @param cache The cache (for its stat cache).
 * @param root The project root.
 * @param index Code files and deno.lock, read once and shared by the stages of one run.
 */
export async function stageKey(
  stage: ResolvedStage,
  upstream: Map<string, Record<string, StoredOutput>>,
  cache: Cache,
  root: string,
  index: CodeIndex = new CodeIndex(),
): Promise<StageKey> {
  const inputs: Record<string, string> = {};
  const files: Record<string, string> = {};
  for (const [name, input] of Object.entries(stage.inputs)) {
    if (input.kind === "stage") {
      const out = upstream.get(input.stage)?.[input.output];
      if (!out) throw new Error(`Upstream output ${input.stage}.${input.output} is not available`);
      inputs[name] = out.hash;
    } else {
      const info = await Deno.stat(input.abs);
      inputs[name] = await cache.stat.hashPath(input.abs, info.isDirectory ? "dir" : "file");
    }
  }
  for (const p of stage.pathParams) {
    files[p.param.replace(`stages.${stage.id}.with.`, "")] = await cache.stat.hashPath(
      p.abs,
      p.kind,
    );
  }
  const parts: KeyParts = {
    engine: ENGINE_KEY_VERSION,
    kind: stage.definition.name,
    version: stage.definition.version,
    code: await codeHashes(stage.definition.module, root, index),
    packages: await codePackages(stage.definition.module, root, index),
    params: stage.params,
    inputs,
    files,
  };
  const code = await sha256(stableJson(parts.code));
  const key = await sha256(stableJson({ ...parts, code }));
  return { key, parts };
}
