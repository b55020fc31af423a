# Shared by the recording scripts (sourced, not run). Each script records one traffic
# shape inside network namespaces of its own with tcpdump until the capture reaches $SIZE,
# then stops every process it started (by PID), deletes its namespaces and fails if tcpdump
# reports a packet dropped by the kernel.
#
# Environment: SIZE (default per shape, e.g. 200MB; 1000MB for memory runs), OUT (capture
# path; default bench/data/<shape>-<SIZE>.pcap), TIMEOUT (seconds to reach SIZE, default
# 900), MTU (of lo, default 1500: segments of wire size, as a capture off an Ethernet link
# has; 65536 records loopback's own 64 KB segments), KEEP_LOGS=1 keeps the process logs.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
: "${TIMEOUT:=900}"
: "${MTU:=1500}"
NAMESPACES=()
SERVER_PIDS=()
CLIENT_PIDS=()
OTHER_PIDS=()
TCPDUMP_PID=
OK=0

log() { printf '%s %s: %s\n' "$(date +%T)" "$SHAPE" "$*" >&2; }
die() {
  log "FAILED: $*"
  exit 1
}

# 200MB -> 200000000 (decimal units, as npm run gen counts them).
parse_size() {
  local s=${1^^}
  [[ $s =~ ^([0-9]+)(K|M|G)?B?$ ]] || die "not a size: $1 (e.g. 200MB, 1GB)"
  local n=${BASH_REMATCH[1]}
  case ${BASH_REMATCH[2]} in K) n=$((n * 1000)) ;; M) n=$((n * 1000000)) ;; G) n=$((n * 1000000000)) ;; esac
  echo "$n"
}

setup() {
  SHAPE=$1
  : "${SIZE:=$2}"
  TARGET=$(parse_size "$SIZE")
  [ "$(id -u)" = 0 ] || die "needs root (ip netns, tcpdump)"
  for tool in ip tcpdump node; do command -v "$tool" > /dev/null || die "$tool is not installed"; done
  mkdir -p "$root/bench/data"
  : "${OUT:=$root/bench/data/$SHAPE-$SIZE.pcap}"
  PART="$OUT.part"
  LOGS=$(mktemp -d "/tmp/sockstat-bench-$SHAPE.XXXXXX")
  STARTED=$(date +%s%N)
  trap cleanup EXIT
  trap 'die "interrupted"' INT TERM
  # Ports, fds: every process started from here inherits these.
  ulimit -n "$(ulimit -Hn)"
}

# ns_create NAME: a namespace with only lo, up, at $MTU. With MTU 1500 the kernel must not
# hand lo one 64 KB GSO packet per send either: gso_max_segs 1 cuts at the MSS.
ns_create() {
  local ns=$1
  ip netns add "$ns" || die "ip netns add $ns"
  NAMESPACES+=("$ns")
  ip netns exec "$ns" ip link set lo mtu "$MTU"
  if [ "$MTU" -le 9000 ]; then ip netns exec "$ns" ip link set lo gso_max_segs 1 gso_max_size "$MTU"; fi
  ip netns exec "$ns" ip link set lo up
  # 100,000s of short connections: every local port, and TIME_WAIT reuse for outgoing ones.
  ip netns exec "$ns" sysctl -q -w net.ipv4.ip_local_port_range="1024 65535" net.ipv4.tcp_tw_reuse=1
}

# run_bg ROLE NS LOGNAME CMD...: starts CMD in NS (ip netns exec execs it: $! is its PID).
run_bg() {
  local role=$1 ns=$2 name=$3
  shift 3
  ip netns exec "$ns" "$@" > "$LOGS/$name.log" 2>&1 &
  case $role in server) SERVER_PIDS+=($!) ;; client) CLIENT_PIDS+=($!) ;; *) OTHER_PIDS+=($!) ;; esac
  log "started $name (pid $!)"
}

# wait_line LOGNAME PATTERN [SECONDS]
wait_line() {
  local i
  for ((i = 0; i < ${3:-10} * 10; i++)); do
    grep -q -- "$2" "$LOGS/$1.log" 2> /dev/null && return 0
    sleep 0.1
  done
  tail -n 20 "$LOGS/$1.log" >&2 || true
  die "$1 did not print '$2' within ${3:-10} s"
}

# capture NS IFACE: tcpdump into $PART, started before any traffic so handshakes are in it.
capture() {
  ip netns exec "$1" tcpdump -i "$2" -B 262144 -s 262144 -w "$PART" > "$LOGS/tcpdump.log" 2>&1 &
  TCPDUMP_PID=$!
  wait_line tcpdump 'listening on' 10
  log "tcpdump on $2 in $1 (pid $TCPDUMP_PID), until $SIZE"
}

alive() { kill -0 "$1" 2> /dev/null; }

