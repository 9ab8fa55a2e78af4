#!/usr/bin/env bash
# Benchmarks this project's cluster against redis-server with the same kvload
# workloads, and prints the tables plus ours/redis ratios per concurrency.
#
# Two Redis baselines bracket what durability costs:
#   redis-always     AOF with appendfsync always: every write fsynced before
#                    the reply, the closest match to a durable 2PC store;
#   redis-nopersist  no AOF, no RDB: the in-memory upper bound.
# and a third is what Redis users run for the guarantee we give (a write on
# every replica before the reply), measured for the writes only (set, hset,
# sadd, spop, lpush, rpop, zadd, zpopmin):
#   redis-wait2      a primary and two replicas, all appendfsync always, each
#                    write sent with `WAIT 2 <timeout>` (kvload --wait-replicas 2)
#
# Usage (from anywhere; it works from the repository root):
#   scripts/bench-vs-redis.sh
# Environment:
#   WORKLOADS="set get"   kvload workloads to run, in order, from set, get,
#                         mixed, hset, hget, sadd, sismember, spop, lpush,
#                         rpop, lrange_100, zadd, zpopmin; the reads and pops
#                         (get, hget, sismember, spop, rpop, lrange_100,
#                         zpopmin) preload first, the collections' issue set
#                         is WORKLOADS="set get hset hget sadd sismember spop"
#                         (spop drains the preloaded sets: KEYS x 16 members
#                         must stay well above the pops of all LEVELS, or its
#                         misses say it ran dry), the lists' and sorted
#                         sets' WORKLOADS="lpush rpop zadd zpopmin lrange_100"
#                         (redis-benchmark's tests: one key, mylist or
#                         myzset; rpop and zpopmin preload KEYS or REQUESTS x
#                         the number of LEVELS elements, whichever is more,
#                         so no pop finds the key empty)
#   NOPERSIST=1           also run the redis-nopersist baseline (0: skip it)
#   LEVELS=1,4,16,50      concurrency levels
#   REQUESTS=20000        requests per level
#   KEYS=10000            key space (a read run preloads all of it)
#   VALUE_SIZE=16         SET value size in bytes
#   PIPELINE=1            requests in flight per connection
#   ROUNDS=3              rounds of every target and workload, interleaved;
#                         the summary takes, per level, the round with the
#                         median throughput (this VM's runs vary by ~10%)
#   OURS=127.0.0.1:8001   our coordinator; started with scripts/local-cluster.sh
#                         if nothing listens there, and stopped again at the end
#   SKIP_BUILD=1          use the already-built target/release/kvload
#   KVLOAD=PATH           use this kvload binary (implies SKIP_BUILD=1)
#   BENCH_TMP=target      where the results and Redis data directories go
#                         (on disk, not tmpfs, so fsync costs what it costs)
#
# Client and servers share this machine's cores, so absolute numbers are
# pessimistic; the ratios are the point.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

LEVELS=${LEVELS:-1,4,16,50}
REQUESTS=${REQUESTS:-20000}
KEYS=${KEYS:-10000}
VALUE_SIZE=${VALUE_SIZE:-16}
PIPELINE=${PIPELINE:-1}
ROUNDS=${ROUNDS:-3}
OURS=${OURS:-127.0.0.1:8001}
read -r -a WORKLOADS <<<"${WORKLOADS:-set get}"
NOPERSIST=${NOPERSIST:-1}

log() { echo "bench-vs-redis: $*" >&2; }
die() { log "$*"; exit 1; }

[ "${#WORKLOADS[@]}" -gt 0 ] || die "WORKLOADS is empty"
for workload in "${WORKLOADS[@]}"; do
  case $workload in
    set | get | mixed | hset | hget | sadd | sismember | spop) ;;
    lpush | rpop | lrange_100 | zadd | zpopmin) ;;
    *) die "unknown workload $workload in WORKLOADS (set get mixed hset hget sadd sismember spop lpush rpop lrange_100 zadd zpopmin)" ;;
  esac
