/**
 * Optional OpenBLAS matrix products through Deno FFI.
 *
 * The wasm backend's own matrix product runs at about 20 GFLOP/s on one
 * thread; OpenBLAS's `cblas_sgemm` on the same heap buffers runs several
 * times faster. The library is optional: {@link loadBlas} returns null (and
 * {@link blasStatus} says why) when FFI permission is missing, when
 * `NERPIPE_BLAS=0`, or when no candidate library opens. Nothing here throws
 * at import.
 *
 * - `NERPIPE_BLAS=0` (or `off`, `false`): never load it.
 * - `NERPIPE_BLAS=/path/to/libopenblas.so`: load that file only.
 * - `NERPIPE_BLAS_THREADS=N`: OpenBLAS threads (default 1: training runs one replica per
 *   core instead).
 *
 * @module
 */

/** `C = alpha op(A) op(B) + beta C`, row-major, on float32 views. */
export type Sgemm = (
  transA: boolean,
  transB: boolean,
  m: number,
  n: number,
  k: number,
  alpha: number,
  a: Float32Array,
  lda: number,
  b: Float32Array,
  ldb: number,
  beta: number,
  c: Float32Array,
  ldc: number,
) => void;

/** An opened BLAS library. */
export interface Blas {
  /** The file (or library name) that was opened. */
  path: string;
  sgemm: Sgemm;
  /** Sets OpenBLAS's thread count (process-wide); a no-op where unsupported. */
  setThreads(n: number): void;
  /** OpenBLAS's thread count, or 1 where unknown. */
  threads(): number;
}

const ROW_MAJOR = 101;
const NO_TRANS = 111;
const TRANS = 112;

/** Library names and paths tried in order when `NERPIPE_BLAS` names none. */
export const BLAS_CANDIDATES: readonly string[] = [
  "libopenblas.so.0",
  "libopenblas.so",
  "/usr/lib/x86_64-linux-gnu/libopenblas.so.0",
  "/usr/lib/aarch64-linux-gnu/libopenblas.so.0",
  "/usr/lib64/libopenblas.so.0",
  "/usr/lib/libopenblas.so.0",
  "/usr/local/lib/libopenblas.so.0",
  "/opt/homebrew/opt/openblas/lib/libopenblas.dylib",
  "/usr/local/opt/openblas/lib/libopenblas.dylib",
  "libopenblas.dylib",
  "libopenblas.dll",
];

const SYMBOLS = {
  cblas_sgemm: {
    parameters: [
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "f32",
      "buffer",
      "i32",
      "buffer",
      "i32",
      "f32",
      "buffer",
      "i32",
    ],
    result: "void",
  },
} as const;

const THREAD_SYMBOLS = {
  openblas_set_num_threads: { parameters: ["i32"], result: "void" },
  openblas_get_num_threads: { parameters: [], result: "i32" },
} as const;

function granted(desc: Deno.PermissionDescriptor): boolean {
  try {
    return Deno.permissions.querySync(desc).state === "granted";
  } catch {
    return false;
  }
}

function env(name: string): string | undefined {
  if (!granted({ name: "env", variable: name })) return undefined;
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split("\n")[0] ?? "";
}

/**
 * Opens a BLAS library without caching.
 *
 * @param setting The value of `NERPIPE_BLAS`: unset to try {@link BLAS_CANDIDATES}, `0` to
 *   disable, or a path.
 * @returns The library, or null and the reason it is unavailable.
 */
export function openBlas(setting?: string): { blas: Blas | null; reason: string } {
  const s = setting?.trim();
  if (s !== undefined && s !== "" && ["0", "off", "false", "no"].includes(s.toLowerCase())) {
    return { blas: null, reason: `disabled by NERPIPE_BLAS=${s}` };
  }
  if (typeof Deno === "undefined" || typeof Deno.dlopen !== "function") {
    return { blas: null, reason: "Deno.dlopen is unavailable" };
  }
  if (!granted({ name: "ffi" })) return { blas: null, reason: "no FFI permission (--allow-ffi)" };
  try {
    // Read by OpenBLAS when it loads: with 1 it starts no thread pool at all.
    if (!Deno.env.get("OPENBLAS_NUM_THREADS")) {
      Deno.env.set("OPENBLAS_NUM_THREADS", String(blasThreads()));
    }
  } catch {
    // No env permission: the thread count is still set through openblas_set_num_threads.
  }
  const candidates = s ? [s] : BLAS_CANDIDATES;
  const problems: string[] = [];
  for (const path of candidates) {
    let lib: Deno.DynamicLibrary<typeof SYMBOLS>;
    try {
      lib = Deno.dlopen(path, SYMBOLS);
    } catch (e) {
      problems.push(`${path}: ${firstLine(e)}`);
      continue;
    }
    let threads: Deno.DynamicLibrary<typeof THREAD_SYMBOLS> | null = null;
    try {
      threads = Deno.dlopen(path, THREAD_SYMBOLS);
    } catch {
      // A BLAS without OpenBLAS's thread controls (e.g. reference BLAS): single-threaded calls.
    }
    const f = lib.symbols.cblas_sgemm;
    const sgemm: Sgemm = (transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) =>
      f(
        ROW_MAJOR,
        transA ? TRANS : NO_TRANS,
        transB ? TRANS : NO_TRANS,
        m,
        n,
        k,
        alpha,
        a,
        lda,
        b,
        ldb,
        beta,
        c,
        ldc,
      );
    return {
      blas: {
        path,
        sgemm,
        setThreads: (n) => threads?.symbols.openblas_set_num_threads(Math.max(1, n | 0)),
        threads: () => threads?.symbols.openblas_get_num_threads() ?? 1,
      },
      reason: `using ${path}`,
    };
  }
  return { blas: null, reason: `no BLAS library found (${problems.join("; ")})` };
}

let cached: { blas: Blas | null; reason: string } | null = null;

/**
 * OpenBLAS threads: `NERPIPE_BLAS_THREADS`, else 1. Training parallelises with replicas (one
 * thread each). Threads are fixed before the library loads and never changed: OpenBLAS's
 * thread pool, resized while replicas call it from other threads or torn down at exit, was
 * seen to corrupt the heap ("corrupted size vs. prev_size") about one run in three.
 */
function blasThreads(): number {
  const t = Number(env("NERPIPE_BLAS_THREADS"));
  return Number.isInteger(t) && t >= 1 ? t : 1;
}

/**
 * The process's BLAS library, opened once per thread (worker), following `NERPIPE_BLAS`.
 *
 * @returns The library, or null when unavailable (see {@link blasStatus}).
 */
export function loadBlas(): Blas | null {
  if (!cached) {
    try {
      cached = openBlas(env("NERPIPE_BLAS"));
    } catch (e) {
      cached = { blas: null, reason: `failed to open: ${firstLine(e)}` };
    }
    cached.blas?.setThreads(blasThreads());
  }
  return cached.blas;
}

/** Why {@link loadBlas} returned what it did. */
export function blasStatus(): string {
  loadBlas();
  return cached!.reason;
}
