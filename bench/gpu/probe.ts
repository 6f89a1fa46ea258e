/**
 * Which WebGPU adapter Deno sees, the way the webgpu backend asks for one (high performance).
 * Prints one JSON line (`description`, `vendor`, `architecture`, `device`, `isFallbackAdapter`,
 * `nvidia`, the buffer limits), a verdict on stderr, and exits 0 for an NVIDIA adapter that is
 * not a software fallback, 3 for any other adapter, 4 when there is none. Used by
 * bench/gpu/run.sh (the kit's run.sh); `DENO_WEBGPU_BACKEND=vulkan` restricts Deno to Vulkan
 * adapters.
 *
 * ```
 * deno run --no-config bench/gpu/probe.ts
 * ```
 *
 * @module
 */

/** PCI vendor id of NVIDIA, as wgpu reports it (decimal). */
const NVIDIA_VENDOR = String(0x10de);

const gpu = (globalThis.navigator as { gpu?: GPU } | undefined)?.gpu;
let adapter: GPUAdapter | null = null;
let problem = "";
if (!gpu) problem = "navigator.gpu is not defined";
else {
  try {
    adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
    if (!adapter) problem = "requestAdapter() returned null: no adapter";
  } catch (error) {
    problem = `requestAdapter() failed: ${(error as Error).message}`;
  }
}
if (!adapter) {
  console.log(JSON.stringify({ adapter: null, problem }));
  console.error(`no WebGPU adapter: ${problem}`);
  Deno.exit(4);
}
const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
const fallback = Boolean(
  info.isFallbackAdapter ?? (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter,
);
const nvidia = info.vendor === NVIDIA_VENDOR ||
  /nvidia/i.test(`${info.vendor} ${info.description}`);
console.log(JSON.stringify({
  description: info.description,
  vendor: info.vendor,
  architecture: info.architecture,
  device: info.device,
  isFallbackAdapter: fallback,
  nvidia,
  maxBufferSize: adapter.limits.maxBufferSize,
  maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
}));
const name = `adapter "${info.description || "(no description)"}" (vendor ${info.vendor})`;
console.error(
  fallback
    ? `${name} is a software fallback, not an NVIDIA GPU`
    : nvidia
    ? `${name} is an NVIDIA GPU`
    : `${name} is not an NVIDIA GPU`,
);
Deno.exit(nvidia && !fallback ? 0 : 3);
