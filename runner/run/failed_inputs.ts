/**
 * After a run, the inputs of its failed stages are reread in full: damage that kept a file's
 * stat (which the stat cache cannot see) is reported and removed with its run record, so that
 * the next run makes it again instead of feeding the same bad bytes to the stage.
 *
 * @module
 */

import type { Pipeline } from "../core/pipeline.ts";
import type { RunSummary } from "../core/result.ts";
import type { Reporter } from "../report.ts";
import type { Cache } from "../store/cache.ts";
import { damagedOutputs } from "../store/hit.ts";

/**
 * After a stage failed, rereads the cached outputs it consumed: one whose content no longer
 * matches its hash (damage that kept the file's stat, which the stat cache cannot see) is
 * reported and removed with its run record, so that the next run makes it again instead of
 * feeding the same bad bytes to the stage.
 */
export async function checkFailedInputs(
  pipeline: Pipeline,
  summary: RunSummary,
  cache: Cache,
  reporter: Reporter,
): Promise<void> {
  const byId = new Map(summary.stages.map((s) => [s.id, s]));
  const checked = new Set<string>();
  for (const failed of summary.stages) {
    if (failed.status !== "failed" || failed.reason === "interrupted") continue;
    for (const up of pipeline.stages.get(failed.id)?.upstream ?? []) {
      const key = byId.get(up)?.key;
      if (!key || checked.has(key)) continue;
      checked.add(key);
      const record = await cache.record(key);
      for (const { name, output } of record ? await damagedOutputs(cache, record, "all") : []) {
        const fix = cache.writable ? "removed it; the next run makes it again" : "";
        reporter.line(
          `  the cached output "${name}" of ${up}, read by ${failed.id}, is damaged (its ` +
            `content no longer matches its hash)${fix ? `: ${fix}` : ": run deno task verify"}`,
        );
        if (cache.writable) {
          await cache.removeObject(output);
          await cache.removeRecord(key);
        }
      }
    }
  }
}
