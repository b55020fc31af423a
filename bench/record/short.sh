#!/usr/bin/env bash
# Shape 2, many short connections: Ajax polling without keep-alive (a new TCP connection and
# Connection: close per request), 8 clients at once over 8 source addresses: at 200 MB,
# well over 100,000 connections.
# Usage: [SIZE=200MB] [OUT=...] bench/record/short.sh
source "$(dirname "$0")/lib.sh"
setup short 200MB
ns=sockstat-bench-$$
ns_create "$ns"
capture "$ns" lo
run_bg server "$ns" server node "$here/server.mjs" --port 8080 --duration "$TIMEOUT"
wait_line server listening
run_bg client "$ns" client node "$here/client.mjs" --port 8080 --duration "$TIMEOUT" --short "${CLIENTS:-8}" --sources 8
wait_size
finish
