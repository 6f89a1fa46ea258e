/**
 * `gc [<pipeline.yaml>]... [--all-variants] [--dry-run] [--json]`: removes the cached results
 * no pipeline references (ops/gc.ts), and prints what was kept and what was freed.
 *
 * @module
 */

import { parseArgs } from "../lib/args.ts";
import { formatBytes } from "../lib/disk_full.ts";
import { collectGarbage, type GcReport } from "../ops/gc.ts";
import type { Registry } from "../registry.ts";
import { helpOf, usageOf } from "./help.ts";

/**
 * Runs `gc`.
 *
 * @param args Its arguments.
 * @param registry Stage kinds (to check the pipeline files).
 * @returns The exit code (0).
 * @throws {UserError} See `collectGarbage` (ops/gc.ts).
 */
export async function gcCommand(args: string[], registry: Registry): Promise<number> {
  const { values, positionals } = parseArgs(args, {
    "all-variants": { type: "boolean" },
    "dry-run": { type: "boolean" },
    json: { type: "boolean" },
    "allow-outside": { type: "strings" },
  }, { usage: usageOf("gc"), command: "gc", help: () => helpOf("gc") });
  const json = values.json ?? false;
  const report = await collectGarbage({
    ...(positionals.length ? { files: positionals } : {}),
    registry,
    allowOutside: values["allow-outside"] ?? [],
    allVariants: values["all-variants"] ?? false,
    dryRun: values["dry-run"] ?? false,
    onWait: (holder) => console.error(`waiting for the cache lock held by ${holder}`),
  });
  console.log(json ? JSON.stringify(report, null, 2) : formatGc(report));
  return 0;
}

/** A count and a noun, plural when it is not 1. */
function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

/** What `gc` prints: each pipeline and what it keeps, then what was removed and freed. */
export function formatGc(report: GcReport): string {
  const width = Math.max(...report.pipelines.map((p) => p.file.length));
  const lines = [`keeping the results of ${count(report.pipelines.length, "pipeline")}:`];
  for (const p of report.pipelines) {
    const how = p.by === "history"
      ? `its recorded runs': it cannot be checked now: ${p.problem}`
      : p.by === "now and history"
      ? "as it is now, and its recorded runs'"
      : "as it is now";
    lines.push(`  ${p.file.padEnd(width)}  ${count(p.results, "result")} (${how})`);
  }
  const verb = report.dryRun ? "would remove" : "removed";
  const byStage = new Map<string, number>();
  for (const r of report.records) {
    const stage = r.stage ?? "(unreadable)";
    byStage.set(stage, (byStage.get(stage) ?? 0) + 1);
  }
  const stages = [...byStage].map(([s, n]) => `${s} ${n}`).join(", ");
  const { bytes, linked } = report.objectSize;
  const freed = bytes - linked;
  const checkpoints = report.checkpoints.length
    ? `, ${count(report.checkpoints.length, "checkpoint folder")} ` +
      `(${formatBytes(report.checkpointSize.bytes - report.checkpointSize.linked)})`
    : "";
  lines.push(
    `${verb} ${count(report.records.length, "result")}${stages ? ` (${stages})` : ""}, ` +
      `${count(report.objects.length, "object")} (${formatBytes(freed)}` +
      (linked ? `, and ${formatBytes(linked)} that out/ still links to` : "") +
      `)${checkpoints}`,
    `kept ${count(report.kept.records, "result")}, ${count(report.kept.objects, "object")} ` +
      `(${formatBytes(report.kept.bytes)}); the history of runs is kept whole`,
  );
  if (report.dryRun) lines.push("dry run: nothing was removed");
  return lines.join("\n");
}
