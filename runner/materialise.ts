/**
 * Materialising outputs under `out/<pipeline>/<stage>/<output>` for people and other tools.
 *
 * The engine keeps a manifest of what it wrote there (`.pipeline/out/<pipeline>.json`, path ->
 * content hash), so that it can tell its own files from the user's:
 *
 * - every file is written to a temp file next to it and renamed into place;
 * - a file the engine wrote and nobody changed is replaced (or removed, when the output no
 *   longer has it);
 * - a file the user changed or put there is never deleted nor overwritten: it is kept, with a
 *   warning that says how to get the pipeline's version (delete it, or `--force` the stage);
 *   a stage run with `--force` replaces what is at its output paths (still never removing
 *   other files);
 * - temp files left by a killed run are removed;
 * - a failure to write (`out/` read-only, a full disk) is reported on its own: it does not make
 *   the stage fail, and its dependents still run from the cache.
 *
 * @module
 */

import { dirname, relative } from "node:path";
import { type Cache, type OutManifest, type StoredOutput, TEMP_NAME } from "./cache.ts";
import { listFiles } from "./hash.ts";
import type { Reporter } from "./report.ts";

/** An output that could not be materialised. */
export interface MaterialiseProblem {
  /** Stage id. */
  stage: string;
  /** Output name. */
  output: string;
  /** Where it should have been written. */
  path: string;
  /** What went wrong. */
  message: string;
}

/** A stage's output as the materialiser needs it. */
export interface OutputToPlace {
  /** Output name. */
  name: string;
  /** File name extension, e.g. `.json`. */
  extension: string;
  /** The stored object. */
  output: StoredOutput;
}

