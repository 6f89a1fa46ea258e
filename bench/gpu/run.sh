#!/usr/bin/env bash
# Measures our WebGPU training throughput for BERT-base against PyTorch eager on the same GPU, on
# a machine with no Deno and no package registry. bench/gpu/kit.sh copies this file to
# .gpu/run.sh beside everything it needs; run it there:
#
#   bash .gpu/run.sh [bench flags]
#
# Defaults: BERT-base (12 layers, hidden 768, 12 heads, intermediate 3072), batch 32, sequence
# 128, --steps 5 --warmup 2 --seconds 300, --backends webgpu, --reference --reference-device
# cuda, --profile (two more steps with each kernel's GPU time, in bench.json's results).
# Flags given here come after the defaults, and the bench takes a flag's last value, so they win:
# `bash .gpu/run.sh --layers 1 --hidden 32 --heads 2 --intermediate 64 --batch 4 --seq 16
# --backends webgpu,wasm --reference-device cpu` is a small dry run.
#
# Environment:
#   OUT                  folder for run.log, adapter.json and bench.json (default .gpu/out)
#   ALLOW_FALLBACK=1     go on when WebGPU does not see an NVIDIA GPU (a dry run, no GPU figures)
#   DENO_WEBGPU_BACKEND  the adapters Deno may use (default vulkan)
#   DENO                 a deno binary to use instead of unpacking .gpu/deno.xz
#   LIMIT_S              wall-clock limit of the bench in seconds (default 500)
#   SKIP_LOADERS=1       only say which loader packages it would unpack into / (a dry run)
set -uo pipefail

kit=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${OUT:-$kit/out}
mkdir -p "$out"

say() { printf '\n== %s\n' "$*"; }

# Unpacks Deno to /tmp (xz, or Python's lzma where xz is missing).
unpack_deno() {
  if [ -n "${DENO:-}" ]; then
    deno=$DENO
    return
  fi
  deno=/tmp/nerpipe-deno
  if command -v xz >/dev/null; then
    xz -dc "$kit/deno.xz" >"$deno.part" || return 1
  else
    python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
      "$kit/deno.xz" "$deno.part" || return 1
  fi
  chmod +x "$deno.part" && mv "$deno.part" "$deno"
}

# Unpacks each carried loader package whose shared libraries the machine lacks.
bring_loaders() {
  local f lib missing unpacked= known
  known=$(ldconfig -p)
  for f in "$kit"/debs/*.deb; do
    [ -e "$f" ] || continue
    missing=
    for lib in $(dpkg-deb -c "$f" | grep -o '[^/ ]*\.so\.[0-9][0-9]*' | sort -u); do
      grep -qF $'\t'"$lib (" <<<"$known" || missing="$missing $lib"
    done
    if [ -z "$missing" ]; then continue; fi
    if [ "${SKIP_LOADERS:-}" = 1 ]; then
      echo "SKIP_LOADERS=1: would unpack $(basename "$f") (missing:$missing)"
      continue
    fi
    echo "unpacking $(basename "$f") (missing:$missing)"
    dpkg -x "$f" / || return 1
    unpacked=1
  done
  if [ -n "$unpacked" ]; then ldconfig; fi
  ldconfig -p | grep libvulkan || echo "libvulkan: not found after unpacking"
}

# Describes the WebGPU adapter (see bench/gpu/probe.ts for its exit codes).
probe() { "$deno" run --no-config --no-lock "$kit/probe.ts"; }

main() {
  say "machine"
  date -u
  nvidia-smi -L || echo "nvidia-smi: not available"

  say "deno"
  unpack_deno || { echo "error: could not unpack $kit/deno.xz"; return 2; }
  "$deno" --version | head -1 || return 2
  export DENO_NO_UPDATE_CHECK=1 DENO_NO_PROMPT=1

  say "vulkan loaders"
  bring_loaders || { echo "error: could not unpack the loaders in $kit/debs (run as root)"; return 2; }
  local icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  local egl=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
  if [ -z "${VK_DRIVER_FILES:-}" ] && [ -e "$icd" ]; then export VK_DRIVER_FILES=$icd; fi
  if [ -z "${__EGL_VENDOR_LIBRARY_FILENAMES:-}" ] && [ -e "$egl" ]; then
    export __EGL_VENDOR_LIBRARY_FILENAMES=$egl
  fi
  echo "VK_DRIVER_FILES=${VK_DRIVER_FILES:-(unset)}"

  say "webgpu adapter"
  export DENO_WEBGPU_BACKEND=${DENO_WEBGPU_BACKEND:-vulkan}
  local code
  probe | tee "$out/adapter.json"
  code=${PIPESTATUS[0]}
  echo "(DENO_WEBGPU_BACKEND=$DENO_WEBGPU_BACKEND, probe exit $code)"
  if [ "$code" != 0 ]; then
    echo "WebGPU in Deno does not see an NVIDIA GPU through DENO_WEBGPU_BACKEND=$DENO_WEBGPU_BACKEND."
    echo "With every backend Deno has, it sees:"
    # Deno's own default would be every backend, but nerpipe sets vulkan when the variable is
    # unset (ner/bert/_webgpu_env.ts), so name the others.
    (export DENO_WEBGPU_BACKEND=vulkan,gl && probe) | tee "$out/adapter.json"
    code=${PIPESTATUS[0]}
    if [ "$code" = 0 ]; then
      # An NVIDIA adapter through another graphics API (GL/EGL): still the GPU, so measure,
      # and say so in the log.
      echo "The NVIDIA GPU is there without Vulkan: measuring through that adapter."
      export DENO_WEBGPU_BACKEND=vulkan,gl
    elif [ "${ALLOW_FALLBACK:-}" != 1 ]; then
      echo "error: no NVIDIA WebGPU adapter: this is not a GPU measurement, so it stops here."
      echo "Check: nvidia-smi above, 'ldconfig -p | grep libvulkan', the ICD json"
      echo "($icd or /usr/share/vulkan/icd.d/), VK_LOADER_DEBUG=all for the loader's reasons."
      echo "ALLOW_FALLBACK=1 goes on anyway (a dry run)."
      return 3
    else
      echo "ALLOW_FALLBACK=1: going on with whatever adapter Deno finds; NOT a GPU measurement."
      export DENO_WEBGPU_BACKEND=vulkan,gl
    fi
  fi

  say "bench (limit ${LIMIT_S:-500} s)"
  local args=(--json --layers 12 --hidden 768 --heads 12 --intermediate 3072 --batch 32
    --seq 128 --steps 5 --warmup 2 --seconds 300 --backends webgpu --reference
    --reference-device cuda --profile "$@")
  echo "bench.js ${args[*]}"
  # stdout goes to the log as well; the JSON is its last line.
  timeout "${LIMIT_S:-500}" "$deno" run -A --no-config --no-lock "$kit/bench.js" "${args[@]}" |
    tee "$out/bench.out"
  code=${PIPESTATUS[0]}
  if [ "$code" = 124 ]; then echo "error: the bench ran past ${LIMIT_S:-500} s and was stopped"; fi
  if [ "$code" != 0 ]; then
    echo "error: the bench failed (exit $code)"
    return "$code"
  fi
  tail -n 1 "$out/bench.out" >"$out/bench.json" && rm "$out/bench.out"
  say "result"
  python3 -m json.tool "$out/bench.json" || return 1
  echo "written: $out/bench.json"
}

main "$@" 2>&1 | tee "$out/run.log"
exit "${PIPESTATUS[0]}"
