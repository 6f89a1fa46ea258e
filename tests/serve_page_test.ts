/**
 * `serve`'s page in a real browser (issue 26): headless Chromium opens it from a running
 * `deno task serve`, a Korean sentence is typed in and submitted with a click, and the test
 * reads the rendered DOM (each entity highlighted in place with its type, one colour per type,
 * its score on hover, the table) and the screenshot (each highlight drawn where the DOM says, in
 * its colour). Skipped, saying so, where Chromium is not installed.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Browser, findChromium } from "./_cdp.ts";
import { countColour, decodePng, type Image } from "./_png.ts";
import { startServe } from "./_serve.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const CHROMIUM = findChromium();
if (!CHROMIUM) {
  console.log("serve_page_test: no chromium on PATH, the page's browser test is skipped");
}

const SENTENCE = "김민준은 3월 5일 부산에서 삼성전자 사람들을 만났다.";

interface Mark {
  text: string;
  label: string;
  start: number;
  end: number;
  score: number;
  title: string;
  colour: string;
  rect: { x: number; y: number; width: number; height: number };
}

/** `rgb(170, 156, 252)` as `#aa9cfc`. */
function hex(css: string): string {
  const [r, g, b] = css.match(/\d+/g)!.map(Number);
  return "#" + [r, g, b].map((v) => v!.toString(16).padStart(2, "0")).join("");
}

/** Pixels of a colour (within 12 per channel) inside a rectangle of the image. */
function colourIn(image: Image, colour: string, rect: Mark["rect"]): number {
  const rows: Uint8Array[] = [];
  for (let y = Math.ceil(rect.y); y < Math.floor(rect.y + rect.height); y++) {
    const from = (y * image.width + Math.ceil(rect.x)) * 4;
    rows.push(image.rgba.subarray(from, (y * image.width + Math.floor(rect.x + rect.width)) * 4));
  }
  return rows.reduce(
    (n, row) => n + countColour({ width: 0, height: 0, rgba: row }, colour, 12),
    0,
  );
}

Deno.test({
  name:
    "serve: headless Chromium shows a Korean sentence's entities highlighted in place, one colour per type, as the API gives them",
  ignore: !CHROMIUM,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const served = await startServe([`${ROOT}tests/testdata/sample_tiny`]);
    const browser = await Browser.launch(CHROMIUM!);
    try {
      const tab = await browser.tab({ width: 1100, height: 900 });
      await tab.goto(served.url);
      await tab.waitFor(`document.getElementById("model").textContent.includes("wasm") ||
        document.getElementById("model").textContent.includes("cpu")`);
      await tab.evaluate(`document.getElementById("text").focus()`);
      await tab.type(SENTENCE);
      await tab.click("#submit");
      await tab.waitFor(`document.body.dataset.done === "1"`);

      // What the API answers for the same text.
      const api = await (await fetch(new URL("predict", served.url), {
        method: "POST",
        body: JSON.stringify({ inputs: SENTENCE }),
      })).json() as {
        entity_group: string;
        word: string;
        start: number;
        end: number;
        score: number;
      }[];
      assert.deepEqual(api.map((e) => e.entity_group), ["PS", "DT", "LC", "OG"]);

      const marks = await tab.evaluate<Mark[]>(
        `[...document.querySelectorAll("#marked mark.entity")].map((m) => ({
        text: m.firstChild.textContent, label: m.querySelector(".label").textContent,
        start: Number(m.dataset.start), end: Number(m.dataset.end), score: Number(m.dataset.score),
        title: m.title, colour: getComputedStyle(m).backgroundColor,
        rect: (({ x, y, width, height }) => ({ x, y, width, height }))(m.getBoundingClientRect()),
      }))`,
      );
      assert.deepEqual(
        marks.map((m) => [m.text, m.label, m.start, m.end]),
        api.map((e) => [e.word, e.entity_group, e.start, e.end]),
      );
      // In place: the text around and inside the marks is the sentence, in order.
      const shown = await tab.evaluate<string>(`(() => {
        const copy = document.getElementById("marked").cloneNode(true);
        copy.querySelectorAll(".label").forEach((l) => l.remove());
        return copy.textContent; })()`);
      assert.equal(shown, SENTENCE);
      // The score on hover, one colour per type.
      marks.forEach((m, i) => {
        assert.match(
          m.title,
          new RegExp(`^${m.label} \\(.*\\): score ${api[i]!.score.toFixed(3)}$`),
        );
        assert.equal(m.score, api[i]!.score);
      });
      const colours = new Map(marks.map((m) => [m.label, hex(m.colour)]));
      assert.equal(new Set(colours.values()).size, colours.size, JSON.stringify([...colours]));
      // The table: one row per entity.
      const rows = await tab.evaluate<string[][]>(`[...document.querySelectorAll("#entities tr")]
        .map((r) => [...r.cells].map((c) => c.textContent))`);
      assert.deepEqual(
        rows,
        api.map((
          e,
        ) => [e.word, e.entity_group, String(e.start), String(e.end), e.score.toFixed(3)]),
      );

      // The screenshot: not blank, and each highlight drawn where the DOM puts it, in its colour.
      const image = decodePng(await tab.screenshot());
      assert.equal(image.width, 1100);
      let ink = 0;
      for (let i = 0; i < image.rgba.length; i += 4) {
        if (image.rgba[i]! < 160 && image.rgba[i + 1]! < 160 && image.rgba[i + 2]! < 160) ink++;
      }
      assert.ok(ink > 3_000, `only ${ink} dark pixels: the page looks blank`);
      for (const m of marks) {
        const area = m.rect.width * m.rect.height;
        const n = colourIn(image, hex(m.colour), m.rect);
        assert.ok(
          n > area * 0.4,
          `${m.text} (${m.label}): ${n} of ${area} pixels in ${hex(m.colour)}`,
        );
      }
    } finally {
      await browser.close();
      assert.equal((await served.stop()).code, 0);
    }
  },
});
