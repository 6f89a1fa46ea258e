/**
 * `deno task bench`: the training throughput benchmark (flags are passed on, see
 * bench/train_throughput.ts), then the no-op rerun benchmark (bench/noop_rerun.ts).
 * `--only train` or `--only noop` runs one of them. `--scale` runs the data-stage scale
 * benchmark alone (bench/scale.ts; its flags are passed on). `--decoding <out dir>` scores one
 * trained NER model's validation predictions under each decode (bench/decoding.ts). `--serve`
 * measures `deno task serve` under concurrent clients against PyTorch (bench/serve.ts; its flags
 * are passed on).
 *
 * @module
 */

import { benchArgs } from "./_args.ts";

// The flags of the benches it runs are passed on as given (the engine's rules: a flag given
// twice takes its last value); --json goes to each.
const parsed = benchArgs(
  {
    only: { type: "string" },
    scale: { type: "boolean" },
    decoding: { type: "boolean" },
    serve: { type: "boolean" },
    json: { type: "boolean" },
  },
  { passThrough: true },
);
const { only, scale, decoding, serve, json } = parsed.values;
const args = [...parsed.positionals, ...parsed.rest, ...(json ? ["--json"] : [])];
const run = async (file: string, extra: string[]) => {
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(file, import.meta.url).pathname, ...extra],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (code !== 0) Deno.exit(code);
};
if (serve) {
  await run("./serve.ts", [...(only ? ["--only", only] : []), ...args]);
  Deno.exit(0);
}
if (decoding) {
  await run("./decoding.ts", args);
  Deno.exit(0);
}
if (scale) {
  await run("./scale.ts", args);
  Deno.exit(0);
}
if (only !== "noop") await run("./train_throughput.ts", args);
if (only !== "train") await run("./noop_rerun.ts", json ? ["--json"] : []);
