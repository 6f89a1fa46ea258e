/**
 * Materialising outputs under `out/<pipeline>/<stage>/<output>` for people and other tools: one
 * class, {@link OutTree}, whose `#placeOutput` is the one algorithm that decides, file by file,
 * what is the engine's to replace and what is the user's to keep (about 390 lines in all).
 * (What only reads, stats and directory listings, is synchronous: a cached run makes a few
 * hundred of them, and an async file operation costs a thread hop each.)
 *
 * The engine keeps a manifest of what it wrote there (`.pipeline/out/<pipeline>.json`, path ->
 * content hash), so that it can tell its own files from the user's:
 *
 * - the files about to be placed are recorded first (`pending`, saved before they are placed),
 *   so that a run killed after placing some of them still knows them as its own;
 * - every file is placed under a temp name next to it and renamed into place: a file of
 *   `LINK_MIN_BYTES` (place.ts) or more is a hard link to its cache object, made read-only (0444)
 *   first, since the object and the link are then one file; a smaller one, or one whose link
 *   fails (`out/` on another device, links refused), is a copy (`Deno.copyFile`, which the
 *   kernel turns into a reflink on file systems that have them), writable (0644);
 * - a file the engine wrote and nobody changed is replaced (or removed, when the output no
 *   longer has it);
 * - a file the user changed or put there is never deleted nor overwritten: it is kept, with a
 *   warning that says how to get the pipeline's version (delete it, or `--force` the stage);
 *   a stage run with `--force` replaces what is at its output paths (still never removing
 *   other files);
 * - temp files left by a killed run are removed: only files of the engine's own temp name
 *   (`OUT_TEMP_NAME`, place.ts), which no one writes by chance (a user's `notes.tmp-2024` is kept);
 * - nothing is written or deleted through a link: a folder of `out/` that is a link to a
 *   directory outside the project stops the run before it writes anything
 *   ({@link checkOutFolders}), a link inside an output directory is kept as it is and nothing
 *   is written through it, and a link is removed itself, never what it points to (lib/owned.ts);
 * - a failure to write (`out/` read-only, a full disk) is reported on its own: it does not make
 *   the stage fail, and its dependents still run from the cache.
 *
 * @module
 */

import { type OutManifest, readOutManifest, saveOutManifest } from "./manifest.ts";
import type { MaterialiseProblem } from "../core/result.ts";
import { diskFullError, isDiskFull } from "../lib/disk_full.ts";
import { dirname, relative } from "../paths.ts";
import type { Cache } from "../store/cache.ts";
import { listOwned, realPathOf, removeOwned, walkOwned } from "../lib/owned.ts";
import { outputInTree, outputPath, treeDir } from "./out_paths.ts";
import type { Reporter } from "../report.ts";
import type { StoredOutput } from "../core/result.ts";
import { listFiles } from "../lib/list_files.ts";
import {
  alive,
  couldLink,
  LINK_MIN_BYTES,
  linkedInode,
  nameOf,
  OUT_TEMP_NAME,
  placeFile,
  type PlaceMode,
} from "./place.ts";

/** A stage's output as the materialiser needs it. */
export interface OutputToPlace {
  /** Output name. */
  name: string;
  /** File name extension, e.g. `.json`. */
  extension: string;
  /** The stored object. */
  output: StoredOutput;
}

/** What the engine wrote under `out/<pipeline>`, and writing more there. */
export class OutTree {
  /** `out/<pipeline>`, absolute. */
  readonly dir: string;
  /** Problems met so far. */
  readonly problems: MaterialiseProblem[] = [];
  /** Files placed so far, by how (files already in place are not counted). */
  readonly placed: Record<PlaceMode, number> = { link: 0, copy: 0 };
  #cache: Cache;
  #reporter: Reporter;
  #manifest: OutManifest;
  /** The name the manifest is kept under (the pipeline's, or a sweep variant's). */
  #name: string;
  #changed = false;
  /** The real path of the project (the folder holding `out/`): nothing is removed outside it. */
  #bound: string;

