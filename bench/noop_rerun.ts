/**
 * Benchmark: a no-op rerun (everything cached) against `deno run hello.ts`, the way users start
 * it. Goal: at most 5x.
 *
 * - `pipelines/ner.yaml` itself, started as `deno task run pipelines/ner.yaml` and as
 *   `deno run <the run task's flags> main.ts run pipelines/ner.yaml`; a warm-up run first (it
 *   runs whatever is not cached yet, training included, so the first time takes minutes);
 * - what module loading alone costs: `deno run` of a file that imports main.ts (and so runs
 *   nothing);
 * - a 10-stage synthetic pipeline of the test stages (`tests/testdata/engine/stages.ts`).
 *
 * Each round runs every command once, in an order that rotates from round to round (alternated,
 * so that a load spike hits all of them alike); the figures are medians over the rounds, and
 * each ratio is the median of the rounds' own ratios to hello. The load average is printed
 * before and after: measure on a quiet machine.
 *
 * `deno run -A bench/noop_rerun.ts [--runs N] [--no-ner] [--json]`. Flags follow the engine's
 * rules (runner/args.ts): `--flag=value` or `--flag value`, a flag given twice takes its last
 * value, an unknown flag exits with code 2.
 *
 * @module
 */

import { benchArgs } from "./_args.ts";

const USAGE = "usage: deno run -A bench/noop_rerun.ts [--runs N] [--no-ner] [--json]";
const { values: options } = benchArgs({
  runs: { type: "string" },
  "no-ner": { type: "boolean" },
  json: { type: "boolean" },
  help: { type: "boolean" },
}, { usage: USAGE, command: "bench/noop_rerun.ts" });
const runs = Number(options.runs) || 10;
const withNer = options["no-ner"] !== true;
const root = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const deno = Deno.execPath();

async function time(cmd: string[], cwd: string): Promise<number> {
  const started = performance.now();
  const out = await new Deno.Command(cmd[0]!, {
    args: cmd.slice(1),
    cwd,
    stdout: "null",
    stderr: "piped",
  }).output();
  const ms = performance.now() - started;
  if (out.code !== 0) {
    const stderr = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join(" / ");
    throw new Error(`${cmd.join(" ")} exited ${out.code}: ${stderr}`);
  }
  return ms;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function loadAverage(): string {
  try {
    return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  } catch {
    return "unknown";
  }
}

/** The flags of the `run` task in deno.json, so that the direct run is the task's run. */
function runTaskFlags(): string[] {
  const config = JSON.parse(Deno.readTextFileSync(`${root}/deno.json`));
  const task: string = config.tasks.run;
  const words = task.split(/\s+/);
  return words.slice(words.indexOf("run") + 1, words.indexOf("main.ts"));
}

const round1 = (ms: number) => Math.round(ms * 10) / 10;

const dir = await Deno.makeTempDir({ prefix: "noop-bench-" });
try {
  await Deno.writeTextFile(`${dir}/hello.ts`, 'console.log("hello");\n');
  await Deno.writeTextFile(`${dir}/modules.ts`, `import ${JSON.stringify(`${root}/main.ts`)};\n`);
  const lines = ["name: bench", "stages:", "  s0: { uses: emit, with: { text: Hello } }"];
  for (let i = 1; i < 10; i++) {
    lines.push(`  s${i}: { uses: lower, inputs: { text: s${i - 1}.text } }`);
  }
  await Deno.writeTextFile(`${dir}/pipeline.yaml`, lines.join("\n") + "\n");
  const flags = runTaskFlags();
  const commands: { name: string; cmd: string[]; cwd: string }[] = [
    { name: "hello", cmd: [deno, "run", "hello.ts"], cwd: dir },
    {
      name: "synthetic_10_stages",
      cmd: [
        deno,
        "run",
        "-A",
        `${root}/tests/testdata/engine/stages.ts`,
        "run",
        "pipeline.yaml",
        "--quiet",
      ],
      cwd: dir,
    },
  ];
  if (withNer) {
    commands.push(
      {
        name: "ner_task",
        cmd: [deno, "task", "--quiet", "run", "pipelines/ner.yaml", "--quiet"],
        cwd: root,
      },
      {
        name: "ner_direct",
        cmd: [deno, "run", ...flags, "main.ts", "run", "pipelines/ner.yaml", "--quiet"],
        cwd: root,
      },
      {
        // The project's deno.json, as for main.ts (a script elsewhere would run without it).
        name: "modules_only",
        cmd: [deno, "run", ...flags, "--config", `${root}/deno.json`, `${dir}/modules.ts`],
        cwd: root,
      },
    );
  }
  // Warm-up: the module graphs are compiled and cached, the pipelines run what is not cached.
  for (const { cmd, cwd } of commands) await time(cmd, cwd);
  const loadBefore = loadAverage();
  const times = new Map(commands.map((c) => [c.name, [] as number[]]));
  for (let r = 0; r < runs; r++) {
    for (let i = 0; i < commands.length; i++) {
      const { name, cmd, cwd } = commands[(r + i) % commands.length]!;
      times.get(name)!.push(await time(cmd, cwd));
    }
  }
  const hello = times.get("hello")!;
  const result: Record<string, unknown> = {
    runs,
    load_average_before: loadBefore,
    load_average_after: loadAverage(),
    goal_ratio: 5,
  };
  for (const [name, values] of times) {
    result[`${name}_ms`] = round1(median(values));
    if (name !== "hello") {
      const ratios = values.map((v, i) => v / hello[i]!);
      result[`${name}_ratio`] = Math.round(median(ratios) * 100) / 100;
    }
  }
  if (options.json) {
    console.log(JSON.stringify(result));
  } else {
    const show = (label: string, name: string) => {
      if (!(`${name}_ms` in result)) return;
      const ratio = name === "hello" ? "" : ` (${result[`${name}_ratio`]}x hello)`;
      console.log(`${label.padEnd(44)} ${String(result[`${name}_ms`]).padStart(7)} ms${ratio}`);
    };
    console.log(`medians of ${runs} alternated rounds; load average ${loadBefore} before`);
    show("deno run hello.ts", "hello");
    show("deno task run pipelines/ner.yaml (no-op)", "ner_task");
    show("deno run main.ts run pipelines/ner.yaml", "ner_direct");
    show("deno run of a file importing main.ts", "modules_only");
    show("no-op rerun, synthetic 10 stages", "synthetic_10_stages");
    console.log(`goal: at most 5x; load average ${result.load_average_after} after`);
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
