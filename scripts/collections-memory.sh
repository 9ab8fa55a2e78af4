#!/usr/bin/env bash
# Measures what big collections cost our cluster: the resident memory of
# every node (coordinator and three participants) while a hash of FIELDS
# fields, a set of as many members, a list of as many elements and a sorted
# set of as many members are loaded through the coordinator, one after the
# other, and after; and how long HGETALL of a HGETALL_FIELDS-field hash
# takes, as a client sees it.
#
# The issue's targets: every node under 300 MB RSS with a 1M-field hash and a
# 1M-member set loaded, and again with a 1M-element list and a 1M-member
# sorted set; HGETALL of 10k fields under 50 ms.
#
# The cluster is started fresh by this script, from configs written into a
# temporary directory on free ports (scripts/lib/private-cluster.sh: the same
# settings as conf/*.conf, fsync always, one worker thread per node), so it
# never touches a cluster someone else runs on 8001-8004; it is stopped (by
# PID) and its data deleted at the end.
#
# Loading is pipelined: `redis-cli --pipe` of HSET / SADD / RPUSH / ZADD
# commands carrying BATCH fields, members or elements each (the sorted set's
# member m:I scored I). Memory comes from /proc/PID/status: VmRSS sampled
# every 200 ms during the load (its maximum while each collection loads is
# that collection's "max" column, the earlier ones still held), VmRSS after
# the load and again after the HGETALL runs, and VmHWM, the kernel's peak.
# HGETALL is timed with a raw socket (python3): send the command, read
# until the whole reply is in; the median of HGETALL_RUNS runs after two
# warm-up runs. The same HGETALL against a redis-server (no persistence) is
# printed beside it when redis-server is installed.
#
# Usage: scripts/collections-memory.sh
# Environment:
#   FIELDS=1000000        fields, members or elements of each big collection
#   COLLECTIONS="hash set list zset"
#                         which big collections to load, in this order
#   BATCH=1000            fields, members or elements per command
#   VALUE_SIZE=16         hash value and list element size in bytes
#   HGETALL_FIELDS=10000  fields of the hash HGETALL reads
#   HGETALL_RUNS=20       timed HGETALL runs (the median is reported)
#   SKIP_BUILD=1          use the already-built release binary
#   MEM_TMP=target        where the cluster's directory goes (on disk)
#   KEEP=1                keep the cluster's directory (configs, logs, data)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

FIELDS=${FIELDS:-1000000}
read -r -a COLLECTIONS <<<"${COLLECTIONS:-hash set list zset}"
BATCH=${BATCH:-1000}
VALUE_SIZE=${VALUE_SIZE:-16}
HGETALL_FIELDS=${HGETALL_FIELDS:-10000}
HGETALL_RUNS=${HGETALL_RUNS:-20}

log() { echo "collections-memory: $*" >&2; }
die() { log "$*"; exit 1; }

for kind in "${COLLECTIONS[@]}"; do
  case $kind in hash | set | list | zset) ;; *) die "unknown collection $kind in COLLECTIONS (hash set list zset)" ;; esac
done
for tool in redis-cli python3 awk; do
  command -v "$tool" >/dev/null || die "$tool not found"
done
if [ "${SKIP_BUILD:-}" != 1 ]; then
  log "building (cargo build --release --bin kvstore2pcsystem)"
  cargo build --release --quiet --bin kvstore2pcsystem
fi
bin=${CARGO_TARGET_DIR:-$root/target}/release/kvstore2pcsystem
[ -x "$bin" ] || die "$bin not built"

mem_tmp=${MEM_TMP:-$root/target}
mkdir -p "$mem_tmp"
dir=$(mktemp -d "$mem_tmp/collections-memory.XXXXXX")

# shellcheck source=scripts/lib/private-cluster.sh
. "$root/scripts/lib/private-cluster.sh"
nodes=("${cluster_nodes[@]}")
sampler_pid=""
redis_pid=""
cleanup() {
  for p in "$sampler_pid" "$redis_pid"; do
    if [ -n "$p" ]; then
      kill "$p" 2>/dev/null || true
      wait "$p" 2>/dev/null || true
    fi
  done
  cluster_stop
  if [ "${KEEP:-}" = 1 ]; then log "kept $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cluster_start "$bin" "$dir" 1
coord=$cluster_port
redis_port=${cluster_spare[0]}
declare -A pid
for n in "${nodes[@]}"; do pid[$n]=${cluster_pid[$n]}; done
log "cluster up: coordinator 127.0.0.1:$coord (pid ${pid[coordinator]}), participants' pids ${pid[participant1]} ${pid[participant2]} ${pid[participant3]}"

# status_kb PID FIELD: a /proc/PID/status value in kB.
status_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }

