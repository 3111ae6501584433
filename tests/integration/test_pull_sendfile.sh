#!/usr/bin/env bash
# Pull answers go out from the commit-log files (sendfile) on plain connections, and what the
# socket does not take at once is written from memory. Raw pulls (python3, rmq_frames.py):
#  1. 320 records of 6 KiB in one queue (contiguous in the file: one sendfile per answer) and
#     320 of 4 KiB alternating over two queues (one span per record);
#  2. a reader with a 4 KiB receive buffer pipelines every pull before reading any answer, so
#     the broker's socket fills mid-answer and the ordinary write takes over where sendfile
#     stopped; every record must come back whole, in order, with its own body (CRC and bytes);
#  3. the same with plain one-at-a-time pulls (pull_all).
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
lt_start_single || lt_fail "broker did not start"
PYTHONPATH="$here" timeout $((120 * ${LOULAN_SLOW:-1})) python3 - "$LT_BROKER_PORT" <<'PY' || lt_fail "pull answers were not whole"
import socket, sys
from rmq_frames import Conn, send_v2, parse_records, pull_all, frame

port = int(sys.argv[1])
def body(topic, i, size):
    seed = (sum(topic.encode()) + 7 * i) % 251
    return bytes((seed + k) % 256 for k in range(size))

c = Conn(port)
want = {}   # (topic, queue) -> [body, ...] in queue order
for topic, size, queues in (("SFc", 6144, 1), ("SFi", 4096, 2)):
    for i in range(320):
        q = i % queues
        r = send_v2(c, topic, body(topic, i, size), queue_id=q)
        if r is None or r[0]["code"] != 0:
            sys.exit("send %s %d failed: %r" % (topic, i, r and r[0]))
        want.setdefault((topic, q), []).append(body(topic, i, size))

def check(topic, q, recs, start):
    for k, rec in enumerate(recs):
        exp = want[(topic, q)][start + k]
        if rec["queueOffset"] != start + k or rec["topic"] != topic or not rec["crc_ok"] or rec["body"] != exp:
            sys.exit("%s/%d: record %d of the answer from %d is wrong (queueOffset %d, crc %s)"
                     % (topic, q, k, start, rec["queueOffset"], rec["crc_ok"]))

# 2. a slow reader: every pull sent first, answers read afterwards through a 4 KiB buffer
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.settimeout(30)
s.connect(("127.0.0.1", port))
slow = Conn.__new__(Conn)
slow.s, slow.opaque = s, 0
asked, reqs = {}, b""
for topic, q in (("SFc", 0), ("SFi", 0), ("SFi", 1)):
    for start in range(0, len(want[(topic, q)]), 32):
        slow.opaque += 1
        asked[slow.opaque] = (topic, q, start)
        reqs += frame(11, {"consumerGroup": "SF", "topic": topic, "queueId": q, "queueOffset": start,
                           "maxMsgNums": 32, "sysFlag": 4, "commitOffset": 0, "suspendTimeoutMillis": 0,
                           "subscription": "*", "subVersion": 0}, opaque=slow.opaque)
slow.send_raw(reqs)
got = 0
while got < len(asked):
    r = slow.recv_frame()
    if r is None:
        sys.exit("the slow reader's connection ended after %d of %d answers" % (got, len(asked)))
    topic, q, start = asked[r[0]["opaque"]]
    recs = parse_records(r[1])
    if r[0]["code"] != 0 or len(recs) != min(32, len(want[(topic, q)]) - start):
        sys.exit("%s/%d from %d: code %s, %d records" % (topic, q, start, r[0]["code"], len(recs)))
    check(topic, q, recs, start)
    got += 1
print("slow reader: %d answers whole" % got)

# 3. one pull at a time
for (topic, q), bodies in want.items():
    recs = pull_all(c, topic, q)
    if len(recs) != len(bodies):
        sys.exit("%s/%d: %d records pulled, %d sent" % (topic, q, len(recs), len(bodies)))
    check(topic, q, recs, 0)
print("plain pulls: %d records whole" % sum(len(b) for b in want.values()))
PY
echo "PASS test_pull_sendfile"