  private constructor(
    dir: string,
    cache: Cache,
    reporter: Reporter,
    manifest: OutManifest,
    name: string,
    bound: string,
  ) {
    this.dir = dir;
    this.#cache = cache;
    this.#reporter = reporter;
    this.#manifest = manifest;
    this.#name = name;
    this.#bound = bound;
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
    const dir = at?.dir ?? treeDir(outDir, pipeline);
    const name = at?.manifest ?? pipeline;
    const manifest = await readOutManifest(cache, name, relative(root, dir) || ".");
    return new OutTree(dir, cache, reporter, manifest, name, realPathOf(dirname(outDir)));
  }

  /** Saves the manifest if it changed (a read-only cache keeps none). */
  async save(pipeline: string): Promise<void> {
    // What was placed is in `files` now; what was not (kept for the user) is not the engine's.
    if (this.#manifest.pending) {
      delete this.#manifest.pending;
      this.#changed = true;
    }
    if (!this.#changed) return;
    await saveOutManifest(this.#cache, pipeline, this.#manifest);
    this.#changed = false;
  }

  /**
   * Records, before placing them, the files about to be placed, and saves the manifest, so that
   * a run killed in between leaves files the next run still knows as its own.
   */
  async #willPlace(entries: [key: string, hash: string][]): Promise<void> {
    const pending = this.#manifest.pending ??= {};
    let added = false;
    for (const [key, hash] of entries) {
      if (this.#manifest.files[key] === hash || pending[key]?.includes(hash)) continue;
      (pending[key] ??= []).push(hash);
      added = true;
    }
    if (!added) return;
    await saveOutManifest(this.#cache, this.#name, this.#manifest);
    this.#changed = true;
  }

  /** Whether a file of these bytes at `key` is one the engine placed (or was placing). */
  #ours(key: string, hash: string | undefined | null): boolean {
    return typeof hash === "string" &&
      (this.#manifest.files[key] === hash ||
        this.#manifest.pending?.[key]?.includes(hash) === true);
  }

  #shown(path: string): string {
    return relative(Deno.cwd(), path) || path;
  }

  #own(rel: string, hash: string | undefined, inode?: number): void {
    const links = this.#manifest.links ??= {};
    if (this.#manifest.files[rel] === hash && links[rel] === inode) return;
    if (hash === undefined) delete this.#manifest.files[rel];
    else this.#manifest.files[rel] = hash;
    if (this.#manifest.pending) delete this.#manifest.pending[rel];
    if (inode === undefined) delete links[rel];
    else links[rel] = inode;
    this.#changed = true;
  }

  /**
   * Whether the file at `path` is the one the engine linked there (its inode is the one
   * recorded) while the object is now another file: what was written to it went into the
   * object, which has since been made again.
   */
  #wroteThrough(key: string, path: string, object: string): boolean {
    const inode = this.#manifest.links?.[key];
    if (inode === undefined) return false;
    try {
      const [at, of] = [Deno.lstatSync(path), Deno.statSync(object)];
      return at.isFile && at.ino === inode && of.ino !== inode;
    } catch {
      return false;
    }
  }

  /**
   * Removes a temp file of a killed run ({@link OUT_TEMP_NAME}: any pid under the exclusive
   * lock, else a dead one's).
   */
  async #sweep(path: string): Promise<void> {
    const pid = Number(OUT_TEMP_NAME.exec(nameOf(path))?.[1]);
    if (!pid || pid === Deno.pid) return;
    if (this.#cache.writable ? false : alive(pid) !== false) return;
    await removeOwned(path, this.#bound).catch(() => {});
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
    for (const entry of listOwned(stageDir)) {
      if (entry.isFile && OUT_TEMP_NAME.test(entry.name)) {
        await this.#sweep(`${stageDir}/${entry.name}`);
      }
    }
    for (const { name, extension, output } of outputs) {
      const dest = outputPath(this.dir, stage, name, extension);
      paths[name] = this.#shown(dest);
      try {
        await this.#placeOutput(stage, outputInTree(stage, name, extension), dest, output, force);
      } catch (error) {
        const message = isDiskFull(error)
          ? (await diskFullError(error, dest)).message
          : (error as Error)?.message?.split("\n")[0] ?? String(error);
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
      for (const f of await listFiles(object, { links: "refuse" })) {
        want.set(f, await this.#cache.stat.hashFile(`${object}/${f}`));
      }
    }
    let info: Deno.FileInfo | undefined;
    try {
      info = Deno.lstatSync(dest);
    } catch { /* not there */ }
    if (info && (output.kind === "dir" ? !info.isDirectory : !info.isFile)) {
      // Something else is where the output goes: the engine's own stale copy is replaced.
      const mine = info.isFile && this.#ours(rel, await this.#hash(dest));
      if (!mine && !(force && info.isFile)) {
        warn(
          `${this.#shown(dest)} is in the way of output ${rel} and was not ` +
            `written by this pipeline: kept it; move it away to get the output there`,
        );
        return;
      }
      await removeOwned(dest, this.#bound);
      this.#own(rel, undefined);
    }
    // What is in the output directory now, links not followed: nothing is written through a
    // link in it (a file of the output below one is kept out, as a file someone changed).
    let found: { files: string[]; other: string[] } = { files: [], other: [] };
    if (output.kind === "dir") {
      Deno.mkdirSync(dest, { recursive: true });
      found = walkOwned(dest);
    }
    const throughLink = (sub: string) => found.other.some((o) => sub.startsWith(`${o}/`));
    await this.#willPlace([...want].map(([sub, hash]) => [sub ? `${rel}/${sub}` : rel, hash]));
    const kept: string[] = [];
    const movedAside: string[] = [];
    for (const [sub, hash] of want) {
      const path = sub ? `${dest}/${sub}` : dest;
      const key = sub ? `${rel}/${sub}` : rel;
      if (throughLink(sub)) {
        kept.push(this.#shown(path));
        continue;
      }
      const now = await this.#hash(path);
      const from = `${object}${sub ? `/${sub}` : ""}`;
      if (now === hash) {
        // A copy of a large object (an older engine's, or a link that failed before): the same
        // bytes, now a link, so that they are stored once.
        if (couldLink(path, from) && await placeFile(from, path, false)) {
          this.placed.link++;
          this.#cache.stat.forget(path);
        }
        this.#own(key, hash, linkedInode(path, from));
        continue;
      }
      const changed = now !== undefined && now !== null && !this.#ours(key, now);
      if (changed && this.#wroteThrough(key, path, from)) {
        // Written in place through the link: the object was damaged with it, found and made
        // again. The pipeline's version goes back in place; the changed bytes are kept aside.
        const aside = `${path}.changed-${new Date().toISOString().replace(/[-:.]/g, "")}`;
        await Deno.rename(path, aside);
        this.#cache.stat.forget(path);
        movedAside.push(`${this.#shown(path)} (now ${this.#shown(aside)})`);
      } else if (now === null || (changed && !force)) {
        // Not a file (a directory, a link), or changed by someone else: kept unless forced.
        kept.push(this.#shown(path));
        continue;
      }
      await Deno.mkdir(dirname(path), { recursive: true });
      this.placed[(await placeFile(from, path))!]++;
      this.#cache.stat.forget(path);
      this.#own(key, hash, linkedInode(path, from));
    }
    if (movedAside.length) {
      warn(
        `${movedAside.join(", ")} ${movedAside.length === 1 ? "was" : "were"} written in ` +
          `place: an output file of ${LINK_MIN_BYTES / 1024} KiB or more is a read-only hard ` +
          `link to its cache object, so the cached object was changed too; it was found ` +
          `damaged and made again, the pipeline's version is back in place and the changed ` +
          `file was moved aside (copy such a file before editing it)`,
      );
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
    const { files, other } = found;
    const foreign: string[] = [...other.map((f) => this.#shown(`${dest}/${f}`))];
    const emptied = new Set<string>();
    for (const f of files) {
      if (want.has(f)) continue;
      const path = `${dest}/${f}`;
      if (OUT_TEMP_NAME.test(nameOf(f))) {
        await this.#sweep(path);
        continue;
      }
      const key = `${rel}/${f}`;
      const ours = this.#manifest.files[key];
      if (ours !== undefined && await this.#hash(path) === ours) {
        await removeOwned(path, this.#bound);
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
      info = Deno.lstatSync(path);
    } catch {
      return undefined;
    }
    if (!info.isFile) return null;
    return await this.#cache.stat.hashFile(path);
  }
}