# Samples every node's VmRSS every 200 ms into $dir/samples (phase node
# kB), the phase being what $dir/phase names: the collection loading.
echo start >"$dir/phase"
sample() {
  local n phase
  while :; do
    phase=$(cat "$dir/phase")
    for n in "${nodes[@]}"; do
      echo "$phase $n $(status_kb "${pid[$n]}" VmRSS)"
    done >>"$dir/samples"
    sleep 0.2
  done
}
sample &
sampler_pid=$!

# protocol KIND KEY COUNT: RESP for KIND (hash, set, list or zset) KEY with
# COUNT fields f:0.. / members m:0.. (scored 0..) / elements, BATCH per
# command.
protocol() {
  awk -v kind="$1" -v key="$2" -v count="$3" -v batch="$BATCH" -v vsize="$VALUE_SIZE" '
    function bulk(s) { printf "$%d\r\n%s\r\n", length(s), s }
    BEGIN {
      value = sprintf("%0" vsize "d", 0)
      for (start = 0; start < count; start += batch) {
        n = (count - start < batch) ? count - start : batch
        if (kind == "hash") { printf "*%d\r\n", 2 + 2 * n; bulk("HSET") }
        else if (kind == "set") { printf "*%d\r\n", 2 + n; bulk("SADD") }
        else if (kind == "list") { printf "*%d\r\n", 2 + n; bulk("RPUSH") }
        else { printf "*%d\r\n", 2 + 2 * n; bulk("ZADD") }
        bulk(key)
        for (i = start; i < start + n; i++) {
          if (kind == "hash") { bulk("f:" i); bulk(value) }
          else if (kind == "set") bulk("m:" i)
          else if (kind == "list") bulk(value)
          else { bulk(i); bulk("m:" i) }
        }
      }
    }'
}

# load PORT KIND KEY COUNT: pipes the protocol in; prints the seconds taken.
load() {
  local start end out
  start=$(date +%s.%N)
  out=$(protocol "$2" "$3" "$4" | redis-cli -p "$1" --pipe 2>&1) || die "loading $3: $out"
  end=$(date +%s.%N)
  grep -q 'errors: 0,' <<<"$out" || die "loading $3: $out"
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }'
}

# count KIND KEY: the collection's size as the coordinator reports it.
count() {
  case $1 in
    hash) redis-cli -p "$coord" hlen "$2" ;;
    set) redis-cli -p "$coord" scard "$2" ;;
    list) redis-cli -p "$coord" llen "$2" ;;
    zset) redis-cli -p "$coord" zcard "$2" ;;
  esac
}

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
log "loading ${COLLECTIONS[*]} of $FIELDS each, $BATCH per command (load average $load_start)"
declare -A load_s
for kind in "${COLLECTIONS[@]}"; do
  echo "$kind" >"$dir/phase"
  load_s[$kind]=$(load "$coord" "$kind" "coll:$kind" "$FIELDS")
  got=$(count "$kind" "coll:$kind")
  [ "$got" = "$FIELDS" ] || die "coll:$kind holds $got, not $FIELDS"
  log "coll:$kind: $FIELDS loaded in ${load_s[$kind]}s"
done
kill "$sampler_pid"
wait "$sampler_pid" 2>/dev/null || true
sampler_pid=""
declare -A after_load
for n in "${nodes[@]}"; do after_load[$n]=$(status_kb "${pid[$n]}" VmRSS); done

