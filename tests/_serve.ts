/**
 * Starts `deno task serve` for a test, as a user would (the task's permissions, the command's
 * output), on a free port of the loopback, and stops it.
 *
 * @module
 */

const ROOT = new URL("..", import.meta.url).pathname;

/** A server started by {@link startServe}. */
export interface Served {
  /** `http://127.0.0.1:<port>/`. */
  url: string;
  /** What it printed on stdout up to its `listening on` line. */
  stdout: string;
  /** The task's process. */
  child: Deno.ChildProcess;
  /** Sends a signal and waits for the exit: its code and everything it wrote on stderr. */
  stop(signal?: Deno.Signal): Promise<{ code: number; stderr: string }>;
}

/**
 * Runs `deno task serve <args> --port 0` and waits for its `listening on` line.
 *
 * @param args The arguments after `serve` (absolute paths: the task runs in the checkout).
 * @param env More environment variables.
 * @param program Deno's arguments before `args`, when not the `serve` task (a benchmark's
 *   variant of the command).
 * @returns The running server.
 * @throws {Error} When it exits before listening, with what it wrote.
 */
export async function startServe(
  args: string[],
  env: Record<string, string> = {},
  program: string[] = ["task", "--quiet", "--config", `${ROOT}deno.json`, "serve"],
): Promise<Served> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [...program, ...args, "--port", "0"],
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = (async () => {
    const chunks: string[] = [];
    for await (const c of child.stderr.pipeThrough(new TextDecoderStream())) chunks.push(c);
    return chunks.join("");
  })();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let stdout = "";
  let url: string | undefined;
  while (url === undefined) {
    const { done, value } = await reader.read();
    if (done) {
      const status = await child.status;
      throw new Error(`serve exited ${status.code} before listening:\n${stdout}${await stderr}`);
    }
    stdout += value;
    url = /^listening on (http:\/\/\S+)/m.exec(stdout)?.[1];
  }
  // The rest of stdout is read (and dropped) so that the server never blocks on a full pipe.
  const rest = (async () => {
    while (!(await reader.read()).done) { /* drop */ }
  })();
  return {
    url,
    stdout,
    child,
    async stop(signal: Deno.Signal = "SIGTERM") {
      try {
        child.kill(signal);
      } catch { /* it has exited */ }
      const { code } = await child.status;
      await rest;
      return { code, stderr: await stderr };
    },
  };
}

/**
 * Runs `deno task serve <args>` to its end, for the cases where it must refuse to start.
 *
 * @param args The arguments after `serve`.
 * @param env More environment variables.
 * @returns Its exit code, stdout and stderr (it is killed after 60 s).
 */
export async function runServe(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", "--config", `${ROOT}deno.json`, "serve", ...args],
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}
