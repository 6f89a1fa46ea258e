/**
 * The WebAssembly SIMD kernels of kernels/simd.wat (built into `_simd_wasm.ts` by
 * `deno task kernels`), instantiated on the memory of the tfjs wasm backend so that they read
 * and write its tensors in place. Each gives the same bits as its JavaScript loop in
 * `_js_kernels.ts` (the cpu backend's path), several times faster.
 *
 * @module
 */
import { SIMD_WASM_BASE64 } from "./_simd_wasm.ts";

/** The kernels; pointers are byte offsets into the memory they were made for. */
export interface SimdKernels {
  /** `y[i] = gelu(x[i])` for `i < n`; `n` a multiple of 4. */
  gelu(x: number, y: number, n: number): void;
  /** GELU's values and slopes (Phi(x) + x phi(x)) for `i < n`; `n` a multiple of 4. */
  gelu_slope(x: number, y: number, slope: number, n: number): void;
  /**
   * `y = x + b` with `b` a row of `h` values added to each of `rows` rows (`h` a multiple of 4);
   * when `r` is not 0, `y = (x + b) + r`. In place when `y` is `x`.
   */
  add_bias(x: number, b: number, r: number, rows: number, h: number, y: number): void;
  /**
   * LayerNorm of `rows` rows of `h` values (`h` a multiple of 4); writes `xhat` and `rstd` when
   * `xhat` is not 0.
   */
  layer_norm(
    x: number,
    gamma: number,
    beta: number,
    rows: number,
    h: number,
    eps: number,
    y: number,
    xhat: number,
    rstd: number,
  ): void;
}

let compiled: WebAssembly.Module | null | undefined;
const instances = new WeakMap<WebAssembly.Memory, SimdKernels>();

/** The module, compiled once; null where this engine has no WebAssembly SIMD. */
function module(): WebAssembly.Module | null {
  if (compiled === undefined) {
    try {
      const bytes = Uint8Array.from(atob(SIMD_WASM_BASE64), (c) => c.charCodeAt(0));
      compiled = new WebAssembly.Module(bytes);
    } catch {
      compiled = null;
    }
  }
  return compiled;
}

/**
 * The kernels bound to `memory`, or null when they cannot run on it (no SIMD here, or a shared
 * memory, which the module does not import): the caller then runs the JavaScript loops.
 *
 * @param memory A WebAssembly memory, such as the tfjs wasm backend's heap.
 */
export function simdKernels(memory: WebAssembly.Memory): SimdKernels | null {
  const known = instances.get(memory);
  if (known) return known;
  const mod = module();
  if (!mod) return null;
  try {
    const kernels = new WebAssembly.Instance(mod, { env: { memory } })
      .exports as unknown as SimdKernels;
    instances.set(memory, kernels);
    return kernels;
  } catch {
    return null;
  }
}
