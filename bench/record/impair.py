#!/usr/bin/env python3
"""A userspace link impairer for the benchmark's lossy shape (tc netem is not available).

Opens one TUN device in each of two network namespaces (IFF_TUN | IFF_NO_PI: the fd reads
and writes bare IP packets) and copies packets between them, dropping, duplicating and
delaying some (a delayed packet is overtaken by the ones behind it: reordering). The
choices come from a PRNG with a fixed seed. Runs until SIGTERM or --duration; prints
"ready" once both devices exist, and its counts as JSON on stderr when it ends.

Usage: impair.py --ns-a NS --tun-a NAME --ns-b NS --tun-b NAME [--loss 0.01] [--dup 0.005]
                 [--reorder 0.01] [--seed 1] [--duration 900]
"""
import argparse
import ctypes
import fcntl
import heapq
import json
import os
import random
import select
import signal
import struct
import sys
import time

TUNSETIFF = 0x400454CA  # _IOW('T', 202, int), linux/if_tun.h
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
CLONE_NEWNET = 0x40000000


def enter_netns(name):
    # os.setns is Python 3.12+; libc's setns(2) does the same.
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns {name}: {os.strerror(err)}")
    finally:
        os.close(fd)


def open_tun(name):
    """Creates TUN device `name` in the current namespace; it lives as long as the fd."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ns-a", required=True)
    ap.add_argument("--tun-a", required=True)
    ap.add_argument("--ns-b", required=True)
    ap.add_argument("--tun-b", required=True)
    ap.add_argument("--loss", type=float, default=0.01)
    ap.add_argument("--dup", type=float, default=0.005)
    ap.add_argument("--reorder", type=float, default=0.01)
    ap.add_argument("--delay-min-ms", type=float, default=0.5)
    ap.add_argument("--delay-max-ms", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--duration", type=float, default=900)
    a = ap.parse_args()

    enter_netns(a.ns_a)
    fa = open_tun(a.tun_a)
    enter_netns(a.ns_b)
    fb = open_tun(a.tun_b)
    print("ready", flush=True)

    rng = random.Random(a.seed)
    stats = {"forwarded": 0, "dropped": 0, "duplicated": 0, "delayed": 0, "overflow": 0, "bytes": 0}
    pending = []  # (due, order, fd, packet): delayed packets, released in time order
    order = 0
    running = [True]

    def stop(*_):
        running[0] = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def put(fd, pkt):
        try:
            os.write(fd, pkt)
            stats["forwarded"] += 1
            stats["bytes"] += len(pkt)
        except (BlockingIOError, OSError):
            stats["overflow"] += 1  # the receiving stack would not take it: lost as on a link

    deadline = time.monotonic() + a.duration
    peer = {fa: fb, fb: fa}
    while running[0] and time.monotonic() < deadline:
        now = time.monotonic()
        timeout = min(0.2, max(0.0, pending[0][0] - now)) if pending else 0.2
        try:
            ready, _, _ = select.select([fa, fb], [], [], timeout)
        except InterruptedError:
            continue
        for fd in ready:
            for _ in range(256):  # drain what is there, but let the other side have a turn
                try:
                    pkt = os.read(fd, 65536)
                except BlockingIOError:
                    break
                out = peer[fd]
                x = rng.random()
                if x < a.loss:
                    stats["dropped"] += 1
                elif x < a.loss + a.dup:
                    stats["duplicated"] += 1
                    put(out, pkt)
                    put(out, pkt)
                elif x < a.loss + a.dup + a.reorder:
                    stats["delayed"] += 1
                    due = time.monotonic() + rng.uniform(a.delay_min_ms, a.delay_max_ms) / 1000
                    order += 1
                    heapq.heappush(pending, (due, order, out, pkt))
                else:
                    put(out, pkt)
        now = time.monotonic()
        while pending and pending[0][0] <= now:
            _, _, out, pkt = heapq.heappop(pending)
            put(out, pkt)
    sys.stderr.write("impair: " + json.dumps(stats) + "\n")


if __name__ == "__main__":
    main()
