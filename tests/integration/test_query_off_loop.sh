#!/usr/bin/env bash
# QUERY_MESSAGE does not block the broker's loop (issue 17): its index lookup waits up to 1 s
# for the index writer thread, on libuv's pool. The writer is held with the store's test hook
# LOULAN_TEST_INDEX_PAUSE_FILE (nothing is applied while the file exists, as with a stuck
# disk), so each query waits its full second. Checks:
#  - while four queries wait, heartbeats and sends on another connection are answered, each
#    faster than the queries (before, each query held the loop for its second: a probe waited
#    for all four, ~4 s);
#  - the queries still answer as before: NOT_FOUND with the index's last update while the key
#    is not indexed, the record once the writer resumes;
#  - a fifth and sixth concurrent query get SYSTEM_BUSY at once (at most 4 in the pool);
#  - a client that leaves before its answer, and a broker stopped while a lookup waits, are
#    harmless (the sanitizer build checks for use after free; the stop is clean).
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
export LOULAN_TEST_INDEX_PAUSE_FILE="$LT_DIR/index.pause"
lt_start_single

PYTHONPATH="$here" timeout 120 python3 - "$LT_BROKER_PORT" "$LOULAN_TEST_INDEX_PAUSE_FILE" <<'PY' || lt_fail "queries while the index writer is held"
import os, sys, threading, time
from rmq_frames import Conn, frame, send_v2, parse_records

port, pause = int(sys.argv[1]), sys.argv[2]
passed = 0

def check(what, cond, detail=""):
    global passed
    if not cond:
        print("FAIL: %s %s" % (what, detail))
        sys.exit(1)
    passed += 1
    print("ok: " + what)

def keys(k):
    return {"i": "TAGS\x01TagA\x02WAIT\x01true\x02KEYS\x01%s\x02" % k}

def query(key, opaque=1):
    return frame(12, {"topic": "QLoop", "key": key, "maxNum": 32, "beginTimestamp": 0,
                      "endTimestamp": 2 ** 62}, opaque=opaque)

def ask_all(conns, key):
    """Send one query on each connection at once; (seconds, header) of each answer, in order."""
    out = [None] * len(conns)
    t0 = time.monotonic()
    def wait(i):
        r = conns[i].recv_frame()
        out[i] = (time.monotonic() - t0, r and r[0])
    ts = [threading.Thread(target=wait, args=(i,)) for i in range(len(conns))]
    for i, c in enumerate(conns):
        c.send_raw(query(key, opaque=100 + i))
    for t in ts:
        t.start()
    return t0, ts, out

c = Conn(port, timeout=30)
r = send_v2(c, "QLoop", b"before", extra=keys("k-before"))
check("send before the hold", r and r[0]["code"] == 0, r and r[0])
r = c.call(12, {"topic": "QLoop", "key": "k-before", "maxNum": 32, "beginTimestamp": 0, "endTimestamp": 2 ** 62})
check("query found k-before", r and r[0]["code"] == 0 and [x["body"] for x in parse_records(r[1])] == [b"before"], r and r[0])
last_ts = int(r[0]["extFields"]["indexLastUpdateTimestamp"])

# hold the writer; this message's keys stay queued, so every query now waits its second
open(pause, "w").close()
r = send_v2(c, "QLoop", b"held", extra=keys("k-held"))
check("send while the index writer is held", r and r[0]["code"] == 0, r and r[0])

qs = [Conn(port, timeout=30) for _ in range(4)]
probe = Conn(port, timeout=30)
t0, threads, answers = ask_all(qs, "k-held")
lat, before_first = [], 0
hb = b'{"clientID":"127.0.0.1@qloop","producerDataSet":[{"groupName":"PG_QLOOP"}],"consumerDataSet":[]}'
while any(t.is_alive() for t in threads) and time.monotonic() - t0 < 60:
    t = time.monotonic()
    r = probe.call(34, {}, hb) if len(lat) % 2 == 0 else send_v2(probe, "QLoopProbe", b"probe")
    check_ok = r is not None and r[0]["code"] == 0
    if not check_ok:
        check("probe answered", False, r and r[0])
    lat.append(time.monotonic() - t)
    if not any(a for a in answers):
        before_first += 1
for t in threads:
    t.join(30)