# stop_pid PID [SECONDS]: SIGTERM, then SIGKILL after SECONDS; reaps it.
stop_pid() {
  local pid=$1 i
  alive "$pid" || {
    wait "$pid" 2> /dev/null || true
    return 0
  }
  kill -TERM "$pid" 2> /dev/null || true
  for ((i = 0; i < ${2:-5} * 10; i++)); do
    alive "$pid" || break
    sleep 0.1
  done
  alive "$pid" && kill -KILL "$pid" 2> /dev/null || true
  wait "$pid" 2> /dev/null || true
}

# Waits until the capture reaches $TARGET bytes; fails if a process died or $TIMEOUT passed.
wait_size() {
  local start=$SECONDS size=0 last=0 pid
  while :; do
    size=$(stat -c %s "$PART" 2> /dev/null || echo 0)
    [ "$size" -ge "$TARGET" ] && break
    ((SECONDS - start < TIMEOUT)) || die "only $size of $TARGET bytes after $TIMEOUT s (TIMEOUT=...)"
    for pid in "$TCPDUMP_PID" "${SERVER_PIDS[@]}" "${CLIENT_PIDS[@]}" "${OTHER_PIDS[@]}"; do
      alive "$pid" || {
        tail -n 20 "$LOGS"/*.log >&2 || true
        die "process $pid ended early"
      }
    done
    if ((SECONDS - last >= 10)); then
      last=$SECONDS
      log "$((size / 1000000)) of $((TARGET / 1000000)) MB"
    fi
    sleep 0.2
  done
}

# Stops the load (clients close their connections while still captured), then tcpdump, then
# the servers; checks tcpdump's drop count and writes <capture>.json next to the capture.
finish() {
  local pid
  for pid in "${CLIENT_PIDS[@]}"; do stop_pid "$pid" 6; done
  sleep 0.5
  kill -INT "$TCPDUMP_PID" 2> /dev/null || true
  wait "$TCPDUMP_PID" 2> /dev/null || true
  for pid in "${SERVER_PIDS[@]}" "${OTHER_PIDS[@]}"; do stop_pid "$pid" 3; done
  local ms dropped captured syns bytes
  ms=$((($(date +%s%N) - STARTED) / 1000000))
  grep -E 'packets (captured|received|dropped)' "$LOGS/tcpdump.log" | sed 's/^/  tcpdump: /' >&2
  captured=$(sed -nE 's/^([0-9]+) packets captured.*/\1/p' "$LOGS/tcpdump.log")
  dropped=$(sed -nE 's/^([0-9]+) packets dropped by kernel.*/\1/p' "$LOGS/tcpdump.log")
  [ -n "$dropped" ] && [ -n "$captured" ] || die "no packet counts from tcpdump (see $LOGS/tcpdump.log)"
  [ "$dropped" = 0 ] || die "tcpdump: $dropped packets dropped by kernel (machine too busy? lower the rates, or retry)"
  # Connections opened in the capture: SYNs without ACK (retransmitted SYNs count twice).
  syns=$(tcpdump -r "$PART" -nn 'tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn' 2> /dev/null | wc -l)
  bytes=$(stat -c %s "$PART")
  {
    printf '{"shape":"%s","size":"%s","bytes":%s,"packets":%s,"dropped":%s,"syns":%s,"mtu":%s,"seconds":%s,"recorded":"%s"' \
      "$SHAPE" "$SIZE" "$bytes" "$captured" "$dropped" "$syns" "$MTU" "$(awk "BEGIN{printf \"%.1f\", $ms/1000}")" "$(date -u +%FT%TZ)"
    local f line
    for f in "$LOGS"/*.log; do
      line=$(grep -E '^(client|server|impair): \{' "$f" | tail -n 1 || true)
      [ -n "$line" ] && printf ',"%s":%s' "$(basename "$f" .log)" "${line#*: }"
    done
    printf '}\n'
  } > "$OUT.json"
  mv "$PART" "$OUT"
  OK=1
  log "done: $OUT ($((bytes / 1000000)) MB, $captured packets, $syns SYNs, $dropped dropped, $((ms / 1000)) s)"
  cat "$OUT.json"
}

cleanup() {
  local pid ns
  for pid in "${CLIENT_PIDS[@]}" "${SERVER_PIDS[@]}" "${OTHER_PIDS[@]}" $TCPDUMP_PID; do stop_pid "$pid" 2; done
  for ns in "${NAMESPACES[@]}"; do
    # Anything still in our own namespace was started by this script.
    for pid in $(ip netns pids "$ns" 2> /dev/null); do kill -KILL "$pid" 2> /dev/null || true; done
    ip netns del "$ns" 2> /dev/null || true
  done
  if [ "$OK" = 1 ] && [ -z "${KEEP_LOGS:-}" ]; then
    rm -rf "$LOGS"
  else
    rm -f "$PART"
    [ -d "${LOGS:-}" ] && log "logs kept in $LOGS"
  fi
}
