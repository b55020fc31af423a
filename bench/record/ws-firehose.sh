#!/usr/bin/env bash
# Shape 3, WebSocket firehose: 8 connections, server pushes of 20 B to 200 KB (log-uniform,
# JSON text and binary), half with permessage-deflate (with and without context takeover),
# two with messages fragmented into 16 KB frames; the clients send masked acknowledgements.
# Usage: [SIZE=200MB] [OUT=...] bench/record/ws-firehose.sh
source "$(dirname "$0")/lib.sh"
setup ws-firehose 200MB
ns=sockstat-bench-$$
ns_create "$ns"
capture "$ns" lo
run_bg server "$ns" server node "$here/server.mjs" --port 8080 --duration "$TIMEOUT" --ws-rate "${WS_RATE:-2e6}"
wait_line server listening
run_bg client "$ns" client node "$here/client.mjs" --port 8080 --duration "$TIMEOUT" --wsfire 8 --sources 8
wait_size
finish
