#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for trying docs/slurm-array.sh and for test/slurm/cluster.test.ts.
#
#   bash scripts/slurm-local.sh [start]   install slurmctld, slurmd, the clients and munge if missing (apt-get),
#                                         write a slurm.conf for this host, start munged, slurmctld and slurmd,
#                                         wait until the node is idle; prints the line to export SLURM_CONF
#   bash scripts/slurm-local.sh stop      stop the three daemons this script started (by their pid files)
#   bash scripts/slurm-local.sh status    exit 0 when the cluster answers and its node is up
#
# Everything lives in SLURM_LOCAL_DIR (default /var/lib/ir-neurons-slurm): slurm.conf, its own munge key and
# socket, state, spool, logs and pid files. /etc/slurm and the system's munged are not touched, so this does not
# disturb a real cluster configured on the same machine; the clients find this one through SLURM_CONF, e.g.
#   export SLURM_CONF=/var/lib/ir-neurons-slurm/slurm.conf; sinfo
# Ports: SLURM_LOCAL_CTLD_PORT (default 6817) and SLURM_LOCAL_SLURMD_PORT (default 6818), on 127.0.0.1 only.
# Runs as root (re-runs itself through `sudo -n` otherwise). Jobs run as the user who submits them.
# Exit status: 0 ready, 1 the daemons did not come up (their logs are printed), 3 Slurm is missing and cannot
# be installed here (no root, no apt-get, or the archive unreachable).
set -euo pipefail

DIR=${SLURM_LOCAL_DIR:-/var/lib/ir-neurons-slurm}
CTLD_PORT=${SLURM_LOCAL_CTLD_PORT:-6817}
SLURMD_PORT=${SLURM_LOCAL_SLURMD_PORT:-6818}
CMD=${1:-start}
say() { echo "slurm-local: $*" >&2; }

export SLURM_CONF="$DIR/slurm.conf"
HOST=$(hostname -s)
node_state() { sinfo -h -N -n "$HOST" -o %T 2>/dev/null | head -1; }
up() { case "$(node_state || true)" in idle|mixed|allocated|completing) return 0 ;; *) return 1 ;; esac; }

if [ "$(id -u)" != 0 ] && [ "$CMD" != status ]; then
  # a cluster already started by root serves every user: nothing to do for `start`
  if [ "$CMD" = start ] && [ -f "$SLURM_CONF" ] && command -v sinfo >/dev/null 2>&1 && up; then
    say "already running: node $HOST $(node_state)"; echo "export SLURM_CONF=$SLURM_CONF"; exit 0
  fi
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    exec sudo -n env SLURM_LOCAL_DIR="$DIR" SLURM_LOCAL_CTLD_PORT="$CTLD_PORT" SLURM_LOCAL_SLURMD_PORT="$SLURMD_PORT" bash "$0" "$@"
  fi
  say "needs root (or password-less sudo) to install and run the Slurm daemons; run it as root"
  exit 3
fi

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop_one() { # pid file, name
  if alive "$1"; then
    local pid; pid=$(cat "$1")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
    say "stopped $2 (pid $pid)"
  fi
  rm -f "$1"
}

case "$CMD" in
  stop)
    stop_one "$DIR/slurmd.pid" slurmd
    stop_one "$DIR/slurmctld.pid" slurmctld
    stop_one "$DIR/munge/munged.pid" munged
    exit 0 ;;
  status)
    echo "node $HOST: $(node_state || true) (SLURM_CONF=$SLURM_CONF)"
    if up; then exit 0; else exit 1; fi ;;
  start) ;;
  *) say "unknown command '$CMD': use start, stop or status"; exit 2 ;;
esac