done
# writes WORKLOAD: true for the workloads that write on every request, which
# the replicated baseline (WAIT 2) measures.
writes() { case $1 in set | hset | sadd | spop | lpush | rpop | zadd | zpopmin) return 0 ;; *) return 1 ;; esac }
# reads_preloaded WORKLOAD: true for the workloads that need their keys
# written first (reads, and the pops, which need something to pop).
reads_preloaded() {
  case $1 in get | hget | sismember | spop | rpop | lrange_100 | zpopmin) return 0 ;; *) return 1 ;; esac
}
# keys_for WORKLOAD: kvload's --keys. For rpop and zpopmin it is how many
# elements the preload writes into the one list or sorted set, each pop
# takes one: at least every level's requests, so none finds it empty.
keys_for() {
  local levels need
  case $1 in
    rpop | zpopmin)
      levels=$(tr ',' '\n' <<<"$LEVELS" | grep -c .)
      need=$((REQUESTS * levels))
      echo $((KEYS > need ? KEYS : need))
      ;;
    *) echo "$KEYS" ;;
  esac
}

for tool in redis-server redis-cli; do
  command -v "$tool" >/dev/null || die "$tool not found (apt-get install redis-server)"
done

if [ -n "${KVLOAD:-}" ]; then
  SKIP_BUILD=1
fi
if [ "${SKIP_BUILD:-}" != 1 ]; then
  log "building (cargo build --release --bins)"
  cargo build --release --bins
fi
kvload=${KVLOAD:-${CARGO_TARGET_DIR:-$root/target}/release/kvload}
[ -x "$kvload" ] || die "$kvload not built"

bench_tmp=${BENCH_TMP:-$root/target}
mkdir -p "$bench_tmp"
out=$(mktemp -d "$bench_tmp/bench-vs-redis.XXXXXX")

