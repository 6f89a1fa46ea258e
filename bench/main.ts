/**
 * `deno task bench`: the training throughput benchmark (flags are passed on, see
 * bench/train_throughput.ts), then the no-op rerun benchmark (bench/noop_rerun.ts).
 * `--only train` or `--only noop` runs one of them. `--scale` runs the data-stage scale
 * benchmark alone (bench/scale.ts; its flags are passed on).
 *
 * @module
 */

const args = [...Deno.args];
const at = args.indexOf("--only");
const only = at >= 0 ? args.splice(at, 2)[1] : undefined;
const run = async (file: string, extra: string[]) => {
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(file, import.meta.url).pathname, ...extra],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (code !== 0) Deno.exit(code);
};
if (args.includes("--scale")) {
  await run("./scale.ts", args.filter((a) => a !== "--scale"));
  Deno.exit(0);
}
if (only !== "noop") await run("./train_throughput.ts", args);
if (only !== "train") await run("./noop_rerun.ts", args.includes("--json") ? ["--json"] : []);
