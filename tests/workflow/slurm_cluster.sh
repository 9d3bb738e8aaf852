#!/usr/bin/env bash
# A single-node SLURM cluster on this machine for the workflow tests (platform.md §9).
#   tests/workflow/slurm_cluster.sh start STATE_DIR   # install if missing, configure, start, wait idle
#   tests/workflow/slurm_cluster.sh stop STATE_DIR    # cancel jobs, stop daemons by their pid files
# Needs root (apt-get, /etc/slurm, /etc/munge). Writes only STATE_DIR, /etc/slurm and /run/munge.
set -euo pipefail

cmd=${1:?usage: slurm_cluster.sh start|stop STATE_DIR}
state=$(realpath -m "${2:?usage: slurm_cluster.sh start|stop STATE_DIR}")

log() { echo "slurm_cluster: $*" >&2; }

install_if_missing() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null; then
        return
    fi
    log "installing slurm-wlm and munge with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
}

write_config() {
    local host cpus mem
    host=$(hostname -s)
    cpus=$(nproc)
    mem=$(awk '/MemTotal/ {printf "%d", $2 / 1024 * 0.8}' /proc/meminfo)
    mkdir -p "$state/ctld" "$state/spool" /etc/slurm
    # Written before any SLURM client runs: without slurm.conf they try config-less DNS lookups.
    cat > /etc/slurm/slurm.conf <<CONF
ClusterName=agpt-ci
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
ReturnToService=2
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/spool
SlurmctldLogFile=$state/slurmctld.log
SlurmdLogFile=$state/slurmd.log
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=500
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/linux
JobCompType=jobcomp/filetxt
JobCompLoc=$state/jobcomp.log
MinJobAge=300
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
}

start_munge() {
    if [ ! -s /etc/munge/munge.key ]; then
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
    mkdir -p /run/munge
    chown munge:munge /run/munge
    if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
        runuser -u munge -- munged
        # munged writes its pid to /run/munge/munged.pid; remember it as ours to stop.
        for _ in $(seq 50); do [ -s /run/munge/munged.pid ] && break; sleep 0.1; done
        cp /run/munge/munged.pid "$state/munged.pid"
    fi
    munge -n | unmunge >/dev/null
}

wait_idle() {
    for _ in $(seq 60); do
        if [ "$(sinfo -h -o %T 2>/dev/null | head -n1)" = "idle" ]; then
            return 0
        fi
        sleep 0.5
    done
    log "node never became idle; see $state/slurmd.log and $state/slurmctld.log"
    sinfo -N -l >&2 || true
    return 1
}

stop_pidfile() {
    local pidfile=$1 pid
    [ -s "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        if kill -0 "$pid" 2>/dev/null; then
            log "pid $pid ($pidfile) ignored SIGTERM; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$pidfile"
}

case $cmd in
start)
    [ "$(id -u)" = 0 ] || { log "must run as root"; exit 1; }
    install_if_missing
    mkdir -p "$state"
    write_config
    start_munge
    slurmctld
    slurmd
    wait_idle
    timeout 60 srun -t 1 hostname >/dev/null
    log "cluster up ($(dpkg-query -W -f='${Version}' slurmctld 2>/dev/null)); state in $state"
    ;;
stop)
    if [ -s "$state/slurmctld.pid" ]; then
        scancel --user="$(id -un)" 2>/dev/null || true
        for _ in $(seq 40); do [ -z "$(squeue -h 2>/dev/null)" ] && break; sleep 0.5; done
    fi
    stop_pidfile "$state/slurmd.pid"
    stop_pidfile "$state/slurmctld.pid"
    stop_pidfile "$state/munged.pid"
    log "cluster stopped"
    ;;
*)
    log "unknown command $cmd (start|stop)"
    exit 2
    ;;
esac