# Everything this script starts is recorded here and stopped on exit, by PID.
redis_pids=()
started_cluster=0
cleanup() {
  local pid
  if [ -n "${kvload_pid:-}" ]; then
    kill "$kvload_pid" 2>/dev/null || true
    wait "$kvload_pid" 2>/dev/null || true
  fi
  for pid in "${redis_pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ "$started_cluster" = 1 ]; then
    log "stopping the local cluster this script started"
    scripts/local-cluster.sh stop >&2 || true
  fi
  # Results stay for inspection; the Redis data (AOF files) need not.
  rm -rf "$out"/redis-*/data
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# True if something accepts TCP connections on host $1 port $2.
listening() { timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

# First port at or after $1 that nobody listens on and we have not handed out.
used_ports=()
free_port() {
  local p=$1
  while listening 127.0.0.1 "$p" || [[ " ${used_ports[*]} " == *" $p "* ]]; do
    p=$((p + 1))
  done
  used_ports+=("$p")
  echo "$p"
}

# start_redis NAME PORT [redis-server options...]
start_redis() {
  local name=$1 port=$2
  shift 2
  mkdir -p "$out/$name/data"
  redis-server --port "$port" --bind 127.0.0.1 --dir "$out/$name/data" \
    --logfile "$out/$name/redis.log" --daemonize no "$@" &
  local pid=$!
  redis_pids+=("$pid")
  for _ in $(seq 1 100); do
    if [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ]; then
      log "$name: redis-server pid $pid on 127.0.0.1:$port ($(printf '%q ' "$@"))"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  tail -n 20 "$out/$name/redis.log" >&2 || true
  die "$name: redis-server did not start on port $port"
}

always_port=$(free_port 7379)
start_redis redis-always "$always_port" --appendonly yes --appendfsync always --save ''
nopersist_port=$(free_port $((always_port + 1)))
if [ "$NOPERSIST" = 1 ]; then
  start_redis redis-nopersist "$nopersist_port" --save '' --appendonly no
fi
wait2_port=$(free_port $((nopersist_port + 1)))
start_redis redis-wait2 "$wait2_port" --appendonly yes --appendfsync always --save ''
for replica in 1 2; do
  start_redis "redis-wait2-replica$replica" "$(free_port $((wait2_port + replica)))" \
    --appendonly yes --appendfsync always --save '' --replicaof 127.0.0.1 "$wait2_port"
done
# WAIT 2 fails every request until both replicas have finished their initial sync.
replicas_online() { [ "$(redis-cli -p "$wait2_port" info replication | grep -c 'state=online')" = 2 ]; }
for _ in $(seq 1 100); do
  replicas_online && break
  sleep 0.1
done
replicas_online || die "redis-wait2: the replicas did not come online"

# Our cluster: use it if it is up, otherwise try to start it ourselves.
ours_host=${OURS%:*}
ours_port=${OURS##*:}
ours_ok=0
ours_why=""
if listening "$ours_host" "$ours_port"; then
  ours_ok=1
  log "ours: using the server already listening on $OURS"
elif [ -x scripts/local-cluster.sh ] || [ -f scripts/local-cluster.sh ]; then
  # A half-running cluster belongs to someone else: starting the missing
  # nodes and then stopping "our" cluster would stop theirs too.
  if bash scripts/local-cluster.sh status 2>/dev/null | grep -q ': running'; then
    ours_why="part of a local cluster is running but nothing listens on $OURS; not touching it"
  else
    log "ours: nothing on $OURS, starting scripts/local-cluster.sh"
    started_cluster=1
    if bash scripts/local-cluster.sh start >&2 && listening "$ours_host" "$ours_port"; then
      ours_ok=1
    else
      ours_why="scripts/local-cluster.sh start did not bring up $OURS (see .local-cluster/*.log)"
    fi
  fi
else
  ours_why="nothing listens on $OURS and there is no scripts/local-cluster.sh"
fi

# run_one LABEL ADDR WORKLOAD ROUND: one kvload run; its table and CSV are
# kept under $out. kvload runs in the background and is waited for, because bash
# defers traps until a foreground child ends: this way Ctrl-C or a TERM
# cleans up at once instead of after the run.
kvload_pid=""
run_one() {
  local label=$1 addr=$2 workload=$3 round=$4 rc=0
  local extra=()
  if reads_preloaded "$workload"; then extra+=(--preload); fi
  [ "$label" = redis-wait2 ] && extra+=(--wait-replicas 2)
  echo
  echo "== $label ($addr) $workload, round $round of $ROUNDS =="
  "$kvload" --addr "$addr" --workload "$workload" --concurrency "$LEVELS" \
    --requests "$REQUESTS" --keys "$(keys_for "$workload")" --value-size "$VALUE_SIZE" \
    --pipeline "$PIPELINE" --label "$label" "${extra[@]}" \
    --csv "$out/$label-$workload.r$round.csv" >"$out/$label-$workload.r$round.txt" &
  kvload_pid=$!
  wait "$kvload_pid" || rc=$?
  kvload_pid=""
  cat "$out/$label-$workload.r$round.txt"
  return "$rc"
}

# median_rows LABEL WORKLOAD: from the rounds' CSVs, per concurrency level
# the row of the round with the median throughput (whole rows, so its
# latencies belong to the same run), as $out/LABEL-WORKLOAD.csv, and that
# table in kvload's layout as $out/LABEL-WORKLOAD.txt.
median_rows() {
  local base=$out/$1-$2
  awk -F, '
    FNR == 1 { if (!header) header = $0; for (i = 1; i <= NF; i++) col[$i] = i; next }
    {
      c = $col["concurrency"]
      if (!(c in count)) order[++levels] = c
      rows[c, ++count[c]] = $0
      tput[c, count[c]] = $col["throughput_ops"] + 0
    }
    END {
      print header
      for (l = 1; l <= levels; l++) {
        c = order[l]; n = count[c]
        for (i = 1; i <= n; i++) rank[i] = i
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
          if (tput[c, rank[j]] < tput[c, rank[i]]) { t = rank[i]; rank[i] = rank[j]; rank[j] = t }
        print rows[c, rank[int((n + 1) / 2)]]
      }
    }' "$base".r*.csv >"$base.csv"
  awk -F, '
    NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i
              printf "%6s %9s %12s %9s %9s %9s %9s %9s\n", "conc", "success%", "ops/s", "mean_ms", "p50_ms", "p95_ms", "p99_ms", "max_ms"; next }
    { printf "%6s %9s %12s %9s %9s %9s %9s %9s\n", $col["concurrency"], $col["success_pct"], $col["throughput_ops"], $col["mean_ms"], $col["p50_ms"], $col["p95_ms"], $col["p99_ms"], $col["max_ms"] }
  ' "$base.csv" >"$base.txt"
}

targets=("redis-always 127.0.0.1:$always_port")
if [ "$NOPERSIST" = 1 ]; then targets+=("redis-nopersist 127.0.0.1:$nopersist_port"); fi
targets+=("redis-wait2 127.0.0.1:$wait2_port")
if [ "$ours_ok" = 1 ]; then targets+=("ours $OURS"); fi
for workload in "${WORKLOADS[@]}"; do
  for round in $(seq 1 "$ROUNDS"); do
    for t in "${targets[@]}"; do
      read -r label addr <<<"$t"
      # Replication changes nothing for a read served by the primary.
      if [ "$label" = redis-wait2 ] && ! writes "$workload"; then continue; fi
      if [ "$label" = ours ]; then
        [ "$ours_ok" = 1 ] || continue
        # Ours may be mid-development: a failing run is reported, not fatal.
        if ! run_one "$label" "$addr" "$workload" "$round"; then
          ours_ok=0
          ours_why="kvload failed against $OURS (see above)"
          rm -f "$out"/ours-*.csv
        fi
      else
        run_one "$label" "$addr" "$workload" "$round"
      fi
    done
  done
done
for workload in "${WORKLOADS[@]}"; do
  for label in redis-always redis-nopersist redis-wait2 ours; do
    compgen -G "$out/$label-$workload.r*.csv" >/dev/null || continue
    if [ "$label" != ours ] || [ "$ours_ok" = 1 ]; then median_rows "$label" "$workload"; fi
  done
done

# ratio_table NUM_CSV DEN1_CSV DEN1_NAME [DEN2_CSV DEN2_NAME]: joins rows on
# concurrency; a throughput ratio > 1 means the numerator is faster, a p50
# ratio > 1 means it is slower.
ratio_table() {
  awk -F, -v num="$1" -v d1="$2" -v n1="$3" -v d2="${4:-}" -v n2="${5:-}" '
    FNR == 1 { for (i = 1; i <= NF; i++) col[FILENAME, $i] = i; next }
    {
      c = $col[FILENAME, "concurrency"]
      tput[FILENAME, c] = $col[FILENAME, "throughput_ops"]
      p50[FILENAME, c] = $col[FILENAME, "p50_ms"]
      if (FILENAME == num) order[++n] = c
    }
    function ratio(a, b) { return (a == "" || b == "" || b + 0 == 0) ? "-" : sprintf("%.2f", a / b) }
    END {
      printf "%6s %16s", "conc", "tput/" n1
      if (d2 != "") printf " %16s", "tput/" n2
      printf " %16s", "p50/" n1
      if (d2 != "") printf " %16s", "p50/" n2
      printf "\n"
      for (i = 1; i <= n; i++) {
        c = order[i]
        printf "%6s %16s", c, ratio(tput[num, c], tput[d1, c])
        if (d2 != "") printf " %16s", ratio(tput[num, c], tput[d2, c])
        printf " %16s", ratio(p50[num, c], p50[d1, c])
        if (d2 != "") printf " %16s", ratio(p50[num, c], p50[d2, c])
        printf "\n"
      }
    }' "$1" "$2" ${4:+"$4"}
}

# paired_ratios WORKLOAD: per level, the median over rounds of ours / redis-always
# (and of ours / redis-wait2, where that baseline ran) throughput taken within
# each round (the runs minutes apart at most, so a slow or fast spell of this
# VM mostly cancels out), with the rounds' range;
# and each target's scaling: per round, a level's throughput over the lowest
# level's, median over rounds.
paired_ratios() {
  awk -F, -v rounds="$ROUNDS" '
    FNR == 1 {
      for (i = 1; i <= NF; i++) col[$i] = i
      f = FILENAME; sub(/.*\//, "", f)
      label = f; sub(/-[a-z_0-9]+\.r[0-9]+\.csv$/, "", label)
      round = f; sub(/.*\.r/, "", round); sub(/\.csv$/, "", round)
      next
    }
    {
      c = $col["concurrency"]
      if (!(c in seen)) { seen[c] = 1; order[++levels] = c }
      tput[label, round, c] = $col["throughput_ops"] + 0
      if (label == "redis-wait2") wait2 = 1
    }
    function median(list, n,    i, j, t) {
      for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
        if (list[j] < list[i]) { t = list[i]; list[i] = list[j]; list[j] = t }
      return list[int((n + 1) / 2)]
    }
    function spread(label, against, c, base,    r, n, v, lo, hi) {
      n = 0
      for (r = 1; r <= rounds; r++) {
        if (against == "") {
          if (tput[label, r, c] == "" || tput[label, r, base] + 0 == 0) continue
          v = tput[label, r, c] / tput[label, r, base]
        } else {
          if (tput[label, r, c] == "" || tput[against, r, c] + 0 == 0) continue
          v = tput[label, r, c] / tput[against, r, c]
        }
        list[++n] = v
        if (n == 1 || v < lo) lo = v
        if (n == 1 || v > hi) hi = v
      }
      return n == 0 ? "-" : sprintf("%.2f (%.2f-%.2f)", median(list, n), lo, hi)
    }
    END {
      printf "%6s %24s %24s %24s", "conc", "ours/always paired", "ours scaling", "always scaling"
      if (wait2) printf " %24s", "ours/wait2 paired"
      printf "\n"
      for (l = 1; l <= levels; l++) {
        c = order[l]
        printf "%6s %24s %24s %24s", c, spread("ours", "redis-always", c, order[1]),
          spread("ours", "", c, order[1]), spread("redis-always", "", c, order[1])
        if (wait2) printf " %24s", spread("ours", "redis-wait2", c, order[1])
        printf "\n"
      }
    }' "$out"/ours-"$1".r*.csv "$out"/redis-always-"$1".r*.csv \
    $(compgen -G "$out/redis-wait2-$1.r*.csv" || true)
}

echo
echo "################ summary ################"
echo "redis: $(redis-server --version | head -n 1)"
if [ "${WORKLOADS[*]}" != "set get" ]; then echo "workloads: ${WORKLOADS[*]}"; fi
echo "kvload: LEVELS=$LEVELS REQUESTS=$REQUESTS KEYS=$KEYS VALUE_SIZE=$VALUE_SIZE PIPELINE=$PIPELINE ROUNDS=$ROUNDS (median round per level)"
for workload in "${WORKLOADS[@]}"; do
  case $workload in
    rpop | zpopmin) echo "$workload: each run preloads $(keys_for "$workload") elements (--keys)" ;;
  esac
done
for workload in "${WORKLOADS[@]}"; do
  for label in redis-always redis-nopersist redis-wait2 ours; do
    [ -f "$out/$label-$workload.csv" ] || continue
    echo
    echo "== $label $workload =="
    cat "$out/$label-$workload.txt"
  done
done
for workload in "${WORKLOADS[@]}"; do
  echo
  if [ "$ours_ok" = 1 ]; then
    echo "== ratios $workload: ours / redis (tput > 1: ours faster; p50 > 1: ours slower) =="
    if [ "$NOPERSIST" = 1 ]; then
      ratio_table "$out/ours-$workload.csv" \
        "$out/redis-always-$workload.csv" always \
        "$out/redis-nopersist-$workload.csv" nopersist
    else
      ratio_table "$out/ours-$workload.csv" "$out/redis-always-$workload.csv" always
    fi
    if [ -f "$out/redis-wait2-$workload.csv" ]; then
      echo "== ratios $workload: ours / redis-wait2 (a primary and two replicas, write + WAIT 2) =="
      ratio_table "$out/ours-$workload.csv" "$out/redis-wait2-$workload.csv" wait2
    fi
    echo "== paired by round, $workload: median over rounds (range); scaling = throughput / throughput at ${LEVELS%%,*} clients =="
    paired_ratios "$workload"
  elif [ "$NOPERSIST" = 1 ]; then
    echo "== ratios $workload: redis-always / redis-nopersist (the price of fsync=always) =="
    ratio_table "$out/redis-always-$workload.csv" \
      "$out/redis-nopersist-$workload.csv" nopersist
  fi
done
echo
if [ "$ours_ok" = 1 ]; then
  echo "ours: $OURS"
else
  echo "ours: not reachable: $ours_why; compared the two Redis modes only"
fi
echo "results: $out"