# --- install --------------------------------------------------------------------------------------------------
need=()
for c in slurmctld:slurmctld slurmd:slurmd sbatch:slurm-client munged:munge; do
  command -v "${c%%:*}" >/dev/null 2>&1 || need+=("${c#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then say "missing ${need[*]} and there is no apt-get to install them"; exit 3; fi
  say "installing ${need[*]} (apt-get)"
  if ! { DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >"/tmp/slurm-local-apt.log" 2>&1 ||
         { apt-get update -q >>"/tmp/slurm-local-apt.log" 2>&1 &&
           DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >>"/tmp/slurm-local-apt.log" 2>&1; }; }; then
    tail -5 /tmp/slurm-local-apt.log >&2
    say "apt-get could not install ${need[*]} (log: /tmp/slurm-local-apt.log)"
    exit 3
  fi
fi

# --- configuration --------------------------------------------------------------------------------------------
# slurmd -C prints this host's real hardware: "NodeName=vm CPUs=2 Boards=1 ... RealMemory=24105"
hw=$(slurmd -C | head -1 | sed -e 's/^NodeName=[^ ]* //')
USER_NAME=$(id -un)
mkdir -p "$DIR"/{munge,state,spool,log}
chmod 755 "$DIR"
cat >"$DIR/slurm.conf.new" <<EOF
# Written by scripts/slurm-local.sh: a one-node cluster on $HOST for tests. Not for production.
ClusterName=ir-neurons-local
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=$USER_NAME
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire is also how long a requeued job waits before it may start again (default 120 s)
AuthInfo=socket=$DIR/munge/munge.socket,cred_expire=10
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# no cgroups in containers: plain process tracking, no task binding, no accounting
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
KillWait=5
MinJobAge=600
PlugStackConfig=/dev/null
NodeName=$HOST NodeAddr=127.0.0.1 $hw State=UNKNOWN
PartitionName=local Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
if ! cmp -s "$DIR/slurm.conf.new" "$DIR/slurm.conf" 2>/dev/null; then
  mv "$DIR/slurm.conf.new" "$DIR/slurm.conf"
  changed=1
else
  rm -f "$DIR/slurm.conf.new"
  changed=0
fi

if [ "$changed" = 0 ] && alive "$DIR/munge/munged.pid" && alive "$DIR/slurmctld.pid" && alive "$DIR/slurmd.pid" && up; then
  say "already running: node $HOST $(node_state)"; echo "export SLURM_CONF=$SLURM_CONF"; exit 0
fi
stop_one "$DIR/slurmd.pid" slurmd
stop_one "$DIR/slurmctld.pid" slurmctld
stop_one "$DIR/munge/munged.pid" munged

# --- munge: a private daemon with its own key and socket, as the munge user when there is one ----------------
MUNGE_USER=root
id munge >/dev/null 2>&1 && MUNGE_USER=munge
if [ ! -s "$DIR/munge/munge.key" ]; then
  dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none
fi
chown -R "$MUNGE_USER:" "$DIR/munge"
# munged wants its socket's folder traversable by everyone (every user who submits jobs talks to it)
chmod 711 "$DIR/munge"
chmod 400 "$DIR/munge/munge.key"
munge_args=(--socket="$DIR/munge/munge.socket" --key-file="$DIR/munge/munge.key" --pid-file="$DIR/munge/munged.pid"
  --log-file="$DIR/munge/munged.log" --seed-file="$DIR/munge/munged.seed")
if [ "$MUNGE_USER" = root ]; then
  munged --force "${munge_args[@]}"
else
  runuser -u munge -- munged "${munge_args[@]}"
fi
for _ in $(seq 50); do [ -S "$DIR/munge/munge.socket" ] && break; sleep 0.1; done
if ! munge -n --socket="$DIR/munge/munge.socket" | unmunge --socket="$DIR/munge/munge.socket" >/dev/null 2>&1; then
  cat "$DIR/munge/munged.log" >&2 || true
  say "munged did not answer on $DIR/munge/munge.socket"
  exit 1
fi

# --- slurmctld and slurmd -------------------------------------------------------------------------------------
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"

for i in $(seq 120); do
  state=$(node_state || true)
  case "$state" in
    idle|mixed|allocated|completing)
      say "node $HOST is $state after ${i}x0.5 s ($(echo "$hw" | grep -o 'CPUs=[0-9]*') $(echo "$hw" | grep -o 'RealMemory=[0-9]*') MiB)"
      echo "export SLURM_CONF=$SLURM_CONF"
      exit 0 ;;
    down*|drain*|fail*)
      # a node left down by an earlier run: this script owns the cluster, bring it back
      scontrol update NodeName="$HOST" State=RESUME >/dev/null 2>&1 || true ;;
  esac
  sleep 0.5
done
say "node $HOST is '${state:-not answering}' after 60 s; the logs:"
tail -20 "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log" >&2 || true
exit 1
