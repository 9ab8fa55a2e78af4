#!/usr/bin/env bash
# Holds one sorted set under a job queue's load for DURATION seconds and
# says whether throughput holds up: CLIENTS/2 producers add jobs
# (`ZADD myzset S element:N`, S and N uniform in 0..SCORES: kvload's zadd,
# redis-benchmark's ZADD test) while CLIENTS/2 consumers take the lowest
# (`ZPOPMIN myzset`: kvload's zpopmin, redis-benchmark's ZPOPMIN test), on
# a set preloaded with PRELOAD members (element:I scored I).
#
# The trap it watches for (apache/kvrocks#494): each pop deletes the lowest
# entry of the score index, and in an LSM tree a delete is a tombstone
# until compaction drops it; a pop that reads the index from its start
# steps over every tombstone still there, so pops slow down as the run
# goes on. Target: the last slice's throughput at least 0.8 x the first's.
#
# The run is SLICES slices of DURATION/SLICES seconds, each a pair of
# kvload runs started together (producers and consumers; kvload seeds
# worker w of a run with --seed + w, so each slice's --seed is a million
# apart and no slice repeats another's members and scores). Per slice: ZADD
# and ZPOPMIN ops/s and their sum, ZPOPMIN p50 and p99 in ms, pops that
# found the set empty, ZCARD myzset afterwards, the first participant's
# data directory size, the CPU time the three participants used per
# request (from /proc/PID/stat: what tombstones cost shows there even when
# other work on a shared machine moves the throughput), and the 1-minute
# load average. At the end: last slice / first slice of the sum, of the
# pops, of the pop p50 and of the CPU per request.
#
# Our cluster is started fresh on free ports (scripts/lib/private-cluster.sh:
# the conf/ settings, fsync always, one worker thread per node), stopped by
# PID and deleted at the end; OURS=HOST:PORT loads a running server instead
# (it must not hold myzset: the run deletes it first).
#
# Usage: scripts/zset-hold.sh
# Environment:
#   DURATION=600       seconds under load
#   SLICES=10          how many slices the run is measured in
#   CLIENTS=50         connections, half ZADD and half ZPOPMIN
#   PRELOAD=100000     members in myzset before the run
#   SCORES=1000000000  ZADD's score and member number range (kvload's
#                      --keys for zadd); much larger than the set, so a ZADD
#                      almost never rescores a member still queued: with
#                      SCORES=1000000 and 100 000 members, one ZADD in ten
#                      did, and the set drained in minutes
#   OURS=HOST:PORT     load this server instead of a private cluster
#   SKIP_BUILD=1       use the already-built release binaries
#   HOLD_TMP=target    where the cluster's directory and results go (on disk)
#   KEEP=1             keep the cluster's directory (configs, logs, data)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

DURATION=${DURATION:-600}
SLICES=${SLICES:-10}
CLIENTS=${CLIENTS:-50}
PRELOAD=${PRELOAD:-100000}
SCORES=${SCORES:-1000000000}

log() { echo "zset-hold: $*" >&2; }
die() { log "$*"; exit 1; }

[ "$CLIENTS" -ge 2 ] || die "CLIENTS must be at least 2 (half add, half pop)"
[ "$SLICES" -ge 2 ] || die "SLICES must be at least 2 (last / first)"
slice=$(awk -v d="$DURATION" -v n="$SLICES" 'BEGIN { printf "%.3f", d / n }')
producers=$((CLIENTS / 2))
consumers=$((CLIENTS - producers))
for tool in redis-cli python3 awk; do
  command -v "$tool" >/dev/null || die "$tool not found"
done
if [ "${SKIP_BUILD:-}" != 1 ]; then
  log "building (cargo build --release --bins)"
  cargo build --release --quiet --bins
fi
target=${CARGO_TARGET_DIR:-$root/target}/release
for b in kvstore2pcsystem kvload; do [ -x "$target/$b" ] || die "$target/$b not built"; done

hold_tmp=${HOLD_TMP:-$root/target}
mkdir -p "$hold_tmp"
dir=$(mktemp -d "$hold_tmp/zset-hold.XXXXXX")

