/**
 * Chooses and initialises the TensorFlow.js backend used for training and
 * prediction. Backends are imported lazily, so that loading this module costs
 * nothing until {@link setupBackend} runs.
 *
 * @module
 */

import { UserError } from "../../runner/errors.ts";
import * as tf from "@tensorflow/tfjs-core";
import { chooseWebGpuBackends, skipDeviceSelectLayer, webGpuFused } from "./_webgpu_env.ts";

/**
 * Backend names accepted by {@link setupBackend}: the one list (the `backend` parameter of train
 * and validate allows these, `tests/stage_params_test.ts` checks it).
 */
export const BACKEND_NAMES = ["auto", "wasm", "cpu", "webgpu", "tensorflow"] as const;

/** A backend name, one of {@link BACKEND_NAMES}. */
export type BackendName = typeof BACKEND_NAMES[number];

/** What {@link setupBackend} chose, and why. */
export interface BackendChoice {
  /** The active tfjs backend name (`wasm`, `cpu`, `webgpu` or `tensorflow`). */
  backend: string;
  /** One sentence on why this backend was chosen. */
  reason: string;
}

/** An explicitly requested backend cannot run here. */
export class BackendUnavailableError extends UserError {
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

/** Starts wasm; returns a description (`WebAssembly`, plus the OpenBLAS library when used). */
async function tryWasm(): Promise<string> {
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
  const { wasmBlas } = await import("./_wasm_kernels.ts");
  const blas = wasmBlas();
  return blas ? `WebAssembly with OpenBLAS (${blas.path})` : "WebAssembly";
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
  chooseWebGpuBackends();
  skipDeviceSelectLayer();
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
  // NERPIPE_WEBGPU_FUSED=0 leaves them out, to measure what they save.
  const fused = webGpuFused(Deno.env.get("NERPIPE_WEBGPU_FUSED"));
  if (fused) (await import("./webgpu/register_all.ts")).registerWebGpuKernels();
  if (!(await tf.setBackend("webgpu"))) throw new Error('tf.setBackend("webgpu") returned false');
  await tf.ready();
  return probe.description + (probe.fallback ? " (software fallback)" : "") +
    (fused ? "" : " without fused kernels");
}

/** The optional native packages, GPU build first. */
export const TENSORFLOW_PACKAGES = ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"] as const;

/**
 * Starts the `tensorflow` backend from an optional native package. Only a package configured
 * in deno.json's imports is imported (an ad-hoc `npm:` import would download at run time).
 *
 * @param packages Packages to try, in order.
 * @returns Which package runs and whether it computes on a GPU.
 */
async function tryTensorflow(
  packages: readonly string[] = TENSORFLOW_PACKAGES,
): Promise<{ pkg: string; gpu: boolean }> {
  const problems: string[] = [];
  for (const pkg of packages) {
    let url: string;
    try {
      url = import.meta.resolve(pkg);
    } catch {
      problems.push(`"${pkg}" is not in the import map`);
      continue;
    }
    try {
      await import(url);
    } catch (e) {
      problems.push(`"${pkg}" failed to load (${(e as Error).message.split("\n")[0]})`);
      continue;
    }
    if (!(await tf.setBackend("tensorflow"))) {
      throw new Error('tf.setBackend("tensorflow") returned false');
    }
    await tf.ready();
    const gpu = Boolean((tf.backend() as { isUsingGpuDevice?: boolean }).isUsingGpuDevice);
    return { pkg, gpu };
  }
  throw new Error(problems.join("; "));
}

/** One backend `auto` may pick, in order. */
export interface AutoCandidate {
  /** The backend it starts. */
  backend: "tensorflow" | "webgpu" | "wasm" | "cpu";
  /** Name in the reason, e.g. `tensorflow (GPU)`. */
  label: string;
  /** Starts the backend and describes it, or throws why it cannot run. */
  start: () => Promise<string>;
}

/**
 * What `auto` tries, in order: tfjs-node-gpu on a GPU; WebGPU on an adapter that is not a
 * software fallback; tfjs-node (or tfjs-node-gpu) on the CPU; wasm; the pure JS cpu backend.
 */
export function autoCandidates(): AutoCandidate[] {
  return [
    {
      backend: "tensorflow",
      label: "tensorflow (GPU)",
      start: async () => {
        const t = await tryTensorflow([TENSORFLOW_PACKAGES[0]]);
        if (!t.gpu) throw new Error(`"${t.pkg}" sees no GPU`);
        return `${t.pkg} on a GPU`;
      },
    },
    {
      backend: "webgpu",
      label: "webgpu",
      start: async () => {
        const probe = await probeWebGpu();
        if (!probe.ok) throw new Error(probe.description);
        if (probe.fallback) {
          throw new Error(`adapter "${probe.description}" is a software fallback`);
        }
        return `adapter ${await tryWebGpu()}`;
      },
    },
    {
      backend: "tensorflow",
      label: "tensorflow (CPU)",
      start: async () => `${(await tryTensorflow()).pkg} on the CPU`,
    },
    { backend: "wasm", label: "wasm", start: tryWasm },
    { backend: "cpu", label: "cpu", start: async () => (await tryCpu(), "pure JavaScript") },
  ];
}

/**
 * Starts the first candidate that runs; the reason names the one chosen and why each one
 * before it was passed over.
 *
 * @param candidates In order of preference.
 * @throws {BackendUnavailableError} When none starts.
 */
export async function pickAuto(candidates: AutoCandidate[]): Promise<BackendChoice> {
  const skipped: string[] = [];
  for (const c of candidates) {
    try {
      const what = await c.start();
      const why = skipped.length ? `${skipped.join("; ")}; ` : "";
      return { backend: c.backend, reason: `auto: ${why}using ${c.label}: ${what}` };
    } catch (e) {
      skipped.push(`${c.label} unavailable (${(e as Error).message.split("\n")[0]})`);
    }
  }
  throw new BackendUnavailableError("auto", `No backend could start: ${skipped.join("; ")}`);
}

/**
 * Selects and initialises a backend.
 *
 * `auto` tries, in order (see {@link autoCandidates}): tfjs-node-gpu on a GPU, WebGPU on a
 * hardware adapter, tfjs-node on the CPU, wasm, cpu; the reason says what it passed over.
 *
 * @param name The requested backend.
 * @returns The active backend and a reason.
 * @throws {BackendUnavailableError} When an explicitly requested backend cannot start.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { setupBackend } from "./backend.ts";
 *
 * assert.deepEqual(await setupBackend("cpu"), { backend: "cpu", reason: "requested" });
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
    case "wasm": {
      const desc = await tryWasm().catch(fail);
      return {
        backend: "wasm",
        reason: desc === "WebAssembly" ? "requested" : `requested; ${desc}`,
      };
    }
    case "webgpu": {
      const desc = await tryWebGpu().catch(fail);
      return { backend: "webgpu", reason: `requested; adapter ${desc}` };
    }
    case "tensorflow": {
      const t = await tryTensorflow().catch(fail);
      return {
        backend: "tensorflow",
        reason: `requested; ${t.pkg} on ${t.gpu ? "a GPU" : "the CPU"}`,
      };
    }
    case "auto":
      return await pickAuto(autoCandidates());
    default:
      throw new BackendUnavailableError(
        String(name),
        `Unknown backend "${String(name)}": expected one of ${
          BACKEND_NAMES.map((b) => `"${b}"`).join(", ")
        }`,
      );
  }
}

/**
 * The numeric set-up of a training run: beside the stage's key (its code, parameters and
 * inputs), what decides the bytes of the weights it makes. Float sums come out in another order
 * with another matrix product (OpenBLAS or the backend's own), another thread count or another
 * replica count, so two machines can train the same key to different weights; this record, in
 * the model's `config.json`, tells them apart.
 */
export interface NumericSetup {
  /** The TensorFlow.js backend (`wasm`, `cpu`, `webgpu`, `tensorflow`). */
  backend: string;
  /** The BLAS library that computed matrix products, or null for the backend's own. */
  blas: string | null;
  /** OpenBLAS's threads (null without OpenBLAS). */
  blas_threads: number | null;
  /** Data-parallel replicas (each its own thread). */
  replicas: number;
  /** TensorFlow.js's version. */
  tfjs: string;
  /** Deno's version. */
  deno: string;
  /** Operating system and processor, e.g. `linux-x86_64`. */
  platform: string;
}

/**
 * The numeric set-up of this process, after {@link setupBackend}.
 *
 * @param replicas The replicas training ran with.
 * @returns What to record with the model.
 */
export async function numericSetup(replicas: number): Promise<NumericSetup> {
  const backend = tf.getBackend();
  const blas = backend === "wasm" ? (await import("./_wasm_kernels.ts")).wasmBlas() : null;
  return {
    backend,
    blas: blas?.path ?? null,
    blas_threads: blas ? blas.threads() : null,
    replicas,
    tfjs: tf.version_core,
    deno: Deno.version.deno,
    platform: `${Deno.build.os}-${Deno.build.arch}`,
  };
}