first = min(a[0] for a in answers if a) if all(answers) else None
print("  queries answered after %s s; %d probes (heartbeat, send) meanwhile, %d before the first "
      "answer, slowest %.1f ms, median %.1f ms" % (["%.2f" % a[0] for a in answers if a], len(lat), before_first,
      1000 * max(lat), 1000 * sorted(lat)[len(lat) // 2]))
check("every query answered", first is not None, answers)
check("the queries waited for the held writer (>= 0.9 s)", first >= 0.9, first)
check("no probe waited as long as a query (loop not blocked)", max(lat) < first, "%.3f >= %.3f" % (max(lat), first))
check("probes answered while the queries waited (>= 3 before the first answer)", before_first >= 3, before_first)
for t, h in answers:
    check("NOT_FOUND while k-held is not indexed", h["code"] == 22 and "can not find message" in h.get("remark", ""), h)
    check("answer keeps the index's last update", int(h["extFields"]["indexLastUpdateTimestamp"]) >= last_ts, h)
check("answers carry their requests' opaques", sorted(h["opaque"] for _, h in answers) == [100, 101, 102, 103], answers)

# six at once: four go to the pool, two are refused at once
six = [Conn(port, timeout=30) for _ in range(6)]
t0, threads, answers = ask_all(six, "k-held")
for t in threads:
    t.join(30)
codes = sorted(h["code"] for _, h in answers if h)
print("  six concurrent queries: codes %s after %s s" % ([h and h["code"] for _, h in answers], ["%.2f" % a[0] for a in answers]))
check("six concurrent queries: 4 run, 2 get SYSTEM_BUSY", codes == [2, 2, 22, 22, 22, 22], codes)
busy = [(t, h) for t, h in answers if h["code"] == 2]
check("the busy answer says why", all("too many queries" in h.get("remark", "") for _, h in busy), busy)
check("the busy answers come before the others", max(t for t, _ in busy) < min(t for t, h in answers if h["code"] == 22), answers)

# a client that leaves before its answer: the answer is dropped, the broker carries on
gone = Conn(port)
gone.send_raw(query("k-held"))
gone.close()
r = qs[0].call(12, {"topic": "QLoop", "key": "k-held", "maxNum": 32, "beginTimestamp": 0, "endTimestamp": 2 ** 62})
check("a query after a client left mid-query", r and r[0]["code"] == 22, r and r[0])

# the writer resumes: the key is found, with the same header fields
os.unlink(pause)
r = c.call(12, {"topic": "QLoop", "key": "k-held", "maxNum": 32, "beginTimestamp": 0, "endTimestamp": 2 ** 62})
check("k-held found once the writer resumes", r and r[0]["code"] == 0 and [x["body"] for x in parse_records(r[1])] == [b"held"], r and r[0])
check("its index update is newer", int(r[0]["extFields"]["indexLastUpdateTimestamp"]) >= last_ts and
      int(r[0]["extFields"]["indexLastUpdatePhyoffset"]) > 0, r[0])
r = c.call(12, {"topic": "QLoop", "key": "k-held", "maxNum": 32, "beginTimestamp": 0, "endTimestamp": 2 ** 62,
                "_UNIQUE_KEY_QUERY": "false"})
check("same answer with _UNIQUE_KEY_QUERY=false", r and r[0]["code"] == 0, r and r[0])
r = c.call(12, {"topic": "QLoop", "key": "", "maxNum": 32, "beginTimestamp": 0, "endTimestamp": 2 ** 62})
check("an empty key: NOT_FOUND at once", r and r[0]["code"] == 22, r and r[0])
print("PASS part 1 (%d checks)" % passed)
PY

# a stop while a lookup waits on the pool: clean exit, nothing left behind
PYTHONPATH="$here" timeout 60 python3 - "$LT_BROKER_PORT" "$LOULAN_TEST_INDEX_PAUSE_FILE" "$LT_BROKER_PID" <<'PY' || lt_fail "stop during a query"
import os, signal, sys
from rmq_frames import Conn, frame, send_v2
port, pause, pid = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
c = Conn(port, timeout=30)
open(pause, "w").close()
r = send_v2(c, "QLoop", b"stop", extra={"i": "KEYS\x01k-stop\x02"})
assert r and r[0]["code"] == 0, r
c.send_raw(frame(12, {"topic": "QLoop", "key": "k-stop", "maxNum": 32, "beginTimestamp": 0, "endTimestamp": 2 ** 62}, opaque=7))
r = c.call(34, {}, b'{"clientID":"127.0.0.1@qstop","producerDataSet":[],"consumerDataSet":[]}')
assert r and r[0]["code"] == 0, r   # frames are handled in order: the query is on the pool now
os.kill(pid, signal.SIGTERM)
while True:   # until the broker closes the connection; an answer is allowed, not required
    f = c.recv_frame()
    if f is None:
        break
    assert f[0]["opaque"] == 7, f[0]
print("stopped while a query was on the pool")
PY
t=$SECONDS
wait "$LT_BROKER_PID"
rc=$?
[ "$rc" -eq 0 ] || lt_fail "the broker exited with $rc after a stop during a query"
echo "  broker stopped cleanly within $((SECONDS - t)) s of the query's connection closing"
echo "PASS test_query_off_loop"
