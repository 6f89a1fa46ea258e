/**
 * `pull <pipeline.yaml>` and `push [<pipeline.yaml>]`: the transfer (ops/transfer.ts), printed
 * a line per stage and a summary. Both need a remote (`remote:` or `NERPIPE_REMOTE`) and fail
 * (exit 2) when it cannot be used.
 *
 * @module
 */

import { expandSweep } from "../config/sweep.ts";
import type { Pipeline } from "../core/pipeline.ts";
import { UserError } from "../errors.ts";
import { parseArgs } from "../lib/args.ts";
import { formatBytes } from "../lib/disk_full.ts";
import { openTransferRemote, transfer } from "../ops/transfer.ts";
import type { Registry } from "../registry.ts";
import { formatSeconds } from "../report.ts";
import { helpOf, usageOf } from "./help.ts";

function parseFlags(args: string[], command: "pull" | "push") {
  const usage = usageOf(command);
  const { values, positionals } = parseArgs(
    args,
    { set: { type: "strings" }, "allow-outside": { type: "strings" } },
    { usage, command, help: () => helpOf(command) },
  );
  if (positionals.length > 1) {
    throw new UserError(
      `Unexpected argument "${positionals[1]}": give one pipeline file\n${usage}`,
    );
  }
  return {
    sets: values.set ?? [],
    allowOutside: values["allow-outside"] ?? [],
    file: positionals[0] as string | undefined,
  };
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
    throw new UserError(`pull needs the pipeline file whose results to pull\n${usageOf("pull")}`);
  }
  const started = performance.now();
  let pipelines: Pipeline[] = [];
  if (flags.file) {
    const sweep = await expandSweep(flags.file, flags.sets, {
      registry,
      allowOutside: flags.allowOutside,
    });
    pipelines = sweep.variants.length ? sweep.variants.map((v) => v.pipeline) : [sweep.base];
  }
  const remote = await openTransferRemote(pipelines[0], command, (line) => console.log(line));
  const cacheDir = pipelines[0] ? `${pipelines[0].root}/.pipeline` : `${Deno.cwd()}/.pipeline`;
  const verb = command === "pull" ? "pulled" : "pushed";
  const done = await transfer(command, pipelines, cacheDir, remote, {
    waiting: (holder) => console.log(`waiting for the cache lock held by ${holder}`),
    begin: () =>
      console.log(
        `${command} ${flags.file ?? cacheDir} ${command === "pull" ? "from" : "to"} ` +
          remote.display,
      ),
    stage: ({ id, outcome, bytes, why }) => {
      if (outcome === "missing") console.log(`  missing ${id}: ${why}`);
      if (outcome !== "moved") return;
      const uploaded = command === "push" ? " uploaded" : "";
      console.log(`  ${verb}  ${id} (${formatBytes(bytes)}${uploaded})`);
    },
  });
  const seconds = (performance.now() - started) / 1000;
  const { count } = done;
  console.log(
    `${done.moved} ${verb}` + (command === "pull" ? `, ${done.here} already here` : "") +
      `, ${done.missing} missing; ${count.moved} objects (${formatBytes(count.bytes)}) ` +
      `${command === "pull" ? "downloaded" : "uploaded"}, ${count.present} already there, ` +
      `in ${formatSeconds(seconds)}`,
  );
  return done.missing ? 1 : 0;
}
