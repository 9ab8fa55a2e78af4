# A cluster of a script's own, on free loopback ports: sourced (not run) by
# scripts/collections-memory.sh and scripts/zset-hold.sh, so a measurement
# never touches a cluster someone else runs on 8001-8004 and never stops
# anything it did not start.
#
#   cluster_start BIN DIR [SPARE]
#       writes coordinator.conf and participant{1,2,3}.conf into DIR (the
#       conf/ samples' settings: fsync always, one worker thread per node,
#       data under DIR), starts the four nodes with their logs in DIR, and
#       waits until the coordinator has all three participants connected.
#       Sets cluster_port (the coordinator's port), cluster_nodes (node
#       names, participants first), cluster_pid (node -> PID) and
#       cluster_spare (SPARE more free ports, for the caller's own use).
#   cluster_stop
#       kills the nodes cluster_start started, by PID, and waits for them.
#
# The caller sets `set -euo pipefail` and defines die(); it removes DIR.

cluster_nodes=(participant1 participant2 participant3 coordinator)
declare -A cluster_pid=()
cluster_port=""
cluster_spare=()

cluster_start() {
  local bin=$1 dir=$2 spare=${3:-0} ports i n
  # Distinct free ports, all bound at once so the kernel hands out distinct
  # ones, then released for the nodes to take.
  read -r -a ports <<<"$(python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(4 + int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$spare")"
  cluster_port=${ports[0]}
  cluster_spare=("${ports[@]:4}")
  {
    echo "mode coordinator"
    echo "coordinator_info 127.0.0.1:$cluster_port"
    for i in 1 2 3; do echo "participant_info 127.0.0.1:${ports[$i]}"; done
    echo "data_dir $dir/coordinator-data"
    echo "worker_threads 1"
  } >"$dir/coordinator.conf"
  for i in 1 2 3; do
    {
      echo "mode participant"
      echo "participant_info 127.0.0.1:${ports[$i]}"
      echo "coordinator_info 127.0.0.1:$cluster_port"
      echo "data_dir $dir/participant$i-data"
      echo "worker_threads 1"
    } >"$dir/participant$i.conf"
  done
  for n in "${cluster_nodes[@]}"; do
    "$bin" --config_path "$dir/$n.conf" >>"$dir/$n.log" 2>&1 &
    cluster_pid[$n]=$!
  done
  for _ in $(seq 1 200); do
    for n in "${cluster_nodes[@]}"; do
      kill -0 "${cluster_pid[$n]}" 2>/dev/null || { tail -n 5 "$dir/$n.log" >&2; die "$n exited at start"; }
    done
    if [ "$(redis-cli -p "$cluster_port" info replication 2>/dev/null | tr -d '\r' | sed -n 's/^connected_slaves://p')" = 3 ]; then
      return 0
    fi
    sleep 0.1
  done
  die "the cluster did not become ready in 20 s; see $dir/*.log"
}

cluster_stop() {
  local n
  for n in "${cluster_nodes[@]}"; do
    if [ -n "${cluster_pid[$n]:-}" ]; then
      kill "${cluster_pid[$n]}" 2>/dev/null || true
      wait "${cluster_pid[$n]}" 2>/dev/null || true
      unset "cluster_pid[$n]"
    fi
  done
}
