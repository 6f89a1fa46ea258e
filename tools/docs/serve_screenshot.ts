/**
 * Makes docs/serve.png: starts `deno task serve` on a model, opens its page in headless
 * Chromium, types a text, clicks "Find entities" and saves the viewport.
 *
 *     deno run -A tools/docs/serve_screenshot.ts pipelines/ner.yaml docs/serve.png \
 *       "$(printf '이서연은 오후 3시에 서울역에서 카카오 직원 두 명을 만났다.\nLeo Smith flew to Lagos on Monday.')"
 *
 * (the model of pipelines/ner.yaml as shipped, after `deno task run pipelines/ner.yaml`).
 *
 * @module
 */

import { Browser, findChromium } from "../../tests/_cdp.ts";
import { startServe } from "../../tests/_serve.ts";

const [target, out, text, width = "1000", height = "600"] = Deno.args;
if (!target || !out || !text) {
  console.error("usage: serve_screenshot.ts <model dir | pipeline.yaml> <out.png> <text> [W H]");
  Deno.exit(2);
}
const chromium = findChromium();
if (!chromium) {
  console.error("error: no chromium on PATH: apt-get install chromium");
  Deno.exit(2);
}
// The task runs in the checkout: a relative path is read from there.
const served = await startServe([target]);
const browser = await Browser.launch(chromium);
try {
  const tab = await browser.tab({ width: Number(width), height: Number(height) });
  await tab.goto(served.url);
  await tab.waitFor(`document.getElementById("model").textContent.includes("·")`);
  await tab.evaluate(`document.getElementById("text").focus()`);
  await tab.type(text);
  await tab.click("#submit");
  await tab.waitFor(`document.body.dataset.done === "1"`);
  await Deno.writeFile(out, await tab.screenshot());
} finally {
  await browser.close();
  await served.stop();
}
