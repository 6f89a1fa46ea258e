/**
 * `push` and `pull` as operations: move a whole pipeline's cached results to or from the remote
 * cache, and say what happened to each stage; the command (cli/transfer.ts) prints it.
 *
 * `pull` keys the stages in order (keys/chain.ts), computing each key from its upstream results
 * as a run does; a stage missing from the local cache (or damaged there) is pulled, verified.
 * `push` uploads the results of a pipeline's stages (without one: every record in the local
 * cache). Neither runs a stage nor writes `out/`: the next run materialises what was pulled,
 * from the local cache.
 *
 * @module
 */

import type { Pipeline } from "../core/pipeline.ts";
import type { StoredOutput } from "../core/result.ts";
import { UserError } from "../errors.ts";
import { KeyChain } from "../keys/chain.ts";
import { CodeIndex } from "../keys/code_index.ts";
import { openRemote, type RemoteCache } from "../remote/remote_cache.ts";
import { parseRemote, remoteUrl } from "../remote/schemes.ts";
import type { TransferCount } from "../remote/session.ts";
import { Cache } from "../store/cache.ts";
import { cachedResult } from "../store/hit.ts";

/** What happened to one stage. */
export interface StageTransfer {
  /** Stage id. */
  id: string;
  /** `moved` (pulled or pushed), `here` (pull: cached here already) or `missing`. */
  outcome: "moved" | "here" | "missing";
  /** Bytes moved for it. */
  bytes: number;
  /** Why it is missing. */
  why?: string;
}

/** What a transfer did. */
export interface TransferReport {
  /** Stages (or records) moved. */
  moved: number;
  /** Stages already cached here (pull). */
  here: number;
  /** Stages that could not be moved. */
  missing: number;
  /** Objects moved and already there, and bytes. */
  count: TransferCount;
}

/** What a transfer tells as it goes. */
export interface TransferListener {
  /** Another run holds the cache lock: the transfer waits for it. */
  waiting?(holder: string): void;
  /** The cache is locked: the transfer begins. */
  begin?(): void;
  /** A stage was moved, found here, or is missing. */
  stage?(done: StageTransfer): void;
}

/**
 * The remote cache of the pipelines (or of `NERPIPE_REMOTE`), opened with errors, not warnings:
 * a transfer needs it.
 *
 * @param pipeline The first pipeline (its `remote:`), if any.
 * @param command `pull` or `push`, for the error.
 * @param warn Where reports of damaged remote entries go.
 * @throws {UserError} When there is no remote, or it cannot be used.
 */
export function openTransferRemote(
  pipeline: Pipeline | undefined,
  command: "pull" | "push",
  warn: (line: string) => void,
): Promise<RemoteCache> {
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
    warn,
  });
}

/**
 * Pulls or pushes the results of pipelines (a sweep's variants), or every record of the cache
 * (push without a pipeline).
 *
 * @param command `pull` or `push`.
 * @param pipelines The pipelines; none: every record of the cache (push only).
 * @param cacheDir The cache directory.
 * @param remote The remote (openTransferRemote).
 * @param listener Told what happens as it goes.
 * @returns What was moved, found here, or missing.
 * @throws {UserError} When the cache cannot be written and the command is `pull`.
 */
export async function transfer(
  command: "pull" | "push",
  pipelines: Pipeline[],
  cacheDir: string,
  remote: RemoteCache,
  listener: TransferListener = {},
): Promise<TransferReport> {
  const count: TransferCount = { moved: 0, present: 0, bytes: 0 };
  const done: TransferReport = { moved: 0, here: 0, missing: 0, count };
  const tell = (id: string, outcome: StageTransfer["outcome"], bytes = 0, why?: string) => {
    done[outcome]++;
    listener.stage?.({ id, outcome, bytes, ...(why ? { why } : {}) });
  };
  const cache = await Cache.open(cacheDir);
  await cache.lock(
    (holder) => listener.waiting?.(holder),
    command === "push" ? { shared: true } : {},
  );
  try {
    if (command === "pull" && !cache.writable) {
      throw new UserError(
        `The cache ${cacheDir} cannot be written (${cache.readOnly}), and pull must write it: ` +
          "make it writable",
      );
    }
    listener.begin?.();
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
          tell(id, "missing", 0, `upstream "${blockedBy}" is not available`);
          return undefined;
        }
        const { key } = keyed;
        // A stage that an earlier variant shares.
        if (seen.has(key)) return seen.get(key);
        seen.set(key, undefined);
        const expected = Object.keys(stage.definition.outputs);
        const record = await cachedResult(cache, key, { outputs: expected, reread: "all" });
        const before = count.bytes;
        if (command === "pull") {
          if (record) {
            tell(id, "here");
            seen.set(key, record.outputs);
            return record.outputs;
          }
          const pulled = await remote.pull(key, stage.definition, cache, id, count);
          if (!pulled) {
            tell(id, "missing", 0, "not in the remote");
            return undefined;
          }
          tell(id, "moved", count.bytes - before);
          seen.set(key, pulled.outputs);
          return pulled.outputs;
        }
        if (!record) {
          tell(id, "missing", 0, "not cached here (run the pipeline first)");
          return undefined;
        }
        seen.set(key, record.outputs);
        if (await remote.push(record, cache, count)) tell(id, "moved", count.bytes - before);
        else done.missing++;
        return record.outputs;
      });
    }
    await cache.saveStat();
    return done;
  } finally {
    await cache.close();
  }
}
