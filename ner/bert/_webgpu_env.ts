/**
 * Which graphics APIs WebGPU may use, fixed before Deno creates its WebGPU instance (Deno reads
 * `DENO_WEBGPU_BACKEND` when `navigator.gpu` is first asked for an adapter).
 *
 * Unless the user set `DENO_WEBGPU_BACKEND`, it becomes the platform's primary API: `vulkan` on
 * Linux, `metal` on macOS, `dx12,vulkan` on Windows. Without it Deno also starts wgpu's OpenGL
 * backend, which loads EGL, glvnd and Mesa's GL driver. Those libraries are not safe at process
 * exit: their exit handlers and library destructors ran while threads that had used them were
 * exiting, and the heap came out corrupted ("double free or corruption", "corrupted size vs.
 * prev_size") in 4 of 12 runs of the test suite; with only Vulkan allowed, 0 of 10 (see
 * docs/performance.md and tools/testing/soak.sh). NVIDIA GPUs on Linux are reached through Vulkan;
 * on a machine whose only GPU driver is OpenGL, set `DENO_WEBGPU_BACKEND=vulkan,gl`.
 *
 * On a Linux machine without a display, Mesa's Vulkan device-selection layer is turned off
 * ({@link skipDeviceSelectLayer}): it has no display to order GPUs by, and trying printed an
 * `error:` line on every successful run.
 *
 * @module
 */

/** The backends used when `DENO_WEBGPU_BACKEND` is unset, by `Deno.build.os`. */
export const PRIMARY_WEBGPU_BACKENDS: Readonly<Record<string, string>> = {
  linux: "vulkan",
  darwin: "metal",
  windows: "dx12,vulkan",
};

/**
 * Sets `DENO_WEBGPU_BACKEND` to the primary backend of this platform when it is unset (and
 * env access is granted). Call it before the first `navigator.gpu.requestAdapter()`.
 *
 * @returns The value in force, or null when it cannot be read.
 */
export function chooseWebGpuBackends(): string | null {
  try {
    const set = Deno.env.get("DENO_WEBGPU_BACKEND");
    if (set) return set;
    const primary = PRIMARY_WEBGPU_BACKENDS[Deno.build.os];
    if (!primary) return null;
    Deno.env.set("DENO_WEBGPU_BACKEND", primary);
    return primary;
  } catch {
    // No env permission: Deno's own default stays.
    return null;
  }
}

/**
 * Turns off Mesa's Vulkan device-selection layer (`NODEVICE_SELECT=1`, the switch its manifest
 * names) on a Linux machine without a display (neither `WAYLAND_DISPLAY` nor `DISPLAY` set),
 * unless the user set `NODEVICE_SELECT` or asked the layer for a device (`MESA_VK_DEVICE_SELECT`,
 * `DRI_PRIME`). The layer orders GPUs by the display they drive, and to find it connects to
 * Wayland: without `XDG_RUNTIME_DIR` libwayland prints `error: XDG_RUNTIME_DIR is invalid or not
 * set in the environment.` (twice per adapter request) on a run that succeeds. Without a display
 * it has nothing to order by, and wgpu ranks adapters by their type itself. The Vulkan loader
 * reads the variable when Deno creates its instance: call this before the first
 * `navigator.gpu.requestAdapter()`.
 *
 * @returns Whether the layer was turned off here.
 */
export function skipDeviceSelectLayer(): boolean {
  try {
    if (Deno.build.os !== "linux") return false;
    const set = (name: string) => (Deno.env.get(name) ?? "") !== "";
    const asked = ["NODEVICE_SELECT", "MESA_VK_DEVICE_SELECT", "DRI_PRIME"].some(set);
    if (asked || set("WAYLAND_DISPLAY") || set("DISPLAY")) return false;
    Deno.env.set("NODEVICE_SELECT", "1");
    return true;
  } catch {
    // No env permission: the layer stays, and so may its message.
    return false;
  }
}

/** Whether our fused WebGPU kernels are registered: unless `NERPIPE_WEBGPU_FUSED` is `0`. */
export function webGpuFused(value: string | undefined): boolean {
  return value?.trim() !== "0";
}

/** The environment variables of WebGPU training, as a program checks them when it starts. */
export const WEBGPU_ENV_VARS = [
  {
    name: "NERPIPE_WEBGPU_FUSED",
    allowed: "1 (our fused WebGPU kernels; the default) or 0 (tfjs's own kernels only)",
    check: (value: string) => value.trim() === "0" || value.trim() === "1",
  },
] as const;
