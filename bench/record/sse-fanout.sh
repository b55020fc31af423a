#!/usr/bin/env bash
# Shape 4, SSE fan-out: 2,000 concurrent subscribers (opened over 4 s from 8 source
# addresses), each sent an event every 150-450 ms, one event per chunked write.
# Usage: [SIZE=200MB] [SUBS=2000] [OUT=...] bench/record/sse-fanout.sh
source "$(dirname "$0")/lib.sh"
setup sse-fanout 200MB
subs=${SUBS:-2000}
# Each subscriber costs one fd in the server and one in the client, besides node's own.
[ "$(ulimit -n)" -gt $((subs + 200)) ] || die "ulimit -n is $(ulimit -n): too low for $subs subscribers"
ns=sockstat-bench-$$
ns_create "$ns"
capture "$ns" lo
run_bg server "$ns" server node "$here/server.mjs" --port 8080 --duration "$TIMEOUT" --fanout-ms "${FANOUT_MS:-300}"
wait_line server listening
run_bg client "$ns" client node "$here/client.mjs" --port 8080 --duration "$TIMEOUT" --subs "$subs" --sources 8 --ramp-ms 4000
wait_size
finish
