#!/usr/bin/env bash
# Sets up a one-node SLURM cluster on this machine (Debian's slurm-wlm and
# munge; root), for trying `occam sweep` under sbatch --array without a real
# cluster: a munge key, munged, a slurm.conf with this host as controller and
# only node (all its CPUs, no cgroups), slurmctld and slurmd. Idempotent:
# the configuration is rewritten, and only daemons that are not running are
# started. A slurm.conf this script did not write (a real cluster's) is never
# touched: the script exits 3 saying so. `local-cluster.sh stop` stops the
# daemons.
set -euo pipefail

if [ "${1:-}" = stop ]; then
    pkill -x slurmd || true
    pkill -x slurmctld || true
    pkill -x munged || true
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "local-cluster.sh: needs root (it installs packages and starts daemons)" >&2
    exit 2
fi
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi

marker="# Written by occam's scripts/slurm/local-cluster.sh"
for conf in /etc/slurm/slurm.conf /etc/slurm-llnl/slurm.conf; do
    if [ -e "$conf" ] && ! grep -qxF "$marker" "$conf"; then
        echo "local-cluster.sh: $conf exists and was not written by this script; not touching it" >&2
        exit 3
    fi
done

host=$(hostname -s)
cpus=$(nproc)
mem=$(awk '/MemTotal/ { print int($2 / 1024 * 0.9) }' /proc/meminfo)

# munge: a key, then the daemon (as root, which munged wants --force for).
mkdir -p /etc/munge /var/lib/munge /var/log/munge /run/munge
[ -s /etc/munge/munge.key ] || dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
chmod 400 /etc/munge/munge.key
# Daemons start with their standard streams on /dev/null, so that a caller
# reading this script's output (a test) is not held open by them.
if ! pgrep -x munged >/dev/null; then
    munged --force </dev/null >/dev/null 2>&1
fi

mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
cat > /etc/slurm/slurm.conf <<CONF
$marker
ClusterName=occam-local
SlurmctldHost=${host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SchedulerType=sched/backfill
MpiDefault=none
NodeName=${host} CPUs=${cpus} RealMemory=${mem} State=UNKNOWN
PartitionName=local Nodes=${host} Default=YES MaxTime=INFINITE State=UP
CONF
# Debian's packages look in /etc/slurm; older ones in /etc/slurm-llnl.
mkdir -p /etc/slurm-llnl && cp /etc/slurm/slurm.conf /etc/slurm-llnl/slurm.conf

pgrep -x slurmctld >/dev/null || slurmctld </dev/null >/dev/null 2>&1
pgrep -x slurmd >/dev/null || slurmd </dev/null >/dev/null 2>&1
for _ in $(seq 60); do
    if sinfo -h -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
        sinfo
        exit 0
    fi
    sleep 1
done
echo "local-cluster.sh: the node did not come up; see /var/log/slurm/" >&2
sinfo >&2 || true
tail -20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
exit 1
