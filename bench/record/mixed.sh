#!/usr/bin/env bash
# Shape 1, mixed keep-alive: Ajax JSON polling on 4 keep-alive connections, 4 WebSocket
# request/response loops (two with permessage-deflate), one SSE firehose writing ~50 events
# per chunked write (one segment holds many events; events span segments).
# Usage: [SIZE=200MB] [OUT=...] bench/record/mixed.sh
source "$(dirname "$0")/lib.sh"
setup mixed 200MB
ns=sockstat-bench-$$
ns_create "$ns"
capture "$ns" lo
run_bg server "$ns" server node "$here/server.mjs" --port 8080 --duration "$TIMEOUT" --sse-rate "${SSE_RATE:-6e6}"
wait_line server listening
run_bg client "$ns" client node "$here/client.mjs" --port 8080 --duration "$TIMEOUT" --polls 4 --ws 4 --sse 1 --think-ms "${THINK_MS:-2}" --sources 4
wait_size
finish
