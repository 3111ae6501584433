#!/usr/bin/env bash
# POP state across a DLedger failover: the journal (rmq_sys_pop_state) is in the replicated
# commit log, so the node that becomes master rebuilds the in-flight messages, their invisible
# times and the acks from it. A 3-node group; on the master 10 messages are sent and popped
# (invisible for INV s), 4 of them acked; a follower refuses POP (SERVICE_NOT_AVAILABLE 14,
# "master only"); the master is killed (-9). On the new master: the 4 acked messages never come
# again; the 6 others come back with reconsumeTimes 1 (attempt 2), none before popTime +
# invisibleTime, all within a bound after it; a new message is popped once, reconsumeTimes 0.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
started=$SECONDS
lt_start_namesrv || lt_fail "name server did not start"
lt_start_dledger_group 3 "reviveInterval=200" || { tail -n 30 "$LT_DIR"/dl*.out; lt_fail "the DLedger group did not start"; }
disown "${LT_DL_PID[@]}"   # no "Killed" line for the kill -9 (lt_cleanup still stops them)
echo "group started in $((SECONDS - started)) s"
cat >"$LT_DIR/drive.py" <<'PY'
import os, signal, sys, time
from rmq_frames import Conn, send_v2, parse_records
from dledger_check import find_master, addr_of, group_addrs
POP, ACK = 200050, 200051
SLOW = float(os.environ.get("LOULAN_SLOW", "1") or 1)
INV = int(12000 * SLOW)          # ms: longer than a failover, so that "not before" is seen
ns, ports, pids = int(sys.argv[1]), [int(p) for p in sys.argv[2].split(",")], [int(p) for p in sys.argv[3].split(",")]
def fail(m):
    sys.exit("FAIL: " + m)
def say(m):
    print("%6.2fs %s" % (time.time() - t0, m), flush=True)
def pop(c, invisible, poll=0, until=None):
    """(code, remark, records); SERVICE_NOT_AVAILABLE (a new master rebuilding) is retried until `until`."""
    while True:
        r = c.call(POP, {"consumerGroup": "FailG", "topic": "FailT", "queueId": -1, "maxMsgNums": 32,
                         "invisibleTime": invisible, "pollTime": poll, "bornTime": int(time.time() * 1000),
                         "initMode": 0, "expType": "TAG", "exp": "*", "order": "false"})
        if not r:
            fail("no answer to POP")
        h = r[0]
        if h["code"] == 14 and until and time.time() < until:
            time.sleep(0.05)
            continue
        ext = h.get("extFields", {})
        recs = parse_records(r[1]) if h["code"] == 0 else []
        at = 0
        for rec in recs:  # reconsumeTimes: bytes 72..76 of a record with IPv4 hosts
            size = int.from_bytes(r[1][at:at + 4], "big")
            rec["reconsume"] = int.from_bytes(r[1][at + 72:at + 76], "big", signed=True)
            at += size
        return h["code"], h.get("remark", ""), ext, recs
t0 = time.time()
while len(group_addrs(ns) or {}) < len(ports):  # every node up: the failover needs a majority left
    if time.time() > t0 + 60 * SLOW:
        fail("not every node of the group is listed: %r" % group_addrs(ns))
    time.sleep(0.05)
m = find_master(ns, ports, t0 + 60 * SLOW)
c = Conn(ports[m], timeout=20)
say("master is node %d" % m)
r = c.call(17, {"topic": "FailT", "readQueueNums": 2, "writeQueueNums": 2, "perm": 6})
if not r or r[0]["code"] != 0:
    fail("create topic: %s" % (r and r[0]))
for i in range(10):
    r = send_v2(c, "FailT", b"f%d" % i, queue_id=i % 2)
    if not r or r[0]["code"] != 0:
        fail("send f%d: %s" % (i, r and r[0]))
got, deadline = {}, time.time() + 20 * SLOW
while len(got) < 10 and time.time() < deadline:
    code, remark, ext, recs = pop(c, INV, poll=500)
    for rec in recs:
        h = "%d %s %s 0 0 RaftNode00 %d %d" % (rec["queueOffset"], ext["popTime"], ext["invisibleTime"],
                                               rec["queueId"], rec["queueOffset"])
        got[rec["body"].decode()] = (rec, h, int(ext["popTime"]) + int(ext["invisibleTime"]))
