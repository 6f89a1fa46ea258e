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
