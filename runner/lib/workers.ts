/**
 * Waiting for Web Workers' threads before the process exits.
 *
 * @module
 */

/**
 * Resolves once no Web Worker thread is left in this process, or after `timeoutMs`: a process
 * that exits while a terminated worker is still tearing down can crash, and Deno does not wait
 * for it. With serve's two model workers, about 1 exit in 60 ended in a segmentation fault (exit
 * code 139) when three servers stopped and started at once; after a 200 ms wait, none did in 600.
 * Deno names those threads `worker-N` and they are read from /proc/self/task, which Deno lets a
 * program read on Linux with every permission (`-A`) only; otherwise it waits `fallbackMs`.
 *
 * @param timeoutMs The longest wait when the threads can be listed.
 * @param fallbackMs The wait when they cannot.
 */
export async function workerThreadsEnded(timeoutMs = 2000, fallbackMs = 200): Promise<void> {
  const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
  if (workerThreads() === null) return sleep(fallbackMs);
  const end = performance.now() + timeoutMs;
  while (workerThreads()! > 0 && performance.now() < end) await sleep(5);
}

/**
 * How many Web Worker threads (`worker-N`) this process has, from /proc/self/task; null where they
 * cannot be listed: not Linux, or not every permission granted (asked without prompting: Deno
 * refuses a narrower one the read, or prompts for it).
 */
export function workerThreads(): number | null {
  const names = ["read", "write", "net", "env", "run", "ffi", "sys"] as const;
  if (!names.every((name) => Deno.permissions.querySync({ name }).state === "granted")) return null;
  try {
    let n = 0;
    for (const t of Deno.readDirSync("/proc/self/task")) {
      try {
        if (Deno.readTextFileSync(`/proc/self/task/${t.name}/comm`).startsWith("worker-")) n++;
      } catch {
        // The thread ended while it was listed.
      }
    }
    return n;
  } catch {
    return null;
  }
}
