/**
 * The remote cache of a run, loaded on first use: a run whose stages the local cache answers
 * neither imports the remote's client nor contacts it.
 *
 * @module
 */

import type { Reporter } from "../report.ts";
import type { RemoteCache } from "./remote_cache.ts";
import type { RemoteOptions } from "./schemes.ts";

/**
 * A remote loaded on first use. `get()` imports the client, once; it gives undefined when there
 * is no remote, when neither pulling nor pushing is on for `use`, or when the remote failed
 * earlier in the run (it warned once then).
 */
export class LazyRemote {
  readonly url: string | undefined;
  readonly options: RemoteOptions;
  #reporter: Reporter;
  #loaded: Promise<RemoteCache> | undefined;

  /**
   * @param url The remote (see `remoteUrl` in schemes.ts), or undefined for none.
   * @param options What to do with it.
   * @param reporter Where its single warning goes.
   */
  constructor(url: string | undefined, options: RemoteOptions, reporter: Reporter) {
    this.url = url;
    this.options = options;
    this.#reporter = reporter;
  }

  /** The client, when the remote is to be used for `use`. */
  async get(use: "pull" | "push"): Promise<RemoteCache | undefined> {
    if (this.url === undefined) return undefined;
    if (use === "pull" ? this.options.pull === false : this.options.push === false) {
      return undefined;
    }
    // By URL: a literal specifier would have Deno read the client's modules at start-up.
    this.#loaded ??= (import(
      new URL("./remote_cache.ts", import.meta.url).href
    ) as Promise<typeof import("./remote_cache.ts")>).then((m) =>
      m.openRemote(this.url!, {
        require: this.options.require ?? false,
        env: this.options.env ?? ((name: string) => Deno.env.get(name)),
        warn: (text) => this.#reporter.line(text),
      })
    );
    const remote = await this.#loaded;
    return remote.usable ? remote : undefined;
  }
}
