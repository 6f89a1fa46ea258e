/**
 * A real S3-compatible server for the remote cache tests: s3rver (npm), started on loopback in
 * a child process, with one bucket and one access key whose secret the test chooses (so that
 * the test can look for it in every output). Signatures are checked by the server.
 *
 * Run as a script it is the server: `deno run -A --config tests/s3rver/deno.json
 * tests/_s3_server.ts <dir> <bucket> <key id> <secret>` prints `{"port": N}` once listening.
 * s3rver and its dependencies are in that tests-only config (its own import map, lock file and
 * `node_modules/`), not in the project's deno.json: a run of the pipeline never installs them.
 *
 * @module
 */

/** A running server. */
export interface S3Server {
  /** `http://127.0.0.1:<port>`, for AWS_ENDPOINT_URL. */
  endpoint: string;
  /** Where it keeps the buckets' files. */
  dir: string;
  /** Stops it (the files stay). */
  stop(): Promise<void>;
}

/**
 * Starts s3rver, or gives the reason it could not (npm unreachable, package missing).
 *
 * @param bucket The bucket to create.
 * @param keyId The access key id the server accepts.
 * @param secret Its secret.
 * @param dir Where the server keeps its files (a new temp directory by default); give the
 *   same one to restart a server with its content.
 */
export async function startS3(
  bucket: string,
  keyId: string,
  secret: string,
  dir?: string,
): Promise<S3Server | string> {
  const where = dir ?? await Deno.makeTempDir({ prefix: "s3rver-" });
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--config",
      new URL("./s3rver/deno.json", import.meta.url).pathname,
      new URL(import.meta.url).pathname,
      where,
      bucket,
      keyId,
      secret,
    ],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const timeout = setTimeout(() => child.kill("SIGKILL"), 120_000);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
      const match = /\{"port":(\d+)\}/.exec(text);
      if (match) {
        // Keep draining stdout so that the server never blocks on a full pipe.
        (async () => {
          try {
            while (!(await reader.read()).done) { /* discard */ }
          } catch { /* closed */ }
        })();
        child.stderr.cancel().catch(() => {});
        return {
          endpoint: `http://127.0.0.1:${match[1]}`,
          dir: where,
          async stop() {
            try {
              child.kill("SIGTERM");
            } catch { /* gone */ }
            await child.status;
          },
        };
      }
    }
  } finally {
    clearTimeout(timeout);
  }
  const err = new TextDecoder().decode(await new Response(child.stderr).arrayBuffer());
  await child.status;
  return `s3rver did not start: ${err.trim().split("\n").slice(-3).join(" | ") || text.trim()}`;
}

if (import.meta.main) {
  const [dir, bucket, keyId, secret] = Deno.args;
  // Named through a variable: only tests/s3rver/deno.json maps it, so the project's type check
  // and lock file must not try to resolve it.
  const pkg = "s3rver";
  // deno-lint-ignore no-explicit-any
  const S3rver: any = (await import(pkg)).default;
  // deno-lint-ignore no-explicit-any
  const account: any = await import(`${pkg}/lib/models/account.js`);
  (account.DUMMY_ACCOUNT ?? account.default.DUMMY_ACCOUNT).createKeyPair(keyId, secret);
  await replaceAtOnce(`${pkg}/lib/stores/filesystem.js`);
  const server = new S3rver({
    address: "127.0.0.1",
    port: 0,
    silent: true,
    directory: dir,
    configureBuckets: [{ name: bucket }],
  });
  const { port } = await server.run();
  console.log(JSON.stringify({ port }));
  Deno.addSignalListener("SIGTERM", async () => {
    await server.close();
    Deno.exit(0);
  });
}

/**
 * S3 replaces an object at once: a reader sees the old body or the new one, and of two writers
 * of one key, one body wins whole. s3rver's file store writes in place, so two PUTs of a key at
 * once interleave (the remote race test once read a run record with the other writer's tail
 * after its end). This makes the store write each body beside its place and rename it in, as
 * S3 behaves; the name it writes to does not end like an object's, so no listing shows it.
 */
async function replaceAtOnce(storeModule: string): Promise<void> {
  const fs = await import("node:fs/promises");
  const { dirname } = await import("node:path");
  const { createHash, randomUUID } = await import("node:crypto");
  const { Buffer } = await import("node:buffer");
  // deno-lint-ignore no-explicit-any
  const Store: any = (await import(storeModule)).default;
  // deno-lint-ignore no-explicit-any
  Store.prototype.putObject = async function (this: any, object: any) {
    const path: string = this.getResourcePath(object.bucket, object.key, "object");
    await fs.mkdir(dirname(path), { recursive: true });
    let body: Uint8Array;
    if (Buffer.isBuffer(object.content)) body = object.content;
    else {
      const chunks: Uint8Array[] = [];
      for await (const chunk of object.content) chunks.push(chunk);
      body = Buffer.concat(chunks);
    }
    const md5 = createHash("md5").update(body).digest("hex");
    const part = `${path}.part-${randomUUID()}`;
    await fs.writeFile(part, body);
    await fs.rename(part, path);
    await this.putMetadata(object.bucket, object.key, object.metadata, md5);
    return { size: body.length, md5 };
  };
}
