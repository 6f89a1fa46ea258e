import assert from "node:assert/strict";
import { chooseWebGpuBackends, PRIMARY_WEBGPU_BACKENDS } from "../ner/bert/_webgpu_env.ts";

const ROOT = new URL("..", import.meta.url).pathname;

/** Runs a script in a fresh Deno process with the repository's config; stdout and stderr. */
async function spawnProbe(
  code: string,
  env: Record<string, string> = {},
): Promise<{ stdout: string; stderr: string }> {
  const dir = await Deno.makeTempDir({ prefix: "ner-gpuenv-" });
  await Deno.writeTextFile(`${dir}/probe.ts`, code);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `--config=${ROOT}deno.json`, `${dir}/probe.ts`],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    clearEnv: true,
    env: { PATH: Deno.env.get("PATH") ?? "", HOME: Deno.env.get("HOME") ?? "/tmp", ...env },
  }).output();
  await Deno.remove(dir, { recursive: true });
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  return { stdout: new TextDecoder().decode(out.stdout), stderr };
}

/** Runs a script in a fresh Deno process with the repository's config; stdout's last line. */
async function probe(code: string, env: Record<string, string> = {}): Promise<string> {
  return (await spawnProbe(code, env)).stdout.trim().split("\n").pop()!;
}

// Issue 9: wgpu's OpenGL backend loads EGL, glvnd and Mesa's GL driver, whose exit handlers
// raced with exiting threads and aborted the test process in 4 of 12 runs. Training on WebGPU
// (where there is an adapter) must not map them.
Deno.test({
  name: "WebGPU through the backend module loads no OpenGL library (EGL, GLX, Mesa's GL driver)",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const last = await probe(`
import { probeWebGpu, setupBackend } from "${ROOT}ner/bert/backend.ts";
const p = await probeWebGpu();
if (p.ok) {
  const tf = await import("@tensorflow/tfjs-core");
  await setupBackend("webgpu");
  const y = tf.matMul(tf.ones([8, 8]), tf.ones([8, 8]));
  if ((await y.data())[0] !== 8) throw new Error("wrong product");
}
const maps = Deno.readTextFileSync("/proc/self/maps");
const libs = [...new Set(maps.split("\\n").map((l) => l.split(/\\s+/)[5] ?? "").filter((f) => f.includes(".so")))];
console.log(JSON.stringify({ adapter: p.description, gl: libs.filter((f) => /libEGL|libGLX|libGLdispatch|_dri\\.so|libgbm/.test(f)) }));
`);
    const { adapter, gl } = JSON.parse(last);
    assert.deepEqual(gl, [], `adapter ${adapter}: ${gl.join(", ")}`);
  },
});

Deno.test("DENO_WEBGPU_BACKEND: the platform's primary API by default, the user's value kept", async () => {
  const expected = PRIMARY_WEBGPU_BACKENDS[Deno.build.os] ?? "";
  const code = `
import { chooseWebGpuBackends } from "${ROOT}ner/bert/_webgpu_env.ts";
console.log(JSON.stringify([chooseWebGpuBackends(), Deno.env.get("DENO_WEBGPU_BACKEND") ?? null]));
`;
  assert.deepEqual(JSON.parse(await probe(code)), [expected || null, expected || null]);
  assert.deepEqual(JSON.parse(await probe(code, { DENO_WEBGPU_BACKEND: "vulkan,gl" })), [
    "vulkan,gl",
    "vulkan,gl",
  ]);
  assert.equal(typeof chooseWebGpuBackends, "function");
});

// Issue 23 item 18: Mesa's Vulkan device-selection layer asked Wayland for the display's GPU, and
// without XDG_RUNTIME_DIR libwayland printed "error: XDG_RUNTIME_DIR is invalid or not set in
// the environment." twice on every successful train, validate and predict.
Deno.test({
  name:
    "issue 23 item 18: asking for a WebGPU adapter on a machine without a display prints nothing",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const { stdout, stderr } = await spawnProbe(`
import { probeWebGpu } from "${ROOT}ner/bert/backend.ts";
const p = await probeWebGpu();
console.log(JSON.stringify({ adapter: p.description, layer: Deno.env.get("NODEVICE_SELECT") ?? null }));
`);
    assert.equal(stderr, "", stdout);
    const { layer } = JSON.parse(stdout.trim().split("\n").pop()!);
    assert.equal(layer, "1");
  },
});

Deno.test("issue 23 item 18: the device-selection layer stays where there is a display or the user chose", async () => {
  const code = `
import { skipDeviceSelectLayer } from "${ROOT}ner/bert/_webgpu_env.ts";
console.log(JSON.stringify([skipDeviceSelectLayer(), Deno.env.get("NODEVICE_SELECT") ?? null]));
`;
  const linux = Deno.build.os === "linux";
  assert.deepEqual(JSON.parse(await probe(code)), linux ? [true, "1"] : [false, null]);
  for (const env of [{ DISPLAY: ":0" }, { WAYLAND_DISPLAY: "wayland-0" }, { DRI_PRIME: "1" }]) {
    assert.deepEqual(JSON.parse(await probe(code, env)), [false, null], JSON.stringify(env));
  }
  assert.deepEqual(JSON.parse(await probe(code, { NODEVICE_SELECT: "0" })), [false, "0"]);
});
