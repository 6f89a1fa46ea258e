#!/usr/bin/env bash
# Runs a command N times and counts how each run ended: exit 0, a signal (an abort such as
# "double free or corruption" is SIGABRT, exit 134), or another failure. Default command: the
# test suite as CI runs it (`bash .ci/run`). Exits 1 if any run died from a signal.
#
#   bash tools/testing/soak.sh 20                      # 20 runs of .ci/run in this checkout
#   bash tools/testing/soak.sh 50 deno test -A tests/tokenizer_test.ts
#   SOAK_CORES=/tmp/cores bash tools/testing/soak.sh 10 # keep a core dump of every abort there (as root)
#
# Each run's output goes to $SOAK_LOGS (default: a new temporary directory), named by run and
# outcome, and the last line of each signalled run is printed as it happens.
set -uo pipefail
cd "$(dirname "$0")/../.."
n=${1:-10}
shift || true
[ $# -eq 0 ] && set -- bash .ci/run
logs=${SOAK_LOGS:-$(mktemp -d -t soak.XXXXXX)}
mkdir -p "$logs"
if [ -n "${SOAK_CORES:-}" ]; then
  mkdir -p "$SOAK_CORES"
  ulimit -c unlimited
  echo "$SOAK_CORES/core.%p.%e" >/proc/sys/kernel/core_pattern 2>/dev/null ||
    echo "note: cannot set /proc/sys/kernel/core_pattern; cores go where it says"
fi
ok=0 signalled=0 failed=0
for i in $(seq "$n"); do
  start=$(date +%s)
  CI=true "$@" >"$logs/run$i.log" 2>&1
  rc=$?
  # .ci/run passes the test process's status on: 128 + N when it died from signal N.
  if [ "$rc" -eq 0 ]; then
    ok=$((ok + 1)); outcome=ok
  elif [ "$rc" -ge 128 ]; then
    signalled=$((signalled + 1)); outcome="signal $((rc - 128))"
    grep -m1 -E 'double free|corrupt|malloc|Segmentation|Aborted|panicked' "$logs/run$i.log" |
      sed "s/^/  run $i: /"
  else
    failed=$((failed + 1)); outcome="exit $rc"
  fi
  mv "$logs/run$i.log" "$logs/run$i.${outcome// /-}.log"
  echo "run $i/$n: $outcome in $(($(date +%s) - start)) s (ok $ok, signal $signalled, failed $failed)"
done
echo "soak: $n runs: $ok ok, $signalled killed by a signal, $failed failed (logs in $logs)"
[ "$signalled" -eq 0 ]
