// The GPU kit's run.sh (bench/gpu/run.sh) puts the caller's flags after its BERT-base
// defaults and relies on the bench taking a flag's last value (runner/args.ts, as every
// command); a backend that cannot start makes these runs measure nothing, so they take about a
// second.
import assert from "node:assert/strict";

const bench = new URL("../bench/train_throughput.ts", import.meta.url).pathname;

async function runBench(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", bench, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

Deno.test("train_throughput takes a flag's last value, so the GPU kit's run.sh flags override its defaults", async () => {
  const { code, stdout } = await runBench([
    "--json",
    "--layers",
    "12",
    "--backends",
    "webgpu",
    "--reference-device",
    "bogus",
    "--layers",
    "1",
    "--backends=none",
    "--reference-device",
    "cuda",
  ]);
  assert.equal(code, 0);
  const result = JSON.parse(stdout.trim().split("\n").pop()!);
  assert.equal(result.config.layers, 1);
  assert.equal(result.results.length, 1);
  assert.equal(result.results[0].backend, "none");
  assert.equal(result.results[0].ms_per_step, null);
  assert.equal(result.reference, null);
});

Deno.test("train_throughput rejects an unknown --reference-device with exit code 2", async () => {
  const { code, stdout, stderr } = await runBench([
    "--reference-device",
    "gpu",
    "--backends",
    "none",
  ]);
  assert.equal(code, 2);
  assert.equal(stdout, "");
  assert.match(stderr, /^error: Unknown reference device "gpu": expected "cpu" or "cuda"/);
});

Deno.test("bench --serve checks its flags before it starts anything: exit 2 with the usage", async () => {
  const main = new URL("../bench/main.ts", import.meta.url).pathname;
  for (
    const [args, message] of [
      [["--clients", "0,8"], /^error: Invalid --clients "0,8": numbers from 1 to 256/],
      [["--seconds", "-1"], /^error: Invalid --seconds "-1"/],
      [["--rounds", "0"], /^error: Invalid --rounds "0": a whole number from 1 to 50/],
      [["--only", "large"], /^error: Unknown --only "large": expected "sample" or "base"/],
    ] as const
  ) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", main, "--serve", ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 2, stderr);
    assert.match(stderr, message);
    assert.match(stderr, /usage: deno task bench --serve/);
  }
});
