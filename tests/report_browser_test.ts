/**
 * The run report in a real browser: headless Chromium renders a report with every NER section
 * to PNG, and the test counts the pixels of each chart series' colour, so that a chart that
 * did not draw fails. Runs where `chromium` (or `chromium-browser`) is on PATH; `.ci/run`
 * installs it best effort.
 */
import assert from "node:assert/strict";
import { deflateSync } from "node:zlib";
import { PALETTE } from "../runner/html_report.ts";
import { renderReport } from "../runner/report/page.ts";
import { renderSweepReport } from "../runner/report/sweep.ts";
import { SERIES_COLORS, trainSections, validateSections } from "../stages/_report.ts";
import { findChromium, HEADLESS_FLAGS } from "./_cdp.ts";
import { countColour, decodePng } from "./_png.ts";
import { fakeAnalysis, fakeMetrics, fakeTrainingLog } from "./_report_fixtures.ts";

const CHROMIUM = findChromium();
if (!CHROMIUM) console.log("report_browser_test: no chromium on PATH, the browser test is skipped");

/**
 * Renders a page with headless Chromium to a PNG. `--no-sandbox` because tests may run as root
 * (in containers); a fresh profile directory so that nothing of the user's is read or written.
 */
export async function screenshot(
  chromium: string,
  page: string,
  png: string,
  size = "1280,4000",
): Promise<void> {
  const profile = await Deno.makeTempDir({ prefix: "report-chromium-" });
  try {
    const out = await new Deno.Command(chromium, {
      args: [
        ...HEADLESS_FLAGS,
        `--user-data-dir=${profile}`,
        `--screenshot=${png}`,
        `--window-size=${size}`,
        `file://${page}`,
      ],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(60_000),
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  } finally {
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  }
}

Deno.test({
  name: "headless Chromium draws every chart of the report",
  ignore: !CHROMIUM,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "report-browser-" });
    await Deno.writeTextFile(`${dir}/log.jsonl`, fakeTrainingLog(120, 4));
    await Deno.writeTextFile(`${dir}/metrics.json`, fakeMetrics());
    await Deno.writeTextFile(`${dir}/analysis.json`, fakeAnalysis());
    const base = { root: dir, params: { max_grad_norm: 1 } };
    const page = renderReport({
      pipeline: "browser",
      file: "pipelines/browser.yaml",
      when: new Date(),
      stages: [{ id: "train", kind: "train", status: "ran", seconds: 60, key: "0".repeat(64) }],
      params: { train: { epochs: 4 } },
      sections: [
        {
          stage: "train",
          sections: await trainSections({
            ...base,
            id: "train",
            outputs: { log: `${dir}/log.jsonl` },
          }),
        },
        {
          stage: "validate",
          sections: await validateSections({
            ...base,
            id: "validate",
            outputs: { metrics: `${dir}/metrics.json`, analysis: `${dir}/analysis.json` },
          }),
        },
      ],
    });
    await Deno.writeTextFile(`${dir}/report.html`, page);
    await screenshot(CHROMIUM!, `${dir}/report.html`, `${dir}/report.png`, "1280,2400");
    const image = decodePng(await Deno.readFile(`${dir}/report.png`));
    assert.equal(image.width, 1280);
    // Not blank: many pixels differ from the page's background.
    let ink = 0;
    for (let i = 0; i < image.rgba.length; i += 4) {
      if (image.rgba[i]! < 200 || image.rgba[i + 1]! < 200 || image.rgba[i + 2]! < 200) ink++;
    }
    assert.ok(ink > 20_000, `only ${ink} dark pixels: the page looks blank`);
    // Each series drew a line: far more pixels of its colour than its legend swatch (14 × 3).
    const counts = Object.fromEntries(
      Object.entries(SERIES_COLORS).map(([name, hex]) => [name, countColour(image, hex, 24)]),
    );
    for (const [name, n] of Object.entries(counts)) {
      assert.ok(
        n >= 150,
        `series ${name} (${
          SERIES_COLORS[name as keyof typeof SERIES_COLORS]
        }): only ${n} pixels; all: ${JSON.stringify(counts)}`,
      );
    }
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name: "headless Chromium draws a sweep's overlaid charts, a line in each variant's colour",
  ignore: !CHROMIUM,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "sweep-browser-" });
    const variants = [];
    for (const [i, epochs] of [3, 4].entries()) {
      // The second variant's figures scaled, so that its lines do not hide the first's.
      const log = fakeTrainingLog(30 * epochs, epochs).trim().split("\n").map((line) =>
        JSON.stringify(
          JSON.parse(
            line,
            (k, v) => typeof v === "number" && !/step|epoch/.test(k) ? v * (1 + i) : v,
          ),
        )
      );
      await Deno.writeTextFile(`${dir}/log${i}.jsonl`, log.join("\n"));
      variants.push({
        label: `epochs=${epochs}`,
        href: `epochs%3D${epochs}/report.html`,
        summary: { pipeline: "browser", stages: [] },
        seconds: 1,
        sections: [{
          stage: "train",
          sections: await trainSections({
            root: dir,
            params: {},
            id: "train",
            outputs: { log: `${dir}/log${i}.jsonl` },
          }),
        }],
      });
    }
    const page = renderSweepReport({
      pipeline: "browser",
      file: "pipelines/browser.yaml",
      when: new Date(),
      variants,
    });
    await Deno.writeTextFile(`${dir}/sweep.html`, page);
    await screenshot(CHROMIUM!, `${dir}/sweep.html`, `${dir}/sweep.png`, "1280,3000");
    const image = decodePng(await Deno.readFile(`${dir}/sweep.png`));
    // 12 overlays (4 per-step charts, 2 of them of 2 series; 2 losses and 5 scores per epoch),
    // each with a line of either variant: far more pixels of each colour than its swatches.
    for (const colour of [PALETTE[0], PALETTE[1]]) {
      const n = countColour(image, colour, 24);
      assert.ok(n >= 3000, `variant colour ${colour}: only ${n} pixels`);
    }
    await Deno.remove(dir, { recursive: true });
  },
});