/** Whether a process is alive, when the system can tell (Linux `/proc`); undefined otherwise. */
function alive(pid: number): boolean | undefined {
  try {
    Deno.statSync("/proc/self");
  } catch {
    return undefined;
  }
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

/** Files and other entries under a directory, without following links. */
async function walk(dir: string): Promise<{ files: string[]; other: string[] }> {
  const files: string[] = [];
  const other: string[] = [];
  const visit = async (sub: string) => {
    for await (const entry of Deno.readDir(sub ? `${dir}/${sub}` : dir)) {
      const rel = sub ? `${sub}/${entry.name}` : entry.name;
      if (entry.isDirectory) await visit(rel);
      else if (entry.isFile) files.push(rel);
      else other.push(rel);
    }
  };
  await visit("");
  return { files: files.sort(), other: other.sort() };
}

/**
 * The one place that creates a file under `out/`: a copy of an object's file in a temp file
 * next to `to`, renamed into place.
 */
async function placeFile(from: string, to: string): Promise<void> {
  const tmp = `${to}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  try {
    await Deno.copyFile(from, tmp);
    await Deno.chmod(tmp, 0o644);
    await Deno.rename(tmp, to);
  } catch (error) {
    await Deno.remove(tmp).catch(() => {});
    throw error;
  }
}

/** What the engine wrote under `out/<pipeline>`, and writing more there. */
export class OutTree {
  /** `out/<pipeline>`, absolute. */
  readonly dir: string;
  /** Problems met so far. */
  readonly problems: MaterialiseProblem[] = [];
  #cache: Cache;
  #reporter: Reporter;
  #manifest: OutManifest;
  #changed = false;

  private constructor(dir: string, cache: Cache, reporter: Reporter, manifest: OutManifest) {
    this.dir = dir;
    this.#cache = cache;
    this.#reporter = reporter;
    this.#manifest = manifest;
  }

  /**
   * Opens the tree of a pipeline.
   *
   * @param outDir The `out/` directory.
   * @param pipeline Pipeline name.
   * @param root Project root (the manifest names the tree relative to it).
   * @param cache The cache holding the manifest.
   * @param reporter Where warnings go.
   * @param at A tree elsewhere than `<outDir>/<pipeline>` (a sweep's variant), and the name its
   *   manifest is kept under (pass the same name to {@link save}).
   */
  static async open(
    outDir: string,
    pipeline: string,
    root: string,
    cache: Cache,
    reporter: Reporter,
    at?: { dir: string; manifest: string },
  ): Promise<OutTree> {
    const dir = at?.dir ?? `${outDir}/${pipeline}`;
    const manifest = await cache.outManifest(at?.manifest ?? pipeline, relative(root, dir) || ".");
    return new OutTree(dir, cache, reporter, manifest);
  }

  /** Saves the manifest if it changed (a read-only cache keeps none). */
  async save(pipeline: string): Promise<void> {
    if (!this.#changed) return;
    await this.#cache.writeOutManifest(pipeline, this.#manifest);
    this.#changed = false;
  }

  #shown(path: string): string {
    return relative(Deno.cwd(), path) || path;
  }

  #own(rel: string, hash: string | undefined): void {
    if (this.#manifest.files[rel] === hash) return;
    if (hash === undefined) delete this.#manifest.files[rel];
    else this.#manifest.files[rel] = hash;
    this.#changed = true;
  }

  /** Removes a temp file of a killed run (any pid under the exclusive lock, else a dead one). */
  async #sweep(path: string): Promise<void> {
    const pid = Number(TEMP_NAME.exec(path)?.[1]);
    if (!pid || pid === Deno.pid) return;
    if (this.#cache.writable ? false : alive(pid) !== false) return;
    await Deno.remove(path).catch(() => {});
  }

  /**
   * Materialises a stage's outputs. Never throws: a failure is added to {@link problems} and
   * reported.
   *
   * @param stage Stage id.
   * @param outputs The outputs.
   * @param force Replace files the user changed at the output paths.
   * @returns The materialised paths (relative to the working directory), by output name.
   */
  async place(
    stage: string,
    outputs: OutputToPlace[],
    force: boolean,
  ): Promise<Record<string, string>> {
    const paths: Record<string, string> = {};
    const stageDir = `${this.dir}/${stage}`;
    try {
      for await (const entry of Deno.readDir(stageDir)) {
        if (entry.isFile && TEMP_NAME.test(entry.name)) {
          await this.#sweep(`${stageDir}/${entry.name}`);
        }
      }
    } catch { /* not there yet */ }
    for (const { name, extension, output } of outputs) {
      const dest = `${stageDir}/${name}${extension}`;
      paths[name] = this.#shown(dest);
      try {
        await this.#placeOutput(stage, `${stage}/${name}${extension}`, dest, output, force);
      } catch (error) {
        const message = (error as Error)?.message?.split("\n")[0] ?? String(error);
        this.problems.push({ stage, output: name, path: paths[name]!, message });
        this.#reporter.line(
          `  could not write ${paths[name]} (output "${name}" of ${stage}): ${message}`,
        );
      }
    }
    return paths;
  }

  async #placeOutput(
    stage: string,
    rel: string,
    dest: string,
    output: StoredOutput,
    force: boolean,
  ): Promise<void> {
    const object = this.#cache.objectPath(output);
    const warn = (m: string) => this.#reporter.logger(stage).warn(m);
    // What the output consists of: relative file path (empty for a file output) -> hash.
    const want = new Map<string, string>();
    if (output.kind === "file") want.set("", output.hash);
    else {
      for (const f of await listFiles(object)) {
        want.set(f, await this.#cache.stat.hashFile(`${object}/${f}`));
      }
    }
    let info: Deno.FileInfo | undefined;
    try {
      info = await Deno.lstat(dest);
    } catch { /* not there */ }
    if (info && (output.kind === "dir" ? !info.isDirectory : !info.isFile)) {
      // Something else is where the output goes: the engine's own stale copy is replaced.
      const mine = info.isFile && this.#manifest.files[rel] !== undefined &&
        await this.#hash(dest) === this.#manifest.files[rel];
      if (!mine && !(force && info.isFile)) {
        warn(
          `${this.#shown(dest)} is in the way of output ${rel} and was not ` +
            `written by this pipeline: kept it; move it away to get the output there`,
        );
        return;
      }
      await Deno.remove(dest);
      this.#own(rel, undefined);
    }
    if (output.kind === "dir") await Deno.mkdir(dest, { recursive: true });
    const kept: string[] = [];
    for (const [sub, hash] of want) {
      const path = sub ? `${dest}/${sub}` : dest;
      const key = sub ? `${rel}/${sub}` : rel;
      const now = await this.#hash(path);
      if (now === hash) {
        this.#own(key, hash);
        continue;
      }
      // Not a file (a directory, a link), or changed by someone else: kept unless forced.
      if (now === null || (now !== undefined && now !== this.#manifest.files[key] && !force)) {
        kept.push(this.#shown(path));
        continue;
      }
      await Deno.mkdir(dirname(path), { recursive: true });
      await placeFile(`${object}${sub ? `/${sub}` : ""}`, path);
      this.#cache.stat.forget(path);
      this.#own(key, hash);
    }
    if (kept.length) {
      warn(
        `${kept.join(", ")} ${kept.length === 1 ? "was" : "were"} changed or put there by ` +
          `someone else since this pipeline wrote ${rel}: kept as they are (the result is in ` +
          `the cache): delete them, or run with --force ${stage}, to get the pipeline's version`,
      );
    }
    if (output.kind === "file") return;
    // Files in the directory that are not part of the output.
    const { files, other } = await walk(dest);
    const foreign: string[] = [...other.map((f) => this.#shown(`${dest}/${f}`))];
    const emptied = new Set<string>();
    for (const f of files) {
      if (want.has(f)) continue;
      const path = `${dest}/${f}`;
      if (TEMP_NAME.test(f)) {
        await this.#sweep(path);
        continue;
      }
      const key = `${rel}/${f}`;
      const ours = this.#manifest.files[key];
      if (ours !== undefined && await this.#hash(path) === ours) {
        await Deno.remove(path);
        this.#cache.stat.forget(path);
        this.#own(key, undefined);
        emptied.add(dirname(path));
      } else {
        foreign.push(this.#shown(path));
      }
    }
    for (const d of [...emptied].sort().reverse()) {
      for (let at = d; at.length > dest.length; at = dirname(at)) {
        if (!(await Deno.remove(at).then(() => true, () => false))) break;
      }
    }
    if (foreign.length) {
      warn(
        `${foreign.join(", ")} ${foreign.length === 1 ? "is" : "are"} not part of output ` +
          `${rel} (not written by this pipeline, not in the cache): kept`,
      );
    }
  }

  /** Content hash of a file; undefined when there is none, null when it is not a file. */
  async #hash(path: string): Promise<string | undefined | null> {
    let info: Deno.FileInfo;
    try {
      info = await Deno.lstat(path);
    } catch {
      return undefined;
    }
    if (!info.isFile) return null;
    return await this.#cache.stat.hashFile(path);
  }
}
