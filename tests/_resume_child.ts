/**
 * Child process of tests/resume_test.ts: runs `<dir>/pipeline.yaml` with the built-in stages,
 * its cache in `<dir>/cache` and outputs in `<dir>/out`, and prints the reporter's lines and
 * the stage statuses (JSON, last line).
 *
 * Usage: deno run -A tests/_resume_child.ts <dir>
 *
 * @module
 */
import { memoryReporter, runBuiltinPipeline } from "./_engine_helpers.ts";

const dir = Deno.args[0]!;
const lines: string[] = [];
const reporter = memoryReporter(lines);
// Lines as they come, so that a parent that kills this process still sees them.
reporter.line = (t) => void console.log(t);
reporter.logger = (id) => ({
  info: (m) => console.log(`[${id}] ${m}`),
  warn: (m) => console.log(`[${id}] warning: ${m}`),
});
const summary = await runBuiltinPipeline(`${dir}/pipeline.yaml`, dir, { reporter });
for (const s of summary.stages) if (s.status === "failed") console.log(`${s.id}: ${s.error}`);
console.log(JSON.stringify(summary.byId));
