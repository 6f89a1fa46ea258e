import assert from "node:assert/strict";

const ROOT = new URL("..", import.meta.url).pathname;
const linux = Deno.build.os === "linux";

// transformers.js's Node build loads sharp (libvips) and onnxruntime when it is imported: two
// native runtimes with their own threads and exit-time destructors, and about 0.4 s of loading,
// for a tokenizer that needs neither. We use its tokenizer library on its own; nothing we import
// may map them again.
Deno.test({
  name: "tokenizing with the transformers.js cross-check loads no image or ONNX runtime library",
  ignore: !linux,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "ner-native-" });
    const script = `${dir}/probe.ts`;
    await Deno.writeTextFile(
      script,
      `import { loadTokenizer, tokenizePieces } from "${ROOT}ner/tokenizer/mod.ts";
const tok = await loadTokenizer("${ROOT}tests/testdata/tokenizer/learned_uncased");
const text = "Leo Smith 서울에서 왔다";
if (tokenizePieces(tok, text).ids.join() !== tok.encodeIds(text).slice(1, -1).join()) {
  throw new Error("the cross-check disagrees");
}
const maps = Deno.readTextFileSync("/proc/self/maps");
console.log(JSON.stringify([...new Set(maps.split("\\n").map((l) => l.split(/\\s+/)[5] ?? "")
  .filter((p) => p.includes(".so")))]));
`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `--config=${ROOT}deno.json`, script],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    const [code, stdout, stderr] = [
      out.code,
      new TextDecoder().decode(out.stdout),
      new TextDecoder().decode(out.stderr),
    ];
    await Deno.remove(dir, { recursive: true });
    assert.equal(code, 0, stderr);
    const libs: string[] = JSON.parse(stdout.trim().split("\n").pop()!);
    const native = libs.filter((p) => /libvips|sharp|onnxruntime/.test(p));
    assert.deepEqual(native, [], native.join("\n"));
  },
});