if len(got) != 10:
    fail("popped %s of f0..f9 on the master" % sorted(got))
visible_at = max(v[2] for v in got.values())
first_visible = min(v[2] for v in got.values())
acked = ["f1", "f4", "f6", "f9"]
for b in acked:
    rec, h, _ = got[b]
    r = c.call(ACK, {"consumerGroup": "FailG", "topic": "FailT", "queueId": rec["queueId"], "extraInfo": h,
                     "offset": rec["queueOffset"]})
    if not r or r[0]["code"] != 0 or r[0].get("remark"):
        fail("ack %s: %s" % (b, r and r[0]))
say("10 popped (invisible %d ms), %s acked" % (INV, ",".join(acked)))
# topics reach the followers with the replicated tables (every 200 ms): the next master must have FailT
deadline = time.time() + 20 * SLOW
for i, port in enumerate(ports):
    while i != m:
        r = Conn(port, timeout=20).call(21)  # GET_ALL_TOPIC_CONFIG
        if r and r[0]["code"] == 0 and b'"FailT"' in r[1]:
            break
        if time.time() > deadline:
            fail("node %d does not have topic FailT" % i)
        time.sleep(0.05)
f = (m + 1) % len(ports)
code, remark, _, _ = pop(Conn(ports[f], timeout=20), INV)
if code != 14 or "master" not in remark:
    fail("a follower answered POP %s %r, not SERVICE_NOT_AVAILABLE (master only)" % (code, remark))
say("follower node %d refuses POP: %d %s" % (f, code, remark))
os.kill(pids[m], signal.SIGKILL)
killed = time.time()
n = find_master(ns, ports, killed + 60 * SLOW, exclude=addr_of(ports[m]))
c = Conn(ports[n], timeout=20)
say("node %d killed; node %d listed as master after %.2fs" % (m, n, time.time() - killed))
want = set(got) - set(acked)
seen, served_before = {}, False
end = visible_at / 1000.0 + 20 * SLOW
while want - set(seen) and time.time() < end:
    code, remark, ext, recs = pop(c, 60000, poll=300, until=end)
    now_ms = time.time() * 1000
    if code in (19, 210) and now_ms < first_visible - 300:
        served_before = True
    if code not in (0, 19, 210):
        fail("POP on the new master: %d %s" % (code, remark))
    for rec in recs:
        b = rec["body"].decode()
        if b in acked:
            fail("%s was acked on the old master but delivered again by the new one" % b)
        if b in seen:
            fail("%s delivered twice by the new master" % b)
        if now_ms + 200 < got[b][2]:  # a POP answered before the old handle's popTime + invisibleTime
            fail("%s redelivered %.0f ms before its invisible time ran out" % (b, got[b][2] - now_ms))
        if rec["reconsume"] != 1:
            fail("%s redelivered with reconsumeTimes %d, not 1 (attempt 2)" % (b, rec["reconsume"]))
        seen[b] = rec
if want - set(seen):
    fail("not redelivered by the new master in time: %s" % sorted(want - set(seen)))
if not served_before:
    fail("the new master served no POP before the invisible time ran out: 'not before' was not checked")
say("the new master redelivered %s after their invisible time, none of the acked" % ",".join(sorted(seen)))
r = send_v2(c, "FailT", b"f10", queue_id=0)
if not r or r[0]["code"] != 0:
    fail("send to the new master: %s" % (r and r[0]))
code, remark, ext, recs = pop(c, 60000, poll=2000)
if code != 0 or [(x["body"], x["reconsume"]) for x in recs] != [(b"f10", 0)]:
    fail("after the redeliveries the new master popped %s %s, not f10 once" % (code, [(x["body"], x["reconsume"]) for x in recs]))
say("a new message: popped once, reconsumeTimes 0")
PY
PYTHONPATH="$here" timeout $((120 * ${LOULAN_SLOW:-1})) python3 "$LT_DIR/drive.py" "$LT_NS_PORT" \
    "$(IFS=,; echo "${LT_DL_PORT[*]}")" "$(IFS=,; echo "${LT_DL_PID[*]}")" \
    || { for i in 0 1 2; do echo "--- dl$i.out"; tail -n 15 "$LT_DIR/dl$i.out"; done; lt_fail "POP across the failover"; }
grep -h "POP state replayed" "$LT_DIR"/dl*.out | tail -1
echo "PASS test_pop_failover ($((SECONDS - started)) s)"
