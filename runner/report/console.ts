/**
 * The reporter of the command line: a line per stage, stage logs, and progress (a bar on a
 * TTY, periodic lines otherwise), all on stderr (stdout is left to `--json`).
 *
 * @module
 */

import type { Reporter } from "../report.ts";

const encoder = new TextEncoder();

/**
 * A reporter writing to stderr.
 *
 * @param options `tty` draws bars in place; `quiet` drops stage logs and progress.
 */
export function consoleReporter(
  options: { tty?: boolean; quiet?: boolean; interval?: number } = {},
): Reporter {
  const tty = options.tty ?? Deno.stderr.isTerminal();
  const interval = options.interval ?? 10_000;
  let barShown = false;
  const write = (text: string) => Deno.stderr.writeSync(encoder.encode(text));
  const clearBar = () => {
    if (barShown) {
      write("\r\x1b[2K");
      barShown = false;
    }
  };
  const lastPrinted = new Map<string, number>();
  return {
    line(text) {
      clearBar();
      write(`${text}\n`);
    },
    logger(id) {
      const emit = (prefix: string) => (message: string) => {
        if (options.quiet && prefix === "") return;
        clearBar();
        write(`  [${id}] ${prefix}${message}\n`);
      };
      return { info: emit(""), warn: emit("warning: ") };
    },
    progress(id) {
      let lastDraw = 0;
      return {
        update(current, total, message = "") {
          if (options.quiet) return;
          const now = performance.now();
          const finished = current >= total;
          if (tty) {
            if (now - lastDraw < 100 && !finished) return;
            lastDraw = now;
            const width = 24;
            const fill = total > 0 ? Math.round((width * Math.min(current, total)) / total) : 0;
            const bar = "█".repeat(fill) + "░".repeat(width - fill);
            const pct = total > 0 ? Math.floor((100 * current) / total) : 0;
            const cols = Deno.consoleSize?.().columns ?? 100;
            const text = `  [${id}] ${bar} ${pct}% ${current}/${total} ${message}`;
            write(`\r\x1b[2K${text.slice(0, cols - 1)}`);
            barShown = true;
          } else {
            const last = lastPrinted.get(id) ?? -Infinity;
            if (now - last < interval && !finished) return;
            lastPrinted.set(id, now);
            write(`  [${id}] ${current}/${total} ${message}\n`);
          }
        },
      };
    },
    done() {
      clearBar();
    },
  };
}
