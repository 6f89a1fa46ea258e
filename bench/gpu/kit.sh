#!/usr/bin/env bash
# Builds .gpu/ at the repo root: what a GPU machine with python3 and PyTorch but no Deno, no
# package registry and no internet needs to measure bench/train_throughput.ts there.
#
#   bash bench/gpu/kit.sh      then carry .gpu and run: bash .gpu/run.sh
#
# .gpu/ holds:
#   deno.xz                 this machine's deno binary, xz-compressed
#   bench.js                bench/train_throughput.ts bundled into one file
#   replica_worker.js       ner/bert/_replica_worker.ts bundled (the wasm backend's replicas)
#   _replica_worker.ts      a shim at the URL the bundled bench starts replica workers from
#   tfjs-backend-wasm*.wasm the wasm backend's binaries, read from beside the bundles
#   reference_pytorch.py    the PyTorch reference, where the bundled bench looks for it
#   probe.ts                bench/gpu/probe.ts: which WebGPU adapter Deno sees
#   run.sh                  bench/gpu/run.sh: the one command to run there
#   debs/                   Vulkan and GL loader packages, unpacked there only where missing
# deno.xz (while deno.stamp matches the binary) and the packages are reused when built again.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
kit=.gpu
mkdir -p "$kit/debs"
# The Vulkan loader, and the GL dispatch libraries that NVIDIA's driver (its Vulkan ICD is
# libGLX_nvidia.so.0) and Deno's GL adapters load; the set seen working on the device machines.
packages=(libvulkan1 libglvnd0 libegl1 libgl1 libglx0 libopengl0 libgles2)

deno_bin=$(readlink -f "$(command -v deno)")
[ -d node_modules ] || deno install

echo "bundling"
rm -f "$kit"/*.js "$kit"/*.ts "$kit"/*.wasm "$kit"/*.py "$kit"/run.sh
deno bundle --quiet --platform deno -o "$kit/bench.js" bench/train_throughput.ts
deno bundle --quiet --platform deno -o "$kit/replica_worker.js" ner/bert/_replica_worker.ts
# The wasm backend's Emscripten loader reads its .wasm from `__dirname`, which only CommonJS
# defines; in a bundle (an ES module) it is the bundle's folder, where the binaries are copied.
for js in "$kit/bench.js" "$kit/replica_worker.js"; do
  if ! grep -qE '^(var|let|const) __dirname\b' "$js"; then
    { echo "var __dirname = import.meta.dirname;"; cat "$js"; } >"$js.part" && mv "$js.part" "$js"
  fi
done
# The bundled bench starts workers at new URL("./_replica_worker.ts", import.meta.url), which
# is now beside bench.js: a shim there loads the bundled worker.
worker=$(grep -o 'new URL("\./[^"]*", import\.meta\.url)' ner/bert/_replicas.ts |
  sed 's/new URL("\.\/\([^"]*\)".*/\1/')
[ -n "$worker" ] || {
  echo "error: no worker URL in ner/bert/_replicas.ts"
  exit 1
}
echo 'import "./replica_worker.js";' >"$kit/$worker"

version=$(grep -o '"npm:@tensorflow/tfjs-backend-wasm@[^"]*"' deno.json | sed 's/.*@\([^"]*\)"/\1/')
wasm_dir=node_modules/.deno/@tensorflow+tfjs-backend-wasm@$version/node_modules/@tensorflow/tfjs-backend-wasm/dist
ls "$wasm_dir"/tfjs-backend-wasm*.wasm >/dev/null
cp "$wasm_dir"/tfjs-backend-wasm*.wasm "$kit/"
cp bench/reference_pytorch.py "$kit/"
cp bench/gpu/probe.ts "$kit/probe.ts"
cp bench/gpu/run.sh "$kit/run.sh"
chmod +x "$kit/run.sh"

stamp="$deno_bin $(stat -c '%s %Y' "$deno_bin")"
if [ -f "$kit/deno.xz" ] && [ "$(cat "$kit/deno.stamp" 2>/dev/null)" = "$stamp" ]; then
  echo "deno.xz: current"
else
  echo "compressing $deno_bin ($("$deno_bin" --version | head -1))"
  xz -T2 -6 -c "$deno_bin" >"$kit/deno.xz.part"
  mv "$kit/deno.xz.part" "$kit/deno.xz"
  echo "$stamp" >"$kit/deno.stamp"
fi

missing=()
for p in "${packages[@]}"; do
  compgen -G "$kit/debs/${p}_*_amd64.deb" >/dev/null || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "downloading ${missing[*]}"
  lists=$(mktemp -d)
  mkdir -p "$lists/partial"
  o=(-q -oAPT::Sandbox::User=root -oAPT::Architecture=amd64 -oAPT::Architectures=amd64 "-oDir::State::Lists=$lists")
  apt-get "${o[@]}" update
  (cd "$kit/debs" && apt-get "${o[@]}" download "${missing[@]}")
  rm -rf "$lists"
fi

# A tiny model on wasm with two replicas, from outside the repo: the bundle, its worker and the
# .wasm binaries must work without node_modules.
echo "checking the bundle"
check=$(cd / && deno run -A --no-config --no-lock "$root/$kit/bench.js" --json --layers 1 \
  --hidden 32 --heads 2 --intermediate 64 --batch 4 --seq 16 --steps 2 --warmup 1 --workers 2 \
  --backends wasm | tail -n 1)
echo "$check"
if ! grep -q '"backend":"wasm","ms_per_step":[0-9]' <<<"$check"; then
  echo "error: the bundled bench did not train on wasm"
  exit 1
fi

echo
ls -l "$kit" "$kit/debs"
kit_bytes=$(du -sb "$kit" --exclude="$kit/out" | cut -f1)
tree_bytes=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
echo
echo "kit: $((kit_bytes / 1024)) KiB; tracked files: $((tree_bytes / 1024)) KiB;" \
  "together $(((kit_bytes + tree_bytes) / 1048576)) MiB of the 64 MiB that may travel"
if [ $((kit_bytes + tree_bytes)) -gt $((56 * 1048576)) ]; then
  echo "error: the kit and the repository are too close to 64 MiB"
  exit 1
fi
echo "on the GPU machine: carry .gpu, then run: bash .gpu/run.sh"
