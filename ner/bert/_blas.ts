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
  if (s !== undefined && s !== "" && isBlasOff(s)) {
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
  return parseBlasThreads(env("NERPIPE_BLAS_THREADS")) ?? 1;
}

/** Most OpenBLAS threads `NERPIPE_BLAS_THREADS` may ask for. */
export const MAX_BLAS_THREADS = 1024;

/**
 * `NERPIPE_BLAS_THREADS` as a thread count: an integer from 1 to {@link MAX_BLAS_THREADS}
 * written in digits, or undefined for anything else (unset included).
 */
export function parseBlasThreads(value: string | undefined): number | undefined {
  const text = value?.trim() ?? "";
  if (!/^[0-9]+$/.test(text)) return undefined;
  const n = Number(text);
  return n >= 1 && n <= MAX_BLAS_THREADS ? n : undefined;
}

/** Whether a `NERPIPE_BLAS` value turns OpenBLAS off. */
function isBlasOff(value: string): boolean {
  return ["0", "off", "false", "no"].includes(value.trim().toLowerCase());
}

/**
 * Whether {@link openBlas} can use a (set, not empty) `NERPIPE_BLAS` value: a word that turns it
 * off, a path (with a `/`) of an existing file, or a library file name that the system's loader
 * looks up (`libopenblas.so.0`); a reason otherwise. Any other word (`1`, `on`) was taken for a
 * library name, failed to open, and left OpenBLAS off without a word.
 */
export function checkBlasSetting(value: string): true | false | string {
  const s = value.trim();
  if (isBlasOff(s)) return true;
  if (s.includes("/")) {
    try {
      return Deno.statSync(s).isFile || "is not a file";
    } catch (error) {
      return error instanceof Deno.errors.NotFound ? "is a path where there is no file" : true;
    }
  }
  return /\.(so|dylib|dll)(\.[0-9]+)*$/.test(s);
}

/** The environment variables this module reads, as a program checks them when it starts. */
export const BLAS_ENV_VARS = [
  {
    name: "NERPIPE_BLAS",
    allowed: "0 (or off, false, no) to leave OpenBLAS off, the path of a BLAS library, or a " +
      "library file name the system finds (libopenblas.so.0); unset: look for OpenBLAS",
    check: checkBlasSetting,
  },
  {
    name: "NERPIPE_BLAS_THREADS",
    allowed: `an integer from 1 to ${MAX_BLAS_THREADS} (OpenBLAS threads; unset: 1)`,
    check: (value: string) => parseBlasThreads(value) !== undefined,
  },
] as const;

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
