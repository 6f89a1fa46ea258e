/**
 * Headless Chromium driven over the DevTools protocol, for tests that use a page as a person
 * would: type into it, click, read the rendered DOM and take a screenshot. Chromium is found on
 * PATH (`chromium` or `chromium-browser`; `.ci/run` installs it best effort).
 *
 * @module
 */

/** How the tests start Chromium: headless, no sandbox (root in CI), no GPU, no scrollbars. */
export const HEADLESS_FLAGS: readonly string[] = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--hide-scrollbars",
  "--no-first-run",
];

/** The path of Chromium, or undefined when it is not installed. */
export function findChromium(): string | undefined {
  for (const name of ["chromium", "chromium-browser"]) {
    for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
      try {
        if (Deno.statSync(`${dir}/${name}`).isFile) return `${dir}/${name}`;
      } catch { /* not here */ }
    }
  }
  return undefined;
}

type Message = {
  id?: number;
  method?: string;
  sessionId?: string;
  result?: Record<string, unknown>;
  error?: { message: string };
  params?: Record<string, unknown>;
};

/** One tab of a headless Chromium. */
export class Tab {
  #socket: WebSocket;
  #session: string;
  #next = 1;
  #pending = new Map<
    number,
    { resolve: (r: Record<string, unknown>) => void; reject: (e: Error) => void }
  >();
  #events: { method: string; resolve: () => void }[] = [];

  private constructor(socket: WebSocket, session: string) {
    this.#socket = socket;
    this.#session = session;
  }

  /** Opens a blank tab of `size` CSS pixels (device scale 1) in the browser at `socket`. */
  static async open(socket: WebSocket, size: { width: number; height: number }): Promise<Tab> {
    const tab = new Tab(socket, "");
    socket.onmessage = (event) => tab.#receive(JSON.parse(event.data as string));
    const { targetId } = await tab.send("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await tab.send("Target.attachToTarget", { targetId, flatten: true });
    tab.#session = sessionId as string;
    await tab.send("Page.enable");
    await tab.send("Emulation.setDeviceMetricsOverride", {
      ...size,
      deviceScaleFactor: 1,
      mobile: false,
    });
    return tab;
  }

  #receive(message: Message): void {
    if (message.id !== undefined) {
      const pending = this.#pending.get(message.id);
      this.#pending.delete(message.id);
      if (message.error) pending?.reject(new Error(message.error.message));
      else pending?.resolve(message.result ?? {});
    } else if (message.method) {
      const waiting = this.#events.filter((e) => e.method === message.method);
      this.#events = this.#events.filter((e) => e.method !== message.method);
      for (const w of waiting) w.resolve();
    }
  }

  /** Sends a command of the protocol and gives its result. */
  send(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const id = this.#next++;
    const message = { id, method, params, ...(this.#session ? { sessionId: this.#session } : {}) };
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#socket.send(JSON.stringify(message));
    });
  }

  /** Navigates and waits for the page's load event. */
  async goto(url: string): Promise<void> {
    const loaded = new Promise<void>((resolve) =>
      this.#events.push({ method: "Page.loadEventFired", resolve })
    );
    await this.send("Page.navigate", { url });
    await loaded;
  }

  /** Evaluates an expression in the page and gives its value (JSON-serialisable). */
  async evaluate<T>(expression: string): Promise<T> {
    const { result, exceptionDetails } = await this.send("Runtime.evaluate", {
      expression,
      returnByValue: true,
      awaitPromise: true,
    }) as { result: { value: T }; exceptionDetails?: { text: string } };
    if (exceptionDetails) throw new Error(`${expression}: ${JSON.stringify(exceptionDetails)}`);
    return result.value;
  }

  /** Waits until an expression is true in the page, or throws after `ms`. */
  async waitFor(expression: string, ms = 20_000): Promise<void> {
    const until = Date.now() + ms;
    while (!(await this.evaluate<boolean>(`Boolean(${expression})`))) {
      if (Date.now() > until) throw new Error(`Waited ${ms} ms for ${expression}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Clicks the middle of the element a CSS selector finds, as a mouse would. */
  async click(selector: string): Promise<void> {
    const { x, y } = await this.evaluate<{ x: number; y: number }>(
      `(() => { const r = document.querySelector(${
        JSON.stringify(selector)
      }).getBoundingClientRect();
        return { x: r.x + r.width / 2, y: r.y + r.height / 2 }; })()`,
    );
    for (const type of ["mousePressed", "mouseReleased"]) {
      await this.send("Input.dispatchMouseEvent", { type, x, y, button: "left", clickCount: 1 });
    }
  }

  /** Types text into the focused element, as a keyboard (or an input method) would. */
  async type(text: string): Promise<void> {
    await this.send("Input.insertText", { text });
  }

  /** A PNG of the viewport. */
  async screenshot(): Promise<Uint8Array> {
    const { data } = await this.send("Page.captureScreenshot", { format: "png" });
    return Uint8Array.from(atob(data as string), (c) => c.charCodeAt(0));
  }
}

/** A headless Chromium with a fresh profile. */
export class Browser {
  readonly #child: Deno.ChildProcess;
  readonly #profile: string;
  readonly #socket: WebSocket;

  private constructor(child: Deno.ChildProcess, profile: string, socket: WebSocket) {
    this.#child = child;
    this.#profile = profile;
    this.#socket = socket;
  }

  /**
   * Starts Chromium (`--no-sandbox`: tests may run as root, in containers) with the DevTools
   * protocol on a free loopback port, and connects to it.
   */
  static async launch(chromium: string): Promise<Browser> {
    const profile = await Deno.makeTempDir({ prefix: "serve-chromium-" });
    const child = new Deno.Command(chromium, {
      args: [
        ...HEADLESS_FLAGS,
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
        `--user-data-dir=${profile}`,
        "about:blank",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    let url: string | undefined;
    const timeout = setTimeout(() => child.kill(), 30_000);
    while (url === undefined) {
      const { done, value } = await reader.read();
      if (done) throw new Error(`Chromium exited before listening:\n${text}`);
      text += value;
      url = /DevTools listening on (ws:\/\/\S+)/.exec(text)?.[1];
    }
    clearTimeout(timeout);
    (async () => {
      while (!(await reader.read()).done) { /* drop the rest */ }
    })();
    const socket = new WebSocket(url);
    await new Promise((resolve, reject) => {
      socket.onopen = resolve;
      socket.onerror = reject;
    });
    return new Browser(child, profile, socket);
  }

  /** Opens a tab of the given size in CSS pixels. */
  tab(size = { width: 1100, height: 900 }): Promise<Tab> {
    return Tab.open(this.#socket, size);
  }

  /** Stops Chromium and removes its profile. */
  async close(): Promise<void> {
    this.#socket.close();
    try {
      this.#child.kill();
    } catch { /* gone */ }
    await this.#child.status;
    await Deno.remove(this.#profile, { recursive: true }).catch(() => {});
  }
}