/** Encodes RGB rows as a PNG, row `y` with filter `y % 5`: what decodePng must undo. */
function encodePng(width: number, rows: number[][]): Uint8Array {
  const stride = width * 3;
  const raw: number[] = [];
  rows.forEach((row, y) => {
    const filter = y % 5;
    const up = y > 0 ? rows[y - 1]! : new Array<number>(stride).fill(0);
    raw.push(filter);
    for (let i = 0; i < stride; i++) {
      const a = i >= 3 ? row[i - 3]! : 0;
      const b = up[i]!;
      const c = i >= 3 ? up[i - 3]! : 0;
      const p = a + b - c;
      const paeth = Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c)
        ? a
        : Math.abs(p - b) <= Math.abs(p - c)
        ? b
        : c;
      const predicted = [0, a, b, (a + b) >> 1, paeth][filter]!;
      raw.push((row[i]! - predicted + 256) & 0xff);
    }
  });
  const chunk = (type: string, body: Uint8Array) => {
    const out = new Uint8Array(12 + body.length);
    const view = new DataView(out.buffer);
    view.setUint32(0, body.length);
    out.set([...type].map((c) => c.charCodeAt(0)), 4);
    out.set(body, 8);
    return out; // decodePng does not check CRCs
  };
  const ihdr = new Uint8Array(13);
  new DataView(ihdr.buffer).setUint32(0, width);
  new DataView(ihdr.buffer).setUint32(4, rows.length);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const parts = [
    new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk("IHDR", ihdr),
    chunk("IDAT", new Uint8Array(deflateSync(new Uint8Array(raw)))),
    chunk("IEND", new Uint8Array()),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, at), at += p.length;
  return out;
}

Deno.test("decodePng undoes every row filter (None, Sub, Up, Average, Paeth)", () => {
  const width = 4;
  const rows = Array.from(
    { length: 10 },
    (_, y) =>
      Array.from({ length: width * 3 }, (_, i) => (y * 37 + i * 91 + ((y * i) % 7) * 13) % 256),
  );
  const image = decodePng(encodePng(width, rows));
  assert.equal(image.width, width);
  assert.equal(image.height, 10);
  rows.forEach((row, y) => {
    for (let x = 0; x < width; x++) {
      const px = [...image.rgba.subarray((y * width + x) * 4, (y * width + x) * 4 + 4)];
      assert.deepEqual(px, [...row.slice(x * 3, x * 3 + 3), 255], `pixel ${x},${y}`);
    }
  });
  const first = `#${rows[0]!.slice(0, 3).map((v) => v.toString(16).padStart(2, "0")).join("")}`;
  assert.equal(countColour(image, first, 0), 1);
});
