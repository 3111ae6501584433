#!/usr/bin/env python3
"""Timer benchmark: schedule N timer messages (default 1,000,000) on a running broker, due
uniformly over the next SPREAD seconds, then report the broker's resident memory with them all
pending against its idle memory measured in the same run, and the delivery lateness
(store time of the delivered copy minus TIMER_OUT_MS) as p50 / p99 / max.
usage: timer_bench.py <broker port> <broker pid> [N=1000000] [spread s=60]
(build and start mqnamesrv + mqbroker first; see docs/benchmarks.md)"""
import os
import re
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
from rmq_frames import Conn, frame, parse_records  # noqa: E402


def rss_kb(pid, key="RssAnon:"):
    """RssAnon: the process's own memory (heap, stacks); RssFile: mapped store files in the
    page cache, which the kernel can drop at any time."""
    for line in open("/proc/%d/status" % pid):
        if line.startswith(key):
            return int(line.split()[1])
    return -1


def main():
    port, pid = int(sys.argv[1]), int(sys.argv[2])
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 1000000
    spread = float(sys.argv[4]) if len(sys.argv) > 4 else 60.0
    c = Conn(port, timeout=60)
    idle = rss_kb(pid)
    start = int(time.time() * 1000) + 5000  # first timer 5 s after the sends begin
    window, sent, acked, t0 = 2000, 0, 0, time.time()
    while acked < n:
        batch = []
        while sent < n and sent - acked < window:
            at = start + int(spread * 1000 * sent / n)
            ext = {"a": "PG", "b": "TimerBench", "c": "TBW102", "d": 4, "e": sent % 4, "f": 0, "g": 0, "h": 0,
                   "i": "TIMER_DELIVER_MS\x01%d\x02" % at, "j": 0, "k": "false", "m": "false"}
            batch.append(frame(310, ext, b"x" * 100, opaque=sent + 1))
            sent += 1
        if batch:
            c.send_raw(b"".join(batch))
        r = c.recv_frame()
        if r is None:
            sys.exit("connection lost")
        if r[0]["code"] != 0:
            sys.exit("send refused: %s" % r[0])
        acked += 1
    send_s = time.time() - t0
    pending = rss_kb(pid)
    print("scheduled %d timers in %.1f s (%.0f/s)" % (n, send_s, n / send_s))
    print("broker anonymous memory (heap): idle %d KiB, with %d timers pending %d KiB (%.2fx idle, %.1f bytes per timer)"
          % (idle, n, pending, pending / idle, (pending - idle) * 1024.0 / n))
    print("mapped store and timer files resident (page cache): %d KiB" % rss_kb(pid, "RssFile:"))
    # wait for the last one, then read every delivered copy back
    end = start / 1000.0 + spread + 5
    while time.time() < end:
        time.sleep(1)
    late = []
    for q in range(4):
        off = 0
        while True:
            r = c.call(11, {"consumerGroup": "TB", "topic": "TimerBench", "queueId": q, "queueOffset": off,
                            "maxMsgNums": 32, "sysFlag": 4, "commitOffset": 0, "suspendTimeoutMillis": 0,
                            "subscription": "*", "subVersion": 0})
            if r is None or r[0]["code"] != 0:
                break
            for rec in parse_records(r[1]):
                out = int(re.search(r"TIMER_OUT_MS\x01(\d+)", rec["properties"]).group(1))
                late.append(rec["storeTimestamp"] - out)
            off = int(r[0]["extFields"]["nextBeginOffset"])
    late.sort()
    if not late:
        sys.exit("nothing delivered")
    pct = lambda p: late[min(len(late) - 1, int(len(late) * p))]
    print("delivered %d of %d; lateness ms: p50 %d, p99 %d, max %d (the wheel ticks every 10 ms)"
          % (len(late), n, pct(0.5), pct(0.99), late[-1]))


main()
