/**
 * `push` and `pull`: move a whole pipeline's cached results to or from the remote cache.
 *
 * `pull <pipeline.yaml>` walks the stages in order, computing each key from its upstream
 * results as a run does; a stage missing from the local cache is pulled (verified). `push
 * [<pipeline.yaml>]` uploads the results of a pipeline's stages (without a file: every record
 * in the local cache). Both need a remote (`remote:` or `NERPIPE_REMOTE`) and fail (exit 2)
 * when it cannot be used. Neither runs a stage nor writes `out/`: the next run materialises
 * what was pulled, from the local cache.
 *
 * @module
 */

import { cachedResult } from "./store/hit.ts";
import { Cache } from "./store/cache.ts";
import type { Pipeline } from "./core/pipeline.ts";
import { formatBytes } from "./lib/disk_full.ts";
import { UserError } from "./errors.ts";
import { KeyChain } from "./keys/chain.ts";
import { CodeIndex } from "./keys/code_index.ts";
import type { Registry } from "./registry.ts";
import { formatSeconds } from "./report.ts";
import { expandSweep } from "./config/sweep.ts";
import { parseArgs } from "./lib/args.ts";
import type { StoredOutput } from "./core/result.ts";
import { parseRemote, remoteUrl } from "./remote/schemes.ts";
import { openRemote, type RemoteCache } from "./remote/remote_cache.ts";
import type { TransferCount } from "./remote/session.ts";

const USAGE = `usage:
  pull <pipeline.yaml> [--set k=v]... [--allow-outside <path>]...
  push [<pipeline.yaml>] [--set k=v]... [--allow-outside <path>]...`;

function parseFlags(args: string[], command: string) {
  const { values, positionals } = parseArgs(
    args,
    { set: { type: "strings" }, "allow-outside": { type: "strings" } },
    { usage: USAGE, command },
  );
  if (positionals.length > 1) {
    throw new UserError(
      `Unexpected argument "${positionals[1]}": give one pipeline file\n${USAGE}`,
    );
  }
  return {
    sets: values.set ?? [],
    allowOutside: values["allow-outside"] ?? [],
    file: positionals[0] as string | undefined,
  };
}

/** The remote of the pipelines (or of `NERPIPE_REMOTE`), opened with errors, not warnings. */
function open(pipeline: Pipeline | undefined, command: string): Promise<RemoteCache> {
  const url = remoteUrl(pipeline?.remote, undefined);
  if (url === undefined) {
    throw new UserError(
      `${command} needs a remote cache: add remote: s3://<bucket>/<prefix> (or ` +
        "file:///shared/cache) to the pipeline file, or set NERPIPE_REMOTE",
    );
  }
  const spec = parseRemote(url);
  if ("problem" in spec) throw new UserError(`NERPIPE_REMOTE: ${spec.problem}: ${spec.hint}`);
  return openRemote(url, {
    require: true,
    requiredBy: command,
    env: (name) => Deno.env.get(name),
    warn: (line) => console.log(line),
  });
}

/**
 * Runs `pull` or `push`.
 *
 * @param command `pull` or `push`.
 * @param args Its arguments.
 * @param registry Stage kinds.
 * @returns The exit code: 0 when every stage was moved (or already there), 1 when some could
 *   not be (not in the remote, not cached here); a user error (exit 2) when the remote fails.
 */
export async function transferCommand(
  command: "pull" | "push",
  args: string[],
  registry: Registry,
): Promise<number> {
  const flags = parseFlags(args, command);
  if (command === "pull" && !flags.file) {
    throw new UserError(`pull needs the pipeline file whose results to pull\n${USAGE}`);
  }
  const started = performance.now();
  const count: TransferCount = { moved: 0, present: 0, bytes: 0 };
  const done = { moved: 0, here: 0, missing: 0 };
  let pipelines: Pipeline[] = [];
  if (flags.file) {
    const sweep = await expandSweep(flags.file, flags.sets, {
      registry,
      allowOutside: flags.allowOutside,
    });
    pipelines = sweep.variants.length ? sweep.variants.map((v) => v.pipeline) : [sweep.base];
  }
  const remote = await open(pipelines[0], command);
  const cacheDir = pipelines[0] ? `${pipelines[0].root}/.pipeline` : `${Deno.cwd()}/.pipeline`;
  const cache = await Cache.open(cacheDir);
  await cache.lock(
    (holder) => console.log(`waiting for the cache lock held by ${holder}`),
    command === "push" ? { shared: true } : {},
  );
  try {
    if (command === "pull" && !cache.writable) {
      throw new UserError(
        `The cache ${cacheDir} cannot be written (${cache.readOnly}), and pull must write it: ` +
          "make it writable",
      );
    }
    console.log(
      `${command} ${flags.file ?? cacheDir} ${command === "pull" ? "from" : "to"} ` +
        remote.display,
    );
    if (!pipelines.length) {
      // push without a pipeline: every record of the local cache.
      for (const key of await cache.recordKeys()) {
        const record = await cache.record(key);
        if (!record) continue;
        if (await remote.push(record, cache, count)) done.moved++;
        else done.missing++;
      }
    }
    const seen = new Map<string, Record<string, StoredOutput> | undefined>();
    for (const pipeline of pipelines) {
      const chain = new KeyChain(pipeline, cache, new CodeIndex({ stat: cache.stat }));
      await chain.walk(pipeline.order, async ({ stage, key: keyed, blockedBy }) => {
        const id = stage.id;
        if (!keyed) {
          console.log(`  missing ${id}: upstream "${blockedBy}" is not available`);
          done.missing++;
          return undefined;
        }
        const { key } = keyed;
        // A stage that an earlier variant shares.
        if (seen.has(key)) return seen.get(key);
        seen.set(key, undefined);
        const expected = Object.keys(stage.definition.outputs);
        const record = await cachedResult(cache, key, { outputs: expected, reread: "all" });
        if (command === "pull") {
          if (record) {
            done.here++;
            seen.set(key, record.outputs);
            return record.outputs;
          }
          const before = count.bytes;
          const pulled = await remote.pull(key, stage.definition, cache, id, count);
          if (!pulled) {
            done.missing++;
            console.log(`  missing ${id}: not in the remote`);
            return undefined;
          }
          done.moved++;
          seen.set(key, pulled.outputs);
          console.log(`  pulled  ${id} (${formatBytes(count.bytes - before)})`);
          return pulled.outputs;
        }
        if (!record) {
          done.missing++;
          console.log(`  missing ${id}: not cached here (run the pipeline first)`);
          return undefined;
        }
        seen.set(key, record.outputs);
        const before = count.bytes;
        if (await remote.push(record, cache, count)) {
          done.moved++;
          console.log(`  pushed  ${id} (${formatBytes(count.bytes - before)} uploaded)`);
        } else done.missing++;
        return record.outputs;
      });
    }
    const seconds = (performance.now() - started) / 1000;
    const verb = command === "pull" ? "pulled" : "pushed";
    console.log(
      `${done.moved} ${verb}` + (command === "pull" ? `, ${done.here} already here` : "") +
        `, ${done.missing} missing; ${count.moved} objects (${formatBytes(count.bytes)}) ` +
        `${command === "pull" ? "downloaded" : "uploaded"}, ${count.present} already there, ` +
        `in ${formatSeconds(seconds)}`,
    );
    await cache.saveStat();
    return done.missing ? 1 : 0;
  } finally {
    await cache.close();
  }
}
