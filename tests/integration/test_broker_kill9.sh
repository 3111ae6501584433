#!/usr/bin/env bash
# Every acknowledged message survives a kill -9 of the broker (a process crash keeps the page
# cache, so this holds for ASYNC_FLUSH too): 5 rounds of sending while the broker is killed,
# restart, and every acknowledged message is read back at its acknowledged queue offset, once.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
lt_start_namesrv || lt_fail "name server did not start"
lt_start_broker || lt_fail "broker did not start"
acked="$LT_DIR/acked.txt"
: >"$acked"
for round in 1 2 3 4 5; do
    # Send in the background; kill the broker at a random moment while sends are in flight.
    PYTHONPATH="$here" timeout 60 python3 - "$LT_BROKER_PORT" "$round" "$acked" <<'PY' &
import sys
from rmq_frames import Conn, send_v2
port, rnd, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
try:
    c = Conn(port, timeout=5)
    with open(out, "a") as f:
        for i in range(100000):
            body = ("r%s-%d" % (rnd, i)).encode()
            r = send_v2(c, "KillTopic", body, queue_id=i % 2)
            if r is None or r[0]["code"] != 0:
                break
            f.write("%s %s %s\n" % (body.decode(), r[0]["extFields"]["queueId"], r[0]["extFields"]["queueOffset"]))
            f.flush()
except Exception:
    pass
PY
    sender=$!
    sleep "0.$((RANDOM % 7 + 2))"
    kill -9 "$LT_BROKER_PID"
    wait "$sender" 2>/dev/null
    lt_start_broker || lt_fail "broker did not restart after kill -9 (round $round)"
done
[ "$(wc -l <"$acked")" -gt 100 ] || lt_fail "too few acknowledged sends to mean anything ($(wc -l <"$acked"))"
PYTHONPATH="$here" timeout 120 python3 - "$LT_BROKER_PORT" "$acked" <<'PY' || lt_fail "acknowledged messages lost or misplaced"
import struct, sys
from rmq_frames import Conn
port, acked = int(sys.argv[1]), sys.argv[2]
want = {}
for line in open(acked):
    body, q, off = line.split()
    want[(int(q), int(off))] = body
c = Conn(port)
got = {}
for q in (0, 1):
    off = 0
    while True:
        r = c.call(11, {"consumerGroup": "K", "topic": "KillTopic", "queueId": q, "queueOffset": off, "maxMsgNums": 32,
                        "sysFlag": 4, "commitOffset": 0, "suspendTimeoutMillis": 0, "subscription": "*", "subVersion": 0})
        if r is None or r[0]["code"] != 0:
            break
        body, p = r[1], 0
        while p + 4 <= len(body):
            size = struct.unpack(">I", body[p:p + 4])[0]
            rec = body[p:p + size]
            qoff = struct.unpack(">q", rec[20:28])[0]
            blen = struct.unpack(">I", rec[84:88])[0]
            got[(q, qoff)] = rec[88:88 + blen].decode()
            p += size
        off = int(r[0]["extFields"]["nextBeginOffset"])
lost = [k for k in want if got.get(k) != want[k]]
bodies = list(got.values())
dups = len(bodies) - len(set(bodies))
print("acknowledged %d, stored %d, lost or misplaced %d, duplicated %d" % (len(want), len(got), len(lost), dups))
sys.exit(1 if lost or dups else 0)
PY
echo "kill -9: 1 passed, 0 failed"
