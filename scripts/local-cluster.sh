#!/usr/bin/env bash
# Starts (or stops) a complete local cluster: one coordinator on
# 127.0.0.1:8001 and three participants on 8002-8004, using conf/*.conf.
# State and logs live in .local-cluster/ under the repository root.
#
#   scripts/local-cluster.sh start    build (release), start, wait until ready
#   scripts/local-cluster.sh stop     stop the processes this script started
#   scripts/local-cluster.sh status   show what is running
#   scripts/local-cluster.sh wipe     stop and delete the cluster's data
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/.local-cluster"
bin="$root/target/release/kvstore2pcsystem"
nodes=(participant1 participant2 participant3 coordinator)

running() { [ -f "$dir/$1.pid" ] && kill -0 "$(cat "$dir/$1.pid")" 2>/dev/null; }

start() {
  (cd "$root" && cargo build --release --quiet --bin kvstore2pcsystem)
  mkdir -p "$dir"
  for n in "${nodes[@]}"; do
    if running "$n"; then echo "$n already running (pid $(cat "$dir/$n.pid"))"; continue; fi
    # The working directory is $dir, so default data directories land there.
    # exec: the recorded PID is the server's own, not a wrapper shell's.
    (cd "$dir" && exec nohup "$bin" --config_path "$root/conf/$n.conf" >>"$dir/$n.log" 2>&1) &
    echo $! >"$dir/$n.pid"
  done
  # Ready means: the coordinator answers and all three participants are live.
  for _ in $(seq 1 200); do
    for n in "${nodes[@]}"; do
      if ! running "$n"; then
        echo "$n exited at start (port in use by another process?); see $dir/$n.log:" >&2
        tail -n 3 "$dir/$n.log" >&2
        return 1
      fi
    done
    if [ "$(redis-cli -p 8001 info replication 2>/dev/null | tr -d '\r' | sed -n 's/^connected_slaves://p')" = 3 ]; then
      echo "cluster ready: redis-cli -p 8001   (logs: $dir/*.log)"
      return 0
    fi
    sleep 0.1
  done
  echo "cluster did not become ready in 20 s; see $dir/*.log" >&2
  return 1
}

stop() {
  for n in "${nodes[@]}"; do
    if running "$n"; then kill "$(cat "$dir/$n.pid")" && echo "stopped $n"; fi
    rm -f "$dir/$n.pid"
  done
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status) for n in "${nodes[@]}"; do if running "$n"; then echo "$n: running (pid $(cat "$dir/$n.pid"))"; else echo "$n: stopped"; fi; done ;;
  wipe) stop; rm -rf "$dir" ;;
  *) echo "usage: $0 start|stop|status|wipe" >&2; exit 2 ;;
esac
