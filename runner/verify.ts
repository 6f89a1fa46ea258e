/**
 * `verify`: rereads every object the run index refers to and compares it with its hash, which a
 * run does not do for large files whose stat is unchanged (see StatCache); an object that holds a
 * link, or is of the wrong kind, is damaged too. `--repair` removes
 * the damaged objects and the run records that refer to them, so that the next run recomputes
 * them.
 *
 * @module
 */

import { objectState } from "./store/hit.ts";
import { lastKeyParts } from "./keys/state.ts";
import { Cache } from "./store/cache.ts";
import { loadPipeline } from "./config/load.ts";
import { UserError } from "./errors.ts";
import type { Registry } from "./registry.ts";
import { parseArgs } from "./lib/args.ts";
import { relative } from "./paths.ts";
import type { StoredOutput } from "./core/result.ts";
import { ReadOnlyCacheError } from "./store/read_only.ts";

/** One problem `verify` found. */
export interface VerifyProblem {
  /** `damaged` (content does not match the hash), `missing` (no object), `bad record`. */
  problem: "damaged" | "missing" | "bad record";
  /** The object (or the record file), relative to the working directory. */
  path: string;
  /** The run record's key (the stage key). */
  key: string;
  /** The stage that made it, when the record says. */
  stage?: string;
  /** The output name, for an object. */
  output?: string;
}

/** What `verify` found. */
export interface VerifyReport {
  /** Run records read. */
  records: number;
  /** Distinct objects reread. */
  objects: number;
  /** What is wrong. */
  problems: VerifyProblem[];
  /** Whether the problems were repaired (objects and records removed). */
  repaired: boolean;
}

/**
 * Verifies a cache.
 *
 * @param dir The cache directory.
 * @param options `keys`: verify only these run records (default: all); `repair`: remove what is
 *   damaged; `onWait`: called if another run holds the lock.
 */
export async function verifyCache(
  dir: string,
  options: { keys?: string[]; repair?: boolean; onWait?: (holder: string) => void } = {},
): Promise<VerifyReport> {
  const cache = await Cache.open(dir);
  const onWait = options.onWait ?? (() => {});
  // Readers share the lock (a run in progress is waited for); repairing takes it alone.
  await cache.lock(onWait, { shared: !options.repair });
  try {
    const shown = (p: string) => relative(Deno.cwd(), p) || p;
    const keys = options.keys ?? await cache.recordKeys();
    const problems: VerifyProblem[] = [];
    const verdicts = new Map<string, "ok" | "missing" | "damaged">();
    const bad: StoredOutput[] = [];
    const badKeys = new Set<string>();
    for (const key of keys) {
      const record = await cache.record(key);
      if (!record) {
        if (options.keys) continue; // A pipeline's stage that has no record yet.
        problems.push({ problem: "bad record", path: shown(`${dir}/runs/${key}.json`), key });
        badKeys.add(key);
        continue;
      }
      for (const [name, output] of Object.entries(record.outputs)) {
        const path = cache.objectPath(output);
        let verdict = verdicts.get(path);
        if (verdict === undefined) {
          verdict = await objectState(cache, output, "all");
          verdicts.set(path, verdict);
          if (verdict === "damaged") bad.push(output);
        }
        if (verdict === "ok") continue;
        problems.push({
          problem: verdict,
          path: shown(path),
          key,
          stage: record.stage,
          output: name,
        });
        badKeys.add(key);
      }
    }
    if (options.repair && problems.length) {
      if (!cache.writable) {
        throw new ReadOnlyCacheError(dir, "damaged objects must be removed", cache.readOnly ?? "");
      }
      for (const output of bad) await cache.removeObject(output);
      for (const key of badKeys) await cache.removeRecord(key);
    }
    return {
      records: keys.length,
      objects: verdicts.size,
      problems,
      repaired: Boolean(options.repair && problems.length),
    };
  } finally {
    await cache.close();
  }
}

const VERIFY_USAGE = "usage: verify [<pipeline.yaml>] [--set k=v]... [--repair] [--json]";

/**
 * The `verify` command: `verify [<pipeline.yaml>] [--repair] [--json]`. Without a pipeline it
 * verifies every record of `./.pipeline`; with one, the records of that pipeline's last runs.
 *
 * @param args Arguments after the command.
 * @param registry Stage kinds (to load a pipeline file).
 * @returns 1 when something was damaged, missing or unreadable (repaired or not), else 0.
 */
export async function verifyCommand(args: string[], registry: Registry): Promise<number> {
  const { values, positionals } = parseArgs(args, {
    repair: { type: "boolean" },
    json: { type: "boolean" },
    set: { type: "strings" },
  }, { usage: VERIFY_USAGE });
  if (positionals.length > 1) {
    throw new UserError(
      `Unexpected argument "${positionals[1]}": give at most one pipeline file\n${VERIFY_USAGE}`,
    );
  }
  const file = positionals[0];
  const repair = values.repair ?? false;
  const json = values.json ?? false;
  const sets = values.set ?? [];
  let dir = `${Deno.cwd()}/.pipeline`;
  let keys: string[] | undefined;
  if (file !== undefined) {
    const pipeline = await loadPipeline(file, { registry, sets });
    dir = `${pipeline.root}/.pipeline`;
    const cache = await Cache.open(dir);
    const found = new Set<string>();
    for (const id of pipeline.order) {
      const key = (await lastKeyParts(cache, pipeline.name, id))?.key;
      if (key) found.add(key);
    }
    keys = [...found];
  } else {
    try {
      await Deno.stat(dir);
    } catch {
      throw new UserError(
        `There is no cache at ${dir}: run verify in the project directory, or name a pipeline file`,
      );
    }
  }
  const report = await verifyCache(dir, {
    ...(keys ? { keys } : {}),
    repair,
    onWait: (holder) => console.error(`waiting for the cache lock held by ${holder}`),
  });
  if (json) {
    console.log(JSON.stringify(report, null, 2));
  } else {
    for (const p of report.problems) {
      const what = p.stage ? `  output "${p.output}" of stage "${p.stage}"` : "";
      console.log(`${p.problem.padEnd(10)} ${p.path}${what}`);
    }
    const count = (k: VerifyProblem["problem"]) =>
      report.problems.filter((p) => p.problem === k).length;
    const found = report.problems.length
      ? `: ${count("damaged")} damaged, ${count("missing")} missing, ` +
        `${count("bad record")} unreadable record${count("bad record") === 1 ? "" : "s"}` +
        (report.repaired
          ? "; removed them and the records that refer to them: the next run recomputes them"
          : "; run verify --repair to remove them, so that the next run recomputes them")
      : ": all intact";
    console.log(`verified ${report.objects} objects of ${report.records} run records${found}`);
  }
  return report.problems.length ? 1 : 0;
}