# shellcheck source=scripts/lib/private-cluster.sh
. "$root/scripts/lib/private-cluster.sh"
load_pids=()
cleanup() {
  local p
  for p in "${load_pids[@]}"; do
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  cluster_stop
  if [ "${KEEP:-}" = 1 ]; then log "kept $dir"; else rm -rf "$dir"/*-data; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -n "${OURS:-}" ]; then
  addr=$OURS
  data_dir=""
  log "loading $addr (not started here)"
else
  cluster_start "$target/kvstore2pcsystem" "$dir"
  addr=127.0.0.1:$cluster_port
  data_dir=$dir/participant1-data
  log "cluster up: coordinator $addr (pid ${cluster_pid[coordinator]}), participants' pids ${cluster_pid[participant1]} ${cluster_pid[participant2]} ${cluster_pid[participant3]}"
fi
port=${addr##*:}
host=${addr%:*}
cli() { redis-cli -h "$host" -p "$port" "$@"; }

cli del myzset >/dev/null
# The preload is kvload's own (ZADD of 100 members per command); its one
# measured request pops one of them.
"$target/kvload" --addr "$addr" --workload zpopmin --preload --keys "$PRELOAD" \
  --requests 1 --concurrency 1 --quiet >/dev/null
log "preloaded myzset: ZCARD $(cli zcard myzset)"

# csv_field FILE COLUMN: COLUMN of the one data row of a kvload CSV.
csv_field() {
  awk -F, -v c="$2" 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next } { print $col[c] }' "$1"
}

log "$DURATION s in $SLICES slices of $slice s: $producers clients ZADD (scores 0..$SCORES), $consumers clients ZPOPMIN"
# cpu_ticks: clock ticks of CPU the three participants have used so far
# (utime + stime), or 0 when loading a server this script did not start.
cpu_ticks() {
  local n total=0 stat
  if [ -z "$data_dir" ]; then echo 0; return; fi
  for n in participant1 participant2 participant3; do
    stat=$(cat "/proc/${cluster_pid[$n]}/stat")
    # Fields after the command name (which is in parentheses).
    read -r -a f <<<"${stat##*) }"
    total=$((total + f[11] + f[12]))
  done
  echo "$total"
}
hz=$(getconf CLK_TCK)

printf "%6s %9s %9s %9s %8s %8s %7s %8s %8s %9s %6s\n" \
  slice "zadd/s" "zpopmin/s" "total/s" "pop p50" "pop p99" "empty" "zcard" "p1 MB" "cpu us/op" load
results=$dir/slices.txt
: >"$results"
for i in $(seq 1 "$SLICES"); do
  ticks_before=$(cpu_ticks)
  load_pids=()
  "$target/kvload" --addr "$addr" --workload zadd --keys "$SCORES" \
    --concurrency "$producers" --duration "${slice}s" --seed "$((i * 1000000))" --quiet \
    --csv "$dir/zadd.$i.csv" >/dev/null &
  load_pids+=($!)
  "$target/kvload" --addr "$addr" --workload zpopmin --keys "$PRELOAD" \
    --concurrency "$consumers" --duration "${slice}s" --seed "$((i * 1000000 + 500000))" --quiet \
    --csv "$dir/zpopmin.$i.csv" >/dev/null &
  load_pids+=($!)
  for p in "${load_pids[@]}"; do wait "$p" || die "kvload failed in slice $i"; done
  load_pids=()
  adds=$(csv_field "$dir/zadd.$i.csv" throughput_ops)
  pops=$(csv_field "$dir/zpopmin.$i.csv" throughput_ops)
  p50=$(csv_field "$dir/zpopmin.$i.csv" p50_ms)
  p99=$(csv_field "$dir/zpopmin.$i.csv" p99_ms)
  empty=$(csv_field "$dir/zpopmin.$i.csv" misses)
  errors=$(($(csv_field "$dir/zadd.$i.csv" errors) + $(csv_field "$dir/zpopmin.$i.csv" errors)))
  [ "$errors" = 0 ] || log "slice $i: $errors failed requests"
  ticks=$(($(cpu_ticks) - ticks_before))
  zcard=$(cli zcard myzset)
  disk=-
  if [ -n "$data_dir" ]; then disk=$(du -sm "$data_dir" | cut -f1); fi
  loadavg=$(cut -d' ' -f1 /proc/loadavg)
  total=$(awk -v a="$adds" -v b="$pops" 'BEGIN { printf "%.0f", a + b }')
  # CPU the participants spent per request: what tombstones cost shows
  # here even when other work on the machine moves the throughput.
  cpu=$(awk -v t="$ticks" -v hz="$hz" -v ops="$total" -v s="$slice" \
    'BEGIN { if (t == 0 || ops == 0) print "-"; else printf "%.0f", t / hz * 1e6 / (ops * s) }')
  echo "$i $adds $pops $total $p50 $p99 $empty $zcard $disk $loadavg $cpu" >>"$results"
  printf "%6s %9.0f %9.0f %9s %8s %8s %7s %8s %8s %9s %6s\n" \
    "$i" "$adds" "$pops" "$total" "$p50" "$p99" "$empty" "$zcard" "$disk" "$cpu" "$loadavg"
done

awk -v slices="$SLICES" '
  NR == 1 { t1 = $4; p1 = $3; l1 = $5; c1 = $11 }
  NR == slices { tn = $4; pn = $3; ln = $5; cn = $11 }
  function r(a, b) { return (b + 0 == 0 || a == "-") ? "-" : sprintf("%.2f", a / b) }
  END {
    printf "\nlast / first slice: total %s, zpopmin %s, zpopmin p50 %s, participant CPU per request %s\n", r(tn, t1), r(pn, p1), r(ln, l1), r(cn, c1)
    verdict = (t1 + 0 > 0 && tn / t1 >= 0.8) ? "met" : "NOT met"
    printf "target (total of the last slice >= 0.8 x the first): %s\n", verdict
  }' "$results"
echo "results: $results"
