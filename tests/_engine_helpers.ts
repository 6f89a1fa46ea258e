/**
 * Helpers for engine tests: temporary projects and a silent reporter.
 *
 * @module
 */

import { loadPipeline } from "../runner/config/load.ts";
import type { Reporter } from "../runner/report.ts";
import { testRegistry } from "./testdata/engine/stages.ts";
import type { RunSummary } from "../runner/core/result.ts";
import type { RunOptions } from "../runner/run/options.ts";
import { runPipeline } from "../runner/run/variants.ts";

/** A reporter that keeps lines in memory. */
export function memoryReporter(lines: string[] = []): Reporter & { lines: string[] } {
  return {
    lines,
    line: (t) => void lines.push(t),
    logger: (id) => ({
      info: (m) => void lines.push(`[${id}] ${m}`),
      warn: (m) => void lines.push(`[${id}] warning: ${m}`),
    }),
    progress: () => ({ update() {} }),
    done() {},
  };
}

/** Makes a temporary project directory with the given files. */
export async function project(files: Record<string, string>): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "pipeline-test-" });
  for (const [name, text] of Object.entries(files)) {
    const path = `${dir}/${name}`;
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(path, text);
  }
  return dir;
}

/** Loads and runs `pipeline.yaml` of a test project; returns status by stage id. */
export async function runProject(
  dir: string,
  options: Partial<RunOptions> & { sets?: string[]; file?: string } = {},
): Promise<RunSummary & { byId: Record<string, string> }> {
  const pipeline = await loadPipeline(`${dir}/${options.file ?? "pipeline.yaml"}`, {
    registry: testRegistry(),
    sets: options.sets ?? [],
  });
  const summary = await runPipeline(pipeline, { reporter: memoryReporter(), ...options });
  const byId: Record<string, string> = {};
  for (const s of summary.stages) byId[s.id] = s.status;
  return { ...summary, byId };
}

/**
 * Runs a Deno script as a CLI (with every permission, or those given); returns its exit code
 * and output.
 */
export async function runScript(
  script: string,
  args: string[],
  cwd: string,
  permissions: readonly string[] = ["-A"],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...permissions, script, ...args],
    cwd,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

/**
 * Runs a pipeline file with the built-in stages, keeping its cache and outputs in `dir`
 * (not in the repository).
 */
export async function runBuiltinPipeline(
  file: string,
  dir: string,
  options: Partial<RunOptions> & { sets?: string[] } = {},
): Promise<RunSummary & { byId: Record<string, string> }> {
  const { builtinStages } = await import("../stages/mod.ts");
  const pipeline = await loadPipeline(file, {
    registry: builtinStages(),
    sets: options.sets ?? [],
    cacheDir: false,
  });
  const summary = await runPipeline(pipeline, {
    reporter: memoryReporter(),
    cacheDir: `${dir}/cache`,
    outDir: `${dir}/out`,
    ...options,
  });
  const byId: Record<string, string> = {};
  for (const s of summary.stages) byId[s.id] = s.status;
  return { ...summary, byId };
}