# hgetall_ms PORT KEY: median, min and max ms of HGETALL_RUNS HGETALLs.
hgetall_ms() {
  python3 - "$1" "$2" "$HGETALL_RUNS" <<'EOF'
import socket, statistics, sys, time

port, key, runs = int(sys.argv[1]), sys.argv[2].encode(), int(sys.argv[3])
s = socket.create_connection(("127.0.0.1", port))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
req = b"*2\r\n$7\r\nHGETALL\r\n$%d\r\n%s\r\n" % (len(key), key)

def reply_len(buf):
    """Length of the complete array reply at the start of buf, or None."""
    end = buf.find(b"\r\n")
    if end < 0:
        return None
    if buf[:1] != b"*":
        sys.exit("unexpected reply: %r" % buf[:80])
    count, pos = int(buf[1:end]), end + 2
    for _ in range(count):
        end = buf.find(b"\r\n", pos)
        if end < 0:
            return None
        pos = end + 2 + int(buf[pos + 1:end]) + 2
    return pos if pos <= len(buf) else None

def read_reply(size=None):
    buf = bytearray()
    while True:
        chunk = s.recv(1 << 20)
        if not chunk:
            sys.exit("connection closed")
        buf += chunk
        # The reply's size is known after the first run (the hash does not
        # change), so timed runs only count bytes instead of parsing.
        if size is not None and len(buf) >= size:
            return buf
        if size is None and reply_len(buf) is not None:
            return buf

s.sendall(req)
size = reply_len(read_reply())
times = []
for i in range(2 + runs):
    start = time.perf_counter()
    s.sendall(req)
    buf = read_reply(size)
    elapsed = time.perf_counter() - start
    if len(buf) != size or reply_len(bytes(buf)) != size:
        sys.exit("reply of %d bytes, expected %d" % (len(buf), size))
    if i >= 2:
        times.append(elapsed * 1000)
print("%.2f %.2f %.2f %d" % (statistics.median(times), min(times), max(times), size))
EOF
}

log "timing HGETALL of a $HGETALL_FIELDS-field hash, $HGETALL_RUNS runs"
load "$coord" hash coll:small "$HGETALL_FIELDS" >/dev/null
read -r ours_med ours_min ours_max ours_bytes <<<"$(hgetall_ms "$coord" coll:small)"
declare -A after_hgetall hwm
for n in "${nodes[@]}"; do
  after_hgetall[$n]=$(status_kb "${pid[$n]}" VmRSS)
  hwm[$n]=$(status_kb "${pid[$n]}" VmHWM)
done

redis_line="redis-server not installed"
if command -v redis-server >/dev/null; then
  redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$dir" --logfile "$dir/redis.log" --daemonize no &
  redis_pid=$!
  for _ in $(seq 1 100); do
    [ "$(redis-cli -p "$redis_port" ping 2>/dev/null)" = PONG ] && break
    sleep 0.1
  done
  load "$redis_port" hash coll:small "$HGETALL_FIELDS" >/dev/null
  read -r r_med r_min r_max _ <<<"$(hgetall_ms "$redis_port" coll:small)"
  redis_line="$(redis-server --version | awk '{ print $3 }') (no persistence): median $r_med ms (min $r_min, max $r_max)"
fi

mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
echo
echo "== memory: ${COLLECTIONS[*]} of $FIELDS each (${VALUE_SIZE}-byte hash values and list elements), $BATCH per command =="
loaded="loaded in"
for kind in "${COLLECTIONS[@]}"; do loaded+=" ${load_s[$kind]}s ($kind)"; done
echo "$loaded; RSS in MB, \"KIND max\": the most while KIND loaded (those before it still held)"
printf "%-13s %8s" node pid
for kind in "${COLLECTIONS[@]}"; do printf " %10s" "$kind max"; done
printf " %11s %13s %9s\n" "after load" "after HGETALL" "VmHWM"
worst=0
for n in coordinator participant1 participant2 participant3; do
  printf "%-13s %8s" "$n" "${pid[$n]}"
  for kind in "${COLLECTIONS[@]}"; do
    printf " %10s" "$(mb "$(awk -v p="$kind" -v n="$n" '$1 == p && $2 == n && $3 > m { m = $3 } END { print m + 0 }' "$dir/samples")")"
  done
  printf " %11s %13s %9s\n" "$(mb "${after_load[$n]}")" "$(mb "${after_hgetall[$n]}")" "$(mb "${hwm[$n]}")"
  [ "${hwm[$n]}" -gt "$worst" ] && worst=${hwm[$n]}
done
echo "peak RSS of the largest node: $(mb "$worst") MB (target: under 300 MB)"
echo
echo "== HGETALL of $HGETALL_FIELDS fields, $HGETALL_RUNS runs, client-side =="
echo "ours: median $ours_med ms (min $ours_min, max $ours_max), reply $ours_bytes bytes (target: under 50 ms)"
echo "redis: $redis_line"
echo "load average: $load_start before the load, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
