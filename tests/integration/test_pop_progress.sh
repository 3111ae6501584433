#!/usr/bin/env bash
# consumerProgress shows a POP group's lag (RocketMQ 5's layout): per queue the broker offset,
# the group's offset = the lowest message it has not acked (acks out of order do not move it),
# the lag (#Diff) and what is popped but not acked (#Inflight, from the pop cursor); and
# consumerProgress without -g lists the POP group (it has a retry topic, as RocketMQ 5's) with
# its total lag. 10 messages in two queues; queue 0: pop 0..2, ack 0 and 2; queue 1: pop 0..1,
# ack both -> diffs 4 and 3; then ack queue 0's offset 1 -> diff 2: 10 sent, 5 acked, lag 5.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
pass=0
A="$LT_BIN/mqadmin"
lt_start_single
cat >"$LT_DIR/drive.py" <<'PY'
import json, sys, time
from rmq_frames import Conn, send_v2, parse_records
POP, ACK = 200050, 200051
port, step, state = int(sys.argv[1]), sys.argv[2], sys.argv[3]
c = Conn(port, timeout=20)
def fail(m):
    sys.exit("FAIL: " + m)
def pop(qid, n):
    r = c.call(POP, {"consumerGroup": "ProgG", "topic": "ProgT", "queueId": qid, "maxMsgNums": n,
                     "invisibleTime": 60000, "pollTime": 0, "bornTime": int(time.time() * 1000), "initMode": 0,
                     "expType": "TAG", "exp": "*", "order": "false"})
    if not r or r[0]["code"] != 0:
        fail("POP q%d: %s" % (qid, r and r[0]))
    ext = r[0]["extFields"]
    return [(m["queueOffset"], "%s %s %s 0 0 broker-a %d %d" % (m["queueOffset"], ext["popTime"], ext["invisibleTime"],
                                                                 qid, m["queueOffset"]))
            for m in parse_records(r[1])]
def ack(qid, off, handle):
    r = c.call(ACK, {"consumerGroup": "ProgG", "topic": "ProgT", "queueId": qid, "extraInfo": handle, "offset": off})
    if not r or r[0]["code"] != 0:
        fail("ACK q%d:%d: %s" % (qid, off, r and r[0]))
if step == "one":
    r = c.call(17, {"topic": "ProgT", "readQueueNums": 2, "writeQueueNums": 2, "perm": 6})
    if not r or r[0]["code"] != 0:
        fail("create topic: %s" % (r and r[0]))
    for i in range(10):
        r = send_v2(c, "ProgT", b"p%d" % i, queue_id=i % 2)
        if not r or r[0]["code"] != 0:
            fail("send: %s" % (r and r[0]))
    q0, q1 = pop(0, 3), pop(1, 2)
    if [o for o, _ in q0] != [0, 1, 2] or [o for o, _ in q1] != [0, 1]:
        fail("popped %s and %s" % (q0, q1))
    ack(0, *q0[0]); ack(0, *q0[2]); ack(1, *q1[0]); ack(1, *q1[1])
    json.dump(q0[1], open(state, "w"))
else:
    ack(0, *json.load(open(state)))
PY
drive() { PYTHONPATH="$here" timeout 30 python3 "$LT_DIR/drive.py" "$LT_BROKER_PORT" "$1" "$LT_DIR/state.json"; }
drive one || lt_fail "pop and ack"
# the retry topic the first POP made is registered asynchronously: wait for the group's route
routed() { "$A" consumerProgress -n "$N" -g ProgG >/dev/null 2>&1; }
lt_wait_for 30 "the POP group's route" routed
out=$("$A" consumerProgress -n "$N" -g ProgG) || lt_fail "consumerProgress -g failed"
echo "$out"
[ "$(head -1 <<<"$out")" = "$(printf '%-64s  %-32s  %-4s  %-20s  %-20s  %-20s %-20s%s' '#Topic' '#Broker Name' '#QID' \
    '#Broker Offset' '#Consumer Offset' '#Diff' '#Inflight' '#LastTime')" ] || lt_fail "header: $(head -1 <<<"$out")"
row() { grep -E "^ProgT +broker-a +$1 " <<<"$out" | awk '{print $4, $5, $6, $7}'; }
[ "$(row 0)" = "5 1 4 2" ] || lt_fail "queue 0 (broker, consumer, diff, inflight): want '5 1 4 2', got '$(row 0)'"; ok
[ "$(row 1)" = "5 2 3 0" ] || lt_fail "queue 1: want '5 2 3 0', got '$(row 1)'"; ok
grep -qx 'Consume Diff Total: 7' <<<"$out" && grep -qx 'Consume Inflight Total: 2' <<<"$out" \
    && grep -qE '^Consume TPS: [0-9]+\.[0-9]{2}$' <<<"$out" || lt_fail "totals: $out"; ok

out=$("$A" consumerProgress -n "$N") || lt_fail "consumerProgress without -g failed"
echo "$out"
[ "$(head -1 <<<"$out")" = "$(printf '%-64s  %-6s  %-24s %-5s  %-14s  %-7s  %s' '#Group' '#Count' '#Version' '#Type' \
    '#Model' '#TPS' '#Diff Total')" ] || lt_fail "group list header: $(head -1 <<<"$out")"
grep -qE '^ProgG +0 +OFFLINE +[0-9]+ +7$' <<<"$out" || lt_fail "group list row of ProgG: $out"; ok

drive two || lt_fail "the late ack"
out=$("$A" consumerProgress -n "$N" -g ProgG) || lt_fail "consumerProgress -g failed"
[ "$(row 0)" = "5 3 2 0" ] || lt_fail "queue 0 after acking offset 1: want '5 3 2 0', got '$(row 0)'"; ok
grep -qx 'Consume Diff Total: 5' <<<"$out" || lt_fail "10 sent, 5 acked: $out"; ok
echo "pop progress: $pass passed, 0 failed"
