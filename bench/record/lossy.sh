#!/usr/bin/env bash
# Shape 5, lossy: mixed load (keep-alive Ajax polling, WebSocket request/response, an SSE
# firehose, and new connections) between two namespaces joined by impair.py, a userspace
# bridge between a TUN device in each that drops ~1%, duplicates ~0.5% and delays past later
# packets ~1% of packets either way (fixed seed). Captured on the server's TUN device (raw
# IP link type): what was lost on the way in is missing there, what was lost on the way out
# is retransmitted.
# Usage: [SIZE=20MB] [LOSS=0.01 DUP=0.005 REORDER=0.01] [OUT=...] bench/record/lossy.sh
source "$(dirname "$0")/lib.sh"
setup lossy 20MB
command -v python3 > /dev/null || die "python3 is not installed"
[ -c /dev/net/tun ] || die "no /dev/net/tun"
client_ns=sockstat-bench-$$-client
server_ns=sockstat-bench-$$-server
ns_create "$client_ns"
ns_create "$server_ns"
tun_c=sbc$$
tun_s=sbs$$
run_bg other "$client_ns" impair python3 "$here/impair.py" --ns-a "$client_ns" --tun-a "$tun_c" --ns-b "$server_ns" --tun-b "$tun_s" \
  --loss "${LOSS:-0.01}" --dup "${DUP:-0.005}" --reorder "${REORDER:-0.01}" --seed "${SEED:-1}" --duration "$((TIMEOUT + 60))"
wait_line impair ready
ip netns exec "$client_ns" ip addr add 10.201.0.1 peer 10.201.0.2 dev "$tun_c"
ip netns exec "$client_ns" ip link set "$tun_c" up
ip netns exec "$server_ns" ip addr add 10.201.0.2 peer 10.201.0.1 dev "$tun_s"
ip netns exec "$server_ns" ip link set "$tun_s" up
capture "$server_ns" "$tun_s"
run_bg server "$server_ns" server node "$here/server.mjs" --host 10.201.0.2 --port 8080 --duration "$TIMEOUT" --sse-rate "${SSE_RATE:-1e6}"
wait_line server listening
run_bg client "$client_ns" client node "$here/client.mjs" --host 10.201.0.2 --port 8080 --duration "$TIMEOUT" \
  --polls 4 --ws 4 --sse 1 --short 2 --think-ms 5 --short-think-ms 20
wait_size
finish
