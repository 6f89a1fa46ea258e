/**
 * Chooses and initialises the TensorFlow.js backend used for training and
 * prediction. Backends are imported lazily, so that loading this module costs
 * nothing until {@link setupBackend} runs.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";

/** Backend names accepted by {@link setupBackend}. */
export type BackendName = "auto" | "wasm" | "cpu" | "webgpu" | "tensorflow";

/** What {@link setupBackend} chose, and why. */
export interface BackendChoice {
  /** The active tfjs backend name (`wasm`, `cpu`, `webgpu` or `tensorflow`). */
  backend: string;
  /** One sentence on why this backend was chosen. */
  reason: string;
}

/** An explicitly requested backend cannot run here. */
export class BackendUnavailableError extends Error {
  /** The requested backend. */
  readonly backend: string;
  constructor(backend: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "BackendUnavailableError";
    this.backend = backend;
  }
}

const HINTS: Record<string, string> = {
  tensorflow:
    'add "@tensorflow/tfjs-node": "npm:@tensorflow/tfjs-node@4.22.0" (or tfjs-node-gpu) to the imports of deno.json and install it with its lifecycle script allowed (it downloads libtensorflow, so it needs network access); or choose backend "wasm"',
  webgpu:
    'it needs a WebGPU adapter (navigator.gpu) that is not a software fallback: a GPU with Vulkan or Metal drivers; or choose backend "wasm"',
  wasm: 'the WebAssembly backend failed to start; choose backend "cpu"',
  cpu: "the pure JavaScript backend failed to start",
};

async function tryWasm(): Promise<void> {
  const wasm = await import("@tensorflow/tfjs-backend-wasm");
  // Deno reports itself as Node to tfjs, so wasm files are read from the package's
  // folder with node:fs; no setWasmPaths call is needed.
  void wasm;
  const { registerWasmKernels } = await import("./_wasm_kernels.ts");
  registerWasmKernels();
  const { registerJsKernels } = await import("./_js_kernels.ts");
  registerJsKernels("wasm");
  if (!(await tf.setBackend("wasm"))) throw new Error('tf.setBackend("wasm") returned false');
  await tf.ready();
}

async function tryCpu(): Promise<void> {
  await import("@tensorflow/tfjs-backend-cpu");
  const { registerJsKernels } = await import("./_js_kernels.ts");
  registerJsKernels("cpu");
  if (!(await tf.setBackend("cpu"))) throw new Error('tf.setBackend("cpu") returned false');
  await tf.ready();
  // Silence the cpu backend's one-time "install tfjs-node" banner (printed on first use in Deno).
  (tf.backend() as unknown as { firstUse?: boolean }).firstUse = false;
}

/** Describes the WebGPU adapter, or says why there is none. */
export async function probeWebGpu(): Promise<
  { ok: boolean; fallback: boolean; description: string }
> {
  const gpu = (globalThis.navigator as { gpu?: GPU } | undefined)?.gpu;
  if (!gpu) return { ok: false, fallback: false, description: "navigator.gpu is not defined" };
  let adapter: GPUAdapter | null = null;
  try {
    adapter = await gpu.requestAdapter();
  } catch (e) {
    return {
      ok: false,
      fallback: false,
      description: `requestAdapter failed: ${(e as Error).message}`,
    };
  }
  if (!adapter) return { ok: false, fallback: false, description: "no WebGPU adapter" };
  const info = (adapter as { info?: { description?: string; isFallbackAdapter?: boolean } }).info;
  const fallback = Boolean(
    info?.isFallbackAdapter ?? (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter,
  );
  return { ok: true, fallback, description: info?.description || "unnamed adapter" };
}

async function tryWebGpu(): Promise<string> {
  const probe = await probeWebGpu();
  if (!probe.ok) throw new Error(probe.description);
  await import("@tensorflow/tfjs-backend-webgpu");
  if (!(await tf.setBackend("webgpu"))) throw new Error('tf.setBackend("webgpu") returned false');
  await tf.ready();
  return probe.description + (probe.fallback ? " (software fallback)" : "");
}

async function tryTensorflow(): Promise<void> {
  // Only a configured package is imported (e.g. "@tensorflow/tfjs-node" in deno.json's
  // imports): an ad-hoc npm: import would download packages at run time.
  let url: string;
  try {
    url = import.meta.resolve("@tensorflow/tfjs-node");
  } catch {
    throw new Error('"@tensorflow/tfjs-node" is not in the import map');
  }
  await import(url);
  if (!(await tf.setBackend("tensorflow"))) {
    throw new Error('tf.setBackend("tensorflow") returned false');
  }
  await tf.ready();
}

/**
 * Selects and initialises a backend.
 *
 * `auto` picks WebGPU when a hardware (non-fallback) adapter exists, else
 * wasm, else cpu.
 *
 * @param name The requested backend.
 * @returns The active backend and a reason.
 * @throws {BackendUnavailableError} When an explicitly requested backend cannot start.
 * @example
 * ```ts
 * import { setupBackend } from "./backend.ts";
 * const { backend } = await setupBackend("cpu");
 * console.assert(backend === "cpu");
 * ```
 */
export async function setupBackend(name: BackendName): Promise<BackendChoice> {
  const fail = (e: unknown): never => {
    const why = e instanceof Error ? e.message : String(e);
    throw new BackendUnavailableError(
      name,
      `Backend "${name}" is unavailable: ${why.split("\n")[0]}: ${HINTS[name] ?? ""}`,
      { cause: e },
    );
  };
  switch (name) {
    case "cpu":
      await tryCpu().catch(fail);
      return { backend: "cpu", reason: "requested" };
    case "wasm":
      await tryWasm().catch(fail);
      return { backend: "wasm", reason: "requested" };
    case "webgpu": {
      const desc = await tryWebGpu().catch(fail);
      return { backend: "webgpu", reason: `requested; adapter ${desc}` };
    }
    case "tensorflow":
      await tryTensorflow().catch(fail);
      return { backend: "tensorflow", reason: "requested" };
    case "auto": {
      const probe = await probeWebGpu();
      if (probe.ok && !probe.fallback) {
        try {
          await tryWebGpu();
          return { backend: "webgpu", reason: `auto: WebGPU adapter ${probe.description}` };
        } catch {
          // fall through to wasm
        }
      }
      const noGpu = probe.ok
        ? `WebGPU adapter "${probe.description}" is a software fallback`
        : probe.description;
      try {
        await tryWasm();
        return { backend: "wasm", reason: `auto: ${noGpu}; using WebAssembly` };
      } catch (e) {
        await tryCpu().catch(fail);
        return {
          backend: "cpu",
          reason: `auto: ${noGpu}; wasm failed (${(e as Error).message}); using pure JavaScript`,
        };
      }
    }
    default:
      throw new BackendUnavailableError(
        String(name),
        `Unknown backend "${
          String(name)
        }": expected one of "auto", "wasm", "cpu", "webgpu", "tensorflow"`,
      );
  }
}
