/**
 * Benchmark: a no-op rerun (everything cached) of a 10-stage pipeline, against `deno run` of a
 * hello-world script, in one process tree. Prints the median times and their ratio (goal ≤ 5×).
 * With `--ner`, also times a no-op rerun of pipelines/ner.yaml if it has been run before.
 *
 * `deno run -A bench/noop_rerun.ts [--runs N] [--ner] [--json]`
 *
 * @module
 */

const args = Deno.args;
const runs = Number(args[args.indexOf("--runs") + 1]) || 10;
const root = new URL("..", import.meta.url).pathname;

async function time(cmd: string[], cwd: string): Promise<number> {
  const started = performance.now();
  const out = await new Deno.Command(cmd[0]!, {
    args: cmd.slice(1),
    cwd,
    stdout: "null",
    stderr: "piped",
  })
    .output();
  const ms = performance.now() - started;
  if (out.code !== 0) {
    throw new Error(`${cmd.join(" ")} exited ${out.code}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return ms;
}

async function median(cmd: string[], cwd: string): Promise<number> {
  await time(cmd, cwd); // warm-up: module graph cached, stat cache written
  const times: number[] = [];
  for (let i = 0; i < runs; i++) times.push(await time(cmd, cwd));
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

const dir = await Deno.makeTempDir({ prefix: "noop-bench-" });
await Deno.writeTextFile(`${dir}/hello.ts`, 'console.log("hello");\n');
const stages = ["name: bench", "stages:", "  s0: { uses: emit, with: { text: Hello } }"];
for (let i = 1; i < 10; i++) {
  stages.push(`  s${i}: { uses: lower, inputs: { text: s${i - 1}.text } }`);
}
await Deno.writeTextFile(`${dir}/pipeline.yaml`, stages.join("\n") + "\n");
const cli = `${root}tests/testdata/engine/stages.ts`;
const deno = Deno.execPath();
const run = [deno, "run", "-A", cli, "run", "pipeline.yaml", "--quiet"];
await time(run, dir); // first run executes the 10 stages

const hello = await median([deno, "run", "hello.ts"], dir);
const noop = await median(run, dir);
const result: Record<string, unknown> = {
  runs,
  hello_ms: Math.round(hello * 10) / 10,
  noop_10_stages_ms: Math.round(noop * 10) / 10,
  ratio: Math.round((noop / hello) * 100) / 100,
  goal_ratio: 5,
};
if (args.includes("--ner")) {
  const ner = [deno, "task", "--quiet", "run", "pipelines/ner.yaml", "--quiet"];
  try {
    result.noop_ner_ms = Math.round((await median(ner, root)) * 10) / 10;
    result.ner_ratio = Math.round(((result.noop_ner_ms as number) / hello) * 100) / 100;
  } catch (error) {
    result.noop_ner_ms = null;
    result.ner_note = (error as Error).message.split("\n")[0];
  }
}
await Deno.remove(dir, { recursive: true });
if (args.includes("--json")) {
  console.log(JSON.stringify(result));
} else {
  console.log(`hello world: ${result.hello_ms} ms (median of ${runs})`);
  console.log(`no-op rerun, 10 stages: ${result.noop_10_stages_ms} ms`);
  console.log(`ratio: ${result.ratio}x (goal <= 5x)`);
  if ("noop_ner_ms" in result) {
    console.log(`no-op rerun of pipelines/ner.yaml: ${result.noop_ner_ms} ms`);
  }
}
