#!/usr/bin/env bash
# A DLedger follower that missed messages catches up from the group (docs/dledger.md):
#  1. three nodes; one follower is killed (-9); 3000 messages (4 queues, bodies of 100..1100
#     bytes, pipelined) are sent to the leader meanwhile and each is acknowledged (two of three
#     nodes are a majority);
#  2. the follower restarts on its own store: within a bounded wait its GET_MAX_OFFSET equals
#     the leader's on every queue, and pulls from it return every acknowledged message at the
#     queue offset the send answered, byte for byte the leader's records (same physical offsets,
#     bodies, properties, store timestamps);
#  3. the other follower is killed (-9), its whole store folder deleted, and it is restarted:
#     it rebuilds everything from the others (messages sent while it rebuilds included), with
#     the same checks against the leader; the leader never changed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
lt_start_namesrv || lt_fail "name server did not start"
lt_start_dledger_group 3 || lt_fail "the group did not start"
has_leader() { [ -n "$(lt_dledger_leader_index)" ]; }
lt_wait_for 60 "the group elects a master" has_leader || lt_fail "no master"
L=$(lt_dledger_leader_index)
F1=$(( (L + 1) % 3 ))
F2=$(( (L + 2) % 3 ))
echo "leader n$L, followers n$F1 n$F2"
pass=0
TOPIC=DlCatchTopic

# The Python side: send (pipelined) and check. Acknowledged sends are kept in $LT_DIR/acked.txt
# (one "queueId queueOffset body" line each) for the later checks.
cat >"$LT_DIR/catchup.py" <<'PY'
import struct, sys, time
from rmq_frames import Conn, frame, send_v2, pull_all

TOPIC = "DlCatchTopic"

def body_of(tag, i):
    # 100..1100 bytes, distinct per message, so records span several Raft entries (1 MiB max)
    return (b"%s-%05d-" % (tag.encode(), i)) + bytes([65 + i % 26]) * (100 + (i * 37) % 1000)

def send_frame(tag, i, opaque):
    ext = {"a": "PG", "b": TOPIC, "c": "TBW102", "d": 4, "e": i % 4, "f": 0, "g": 1700000000000, "h": 0,
           "i": "TAGS\x01T%d\x02WAIT\x01true\x02" % (i % 4), "j": 0, "k": "false", "m": "false"}
    return frame(310, ext, body_of(tag, i), opaque=opaque)

def send_many(port, tag, n, window=200):
    """Send n messages pipelined (window frames in flight); return {i: (queueId, queueOffset, msgId)}."""
    c = Conn(port, timeout=60)
    acked, retry = {}, []
    for start in range(0, n, window):
        idx = list(range(start, min(n, start + window)))
        c.send_raw(b"".join(send_frame(tag, i, 100000 + i) for i in idx))
        want = {100000 + i for i in idx}
        while want:
            r = c.recv_frame()
            assert r is not None, "the leader closed the connection or did not answer within 60 s"
            h = r[0]
            if not (h.get("flag", 0) & 1) or h.get("opaque") not in want:
                continue
            want.discard(h["opaque"])
            i = h["opaque"] - 100000
            if h["code"] == 0:
                e = h["extFields"]
                acked[i] = (int(e["queueId"]), int(e["queueOffset"]), e["msgId"])
            else:
                retry.append((i, h["code"], h.get("remark")))
    # a pipelined send not confirmed within 2.5 s (SYSTEM_ERROR, a slow machine) is sent again,
    # one at a time; such a message may then be stored twice, which the checks allow
    for i, code, remark in retry:
        assert code == 1, ("unexpected answer", i, code, remark)
        deadline = time.time() + 30
        while True:
            r = send_v2(c, TOPIC, body_of(tag, i), tags="T%d" % (i % 4), queue_id=i % 4)
            if r[0]["code"] == 0:
                e = r[0]["extFields"]
                acked[i] = (int(e["queueId"]), int(e["queueOffset"]), e["msgId"])
                break
            assert r[0]["code"] == 1 and time.time() < deadline, r[0]
    if retry:
        print("%d of %d pipelined sends were answered SYSTEM_ERROR and sent again" % (len(retry), n))
    assert len(acked) == n
    return acked

def maxes(c):
    out = []
    for q in range(4):
        r = c.call(30, {"topic": TOPIC, "queueId": q})
        out.append(int(r[0]["extFields"]["offset"]) if r and r[0]["code"] == 0 else None)
    return out

def wait_caught_up(lport, fport, limit):
    lead, fol = Conn(lport), None
    deadline = time.time() + limit
    want = got = None
    while time.time() < deadline:
        try:
            fol = fol or Conn(fport)
            want, got = maxes(lead), maxes(fol)
        except OSError:
            fol = None
        if got is not None and got == want:
            return want
        time.sleep(0.2)
    raise SystemExit("the follower did not catch up within %ds: leader %s, follower %s" % (limit, want, got))

