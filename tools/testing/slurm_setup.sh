#!/usr/bin/env bash
# Starts a single-node Slurm cluster on this machine, for tests/slurm_test.ts: munged, slurmctld
# and slurmd on localhost, one partition ("main") with this machine's CPUs and memory. Run as
# root (Debian's slurm-wlm and munge packages). Idempotent: a cluster that already answers is
# left alone. It writes /etc/slurm/slurm.conf only when there is none, or when the one there was
# written by this script (a real cluster's configuration is never replaced).
#
#   tools/testing/slurm_setup.sh          start (or check) the cluster; exit 0 once the node is idle
#   tools/testing/slurm_setup.sh stop     stop the daemons this script started
#
# State, logs and pid files go to $NERPIPE_SLURM_STATE (default /var/spool/nerpipe-slurm).
set -uo pipefail

state=${NERPIPE_SLURM_STATE:-/var/spool/nerpipe-slurm}
conf=${SLURM_CONF:-/etc/slurm/slurm.conf}
# The script's path before tools/testing/: a slurm.conf written before the move stays its own.
marker="# written by nerpipe tools/slurm_setup.sh"

die() {
  echo "slurm_setup: $*" >&2
  exit 1
}

stop() {
  for name in slurmd slurmctld; do
    if [ -f "$state/$name.pid" ]; then
      kill "$(cat "$state/$name.pid")" 2>/dev/null || true
      rm -f "$state/$name.pid"
    fi
  done
  if [ -f "$state/munged.pid" ]; then
    kill "$(cat "$state/munged.pid")" 2>/dev/null || true
    rm -f "$state/munged.pid"
  fi
}

if [ "${1:-}" = "stop" ]; then
  stop
  exit 0
fi

for tool in sbatch sinfo slurmctld slurmd munged; do
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] ||
    die "$tool is missing: install the Debian packages slurm-wlm and munge"
done
[ "$(id -u)" = 0 ] || die "run as root (it starts munged, slurmctld and slurmd)"
export PATH="$PATH:/usr/sbin"

idle() {
  timeout 5 sinfo -h -N -n localhost -o '%t' 2>/dev/null | grep -Eq '^(idle|mix|alloc)'
}

if idle; then
  echo "slurm_setup: the cluster answers (node localhost is up)"
  exit 0
fi

mkdir -p "$state/ctld" "$state/d" "$(dirname "$conf")"

# munge: a key if there is none, then the daemon (as the munge user when there is one).
key=/etc/munge/munge.key
if [ ! -s "$key" ]; then
  mkdir -p /etc/munge
  if command -v mungekey >/dev/null 2>&1 || [ -x /usr/sbin/mungekey ]; then
    mungekey --create --keyfile="$key" --force >/dev/null 2>&1 ||
      dd if=/dev/urandom of="$key" bs=1 count=1024 status=none
  else
    dd if=/dev/urandom of="$key" bs=1 count=1024 status=none
  fi
fi
mkdir -p /run/munge /var/lib/munge /var/log/munge
if id munge >/dev/null 2>&1; then
  chown munge:munge "$key" /run/munge /var/lib/munge /var/log/munge /etc/munge
fi
chmod 0400 "$key"
chmod 0755 /run/munge
if ! timeout 5 munge -n </dev/null 2>/dev/null | timeout 5 unmunge >/dev/null 2>&1; then
  if id munge >/dev/null 2>&1; then
    runuser -u munge -- munged --pid-file=/run/munge/munged.pid ||
      die "munged did not start"
  else
    munged --force --pid-file=/run/munge/munged.pid || die "munged did not start"
  fi
  cp /run/munge/munged.pid "$state/munged.pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    timeout 5 munge -n </dev/null 2>/dev/null | timeout 5 unmunge >/dev/null 2>&1 && break
    sleep 0.1
  done
fi

# slurm.conf: this machine's CPUs and (a little less than) its memory, one partition.
if [ -f "$conf" ] && ! grep -qF "$marker" "$conf"; then
  die "$conf exists and was not written by this script: start that cluster yourself"
fi
cpus=$(nproc)
mem=$(awk '/^MemTotal:/ { print int($2 / 1024 * 0.9) }' /proc/meminfo)
cat >"$conf" <<EOF
$marker
ClusterName=nerpipe
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
# A dependent job starts about 1 s after its dependency ends (2-3 s with the default delay).
SchedulerParameters=batch_sched_delay=0
ReturnToService=2
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/d
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/slurmctld.log
SlurmdLogFile=$state/slurmd.log
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MinJobAge=600
InactiveLimit=0
KillWait=5
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=main Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF

pgrep -x slurmctld >/dev/null 2>&1 || slurmctld || die "slurmctld did not start (see $state/slurmctld.log)"
pgrep -x slurmd >/dev/null 2>&1 || slurmd -N localhost || die "slurmd did not start (see $state/slurmd.log)"

for _ in $(seq 1 60); do
  if idle; then
    echo "slurm_setup: node localhost is idle ($cpus CPUs, ${mem} MB), partition main"
    exit 0
  fi
  # A node that came back down (an earlier run's state) returns to service.
  scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true
  sleep 0.5
done
die "the node did not become idle in 30 s: see $state/slurmctld.log and $state/slurmd.log"