def check_same(lport, fport, acked_file):
    """Every queue of the follower is the leader's, record for record, and holds every
    acknowledged message at the offset its send was answered with."""
    lead, fol = Conn(lport), Conn(fport)
    recs = {}
    for q in range(4):
        a, b = pull_all(lead, TOPIC, q), pull_all(fol, TOPIC, q)
        key = lambda x: (x["queueOffset"], x["physicOffset"], x["body"], x["properties"], x["storeTimestamp"], x["crc_ok"])
        ka, kb = [key(x) for x in a], [key(x) for x in b]
        if ka != kb:
            diff = next((j for j in range(min(len(ka), len(kb))) if ka[j] != kb[j]), min(len(ka), len(kb)))
            raise SystemExit("queue %d differs: leader %d records, follower %d, first difference at %d" % (q, len(a), len(b), diff))
        assert all(x["crc_ok"] for x in b), q
        recs[q] = {x["queueOffset"]: x["body"] for x in b}
    n = 0
    for line in open(acked_file):
        q, off, body = line.split(" ", 2)
        body = body.rstrip("\n").encode()
        got = recs[int(q)].get(int(off))
        assert got == body, ("acknowledged message missing or different", q, off, body[:20], got and got[:20])
        n += 1
    return n, sum(len(v) for v in recs.values())

if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "send":
        port, tag, n, out = int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
        t0 = time.time()
        # the leader answers once its barrier has passed: probe with one plain send first
        c, deadline = Conn(port), time.time() + 60
        while True:
            r = send_v2(c, TOPIC, b"probe-" + tag.encode(), queue_id=0)
            if r[0]["code"] == 0:
                break
            assert r[0]["code"] in (1, 14) and time.time() < deadline, r[0]
            time.sleep(0.2)
        e = r[0]["extFields"]
        acked = send_many(port, tag, n)
        with open(out, "a") as f:
            f.write("%s %s %s\n" % (e["queueId"], e["queueOffset"], "probe-" + tag))
            for i in range(n):
                q, off, _ = acked[i]
                assert q == i % 4, (i, q)
                f.write("%d %d %s\n" % (q, off, body_of(tag, i).decode()))
        print("%d messages acknowledged in %.2fs" % (n + 1, time.time() - t0))
    elif cmd == "check":
        lport, fport, limit, acked_file = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
        t0 = time.time()
        want = wait_caught_up(lport, fport, limit)
        n, total = check_same(lport, fport, acked_file)
        print("caught up in %.2fs: max offsets %s, %d records equal to the leader's, %d acknowledged found"
              % (time.time() - t0, want, total, n))
PY
cu() { PYTHONPATH="$here" timeout 150 python3 "$LT_DIR/catchup.py" "$@"; }

# 1. a follower down while 3000 messages arrive
kill -9 "${LT_DL_PID[F1]}"; wait "${LT_DL_PID[F1]}" 2>/dev/null
cu send "${LT_DL_PORT[L]}" down 3000 "$LT_DIR/acked.txt" || lt_fail "sends with one follower down"
ok
# the follower still up has them all already (it was part of every majority)
cu check "${LT_DL_PORT[L]}" "${LT_DL_PORT[F2]}" 60 "$LT_DIR/acked.txt" || lt_fail "the follower that stayed up"
ok

# 2. the killed follower restarts on its own store and catches up
lt_dledger_node "$F1" || lt_fail "n$F1 did not restart: $(tail -20 "$LT_DIR/dl$F1.out")"
cu check "${LT_DL_PORT[L]}" "${LT_DL_PORT[F1]}" 90 "$LT_DIR/acked.txt" \
    || lt_fail "n$F1 after its restart: $(tail -20 "$LT_DIR/dl$F1.out")"
ok

# 3. the other follower loses its whole store and rebuilds from the group
kill -9 "${LT_DL_PID[F2]}"; wait "${LT_DL_PID[F2]}" 2>/dev/null
rm -rf "$LT_DIR/dl$F2"
[ ! -e "$LT_DIR/dl$F2" ] || lt_fail "could not delete $LT_DIR/dl$F2"
cu send "${LT_DL_PORT[L]}" wiped 500 "$LT_DIR/acked.txt" || lt_fail "sends with the other follower down"
lt_dledger_node "$F2" || lt_fail "n$F2 did not start on an empty store: $(tail -20 "$LT_DIR/dl$F2.out")"
# more messages while it rebuilds: they must reach it too
cu send "${LT_DL_PORT[L]}" rebuild 500 "$LT_DIR/acked.txt" || lt_fail "sends while n$F2 rebuilds"
cu check "${LT_DL_PORT[L]}" "${LT_DL_PORT[F2]}" 90 "$LT_DIR/acked.txt" \
    || lt_fail "n$F2 rebuilt from an empty store: $(tail -20 "$LT_DIR/dl$F2.out")"
ok
cu check "${LT_DL_PORT[L]}" "${LT_DL_PORT[F1]}" 60 "$LT_DIR/acked.txt" || lt_fail "n$F1 at the end"
ok
[ "$(lt_dledger_leader_index)" = "$L" ] || lt_fail "the leader changed: n$L before, '$(lt_dledger_leader_index)' now"
kill -0 "${LT_DL_PID[L]}" && kill -0 "${LT_DL_PID[F1]}" && kill -0 "${LT_DL_PID[F2]}" || lt_fail "a node exited"
ok
echo "dledger catchup: $pass passed, 0 failed"
