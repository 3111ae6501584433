#!/usr/bin/env bash
# Poison and bypass (issue 12, items 1-4), by raw frames as any client could send them:
#  - internal topics refuse client sends, and a client's REAL_TOPIC / REAL_QID / TIMER_OUT_MS /
#    TRANSACTION_CHECK_TIMES properties are stripped, so no timer or delayed message reaches a
#    queue the client could not send to;
#  - group names are validated in every request header (a '/' in a group used to poison delay
#    level 3 for every group);
#  - a delayed message whose destination is gone (topic deleted, queues shrunk) is moved to
#    rmq_sys_undeliverable with its reason and the level moves on to the next message;
#  - TIMER_DELAY_SEC / TIMER_DELAY_MS near INT64_MAX are refused with MESSAGE_ILLEGAL (13);
#  - system topics cannot be deleted.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
lt_start_single "messageDelayLevel=1s 2s 3s" "timerMaxDelaySec=3600" || lt_fail "start"

PYTHONPATH="$here" timeout 120 python3 - "$LT_BROKER_PORT" <<'PY' || lt_fail "poison checks failed"
import sys, time
from rmq_frames import Conn, send_v2, pull_all
port = int(sys.argv[1])
c = Conn(port)
fails = []

def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        fails.append(what)

def wait_for(fn, secs=30):
    """Poll fn() until it returns something truthy, at most secs seconds (a busy machine)."""
    end = time.time() + secs
    while True:
        v = fn()
        if v or time.time() > end:
            return v
        time.sleep(0.1)

def topic(name, queues, perm=6):
    r = c.call(17, {"topic": name, "readQueueNums": queues, "writeQueueNums": queues, "perm": perm})
    assert r and r[0]["code"] == 0, r

def records(name, queues=4):
    return [x for q in range(queues) for x in pull_all(c, name, q)]

now = lambda: int(time.time() * 1000)
topic("Dest", 1)
topic("ReadOnly", 1, perm=4)

# 1. internal topics: the timer's queue, the half topic, the undeliverable log
for t in ("rmq_sys_wheel_timer", "RMQ_SYS_TRANS_HALF_TOPIC", "SCHEDULE_TOPIC_XXXX", "rmq_sys_undeliverable"):
    extra = "TIMER_OUT_MS\x01%d\x02REAL_TOPIC\x01ReadOnly\x02REAL_QID\x01999\x02" % (now() + 500)
    r = send_v2(c, t, b"evil", extra={"i": extra})
    check(r[0]["code"] == 16, "send to %s refused with NO_PERMISSION (got %s %s)" % (t, r[0]["code"], r[0].get("remark")))

# the client's own internal properties are not stored, so they cannot steer a later delivery
r = send_v2(c, "Dest", b"plain", extra={"i": "REAL_TOPIC\x01ReadOnly\x02REAL_QID\x01999\x02TIMER_OUT_MS\x011\x02"
                                             "TRANSACTION_CHECK_TIMES\x0199\x02"})
check(r[0]["code"] == 0, "plain send with internal properties accepted")
recs = records("Dest", 1)
check(len(recs) == 1 and "REAL_TOPIC" not in recs[0]["properties"] and "TIMER_OUT_MS" not in recs[0]["properties"]
      and "TRANSACTION_CHECK_TIMES" not in recs[0]["properties"],
      "internal properties stripped from a client's message: %r" % [x["properties"] for x in recs])

# a timer message with client-set REAL_* goes to where it was sent, nowhere else
r = send_v2(c, "Dest", b"timer", extra={"i": "TIMER_DELAY_MS\x01300\x02REAL_TOPIC\x01ReadOnly\x02REAL_QID\x01999\x02"})
check(r[0]["code"] == 0, "timer send accepted")
got = wait_for(lambda: [x for x in records("Dest", 1) if x["body"] == b"timer"])
check(len(got) == 1, "timer delivered to its own topic")
check(not records("ReadOnly", 1), "nothing reached the read-only topic")

# 3. delays near INT64_MAX
for k in ("TIMER_DELAY_SEC", "TIMER_DELAY_MS"):
    for v in (9223372036854775807, 9223372036854775, 9223372036854775807 // 1000 + 1):
        r = send_v2(c, "Dest", b"overflow", extra={"i": "%s\x01%d\x02" % (k, v)})
        check(r is not None and r[0]["code"] == 13, "%s=%d refused with 13 (got %s)" % (k, v, r and r[0]["code"]))
r = c.call(30, {"topic": "Dest", "queueId": 0})
check(r is not None and r[0]["code"] == 0, "broker alive after the overflow sends")

# 2. group names are checked in every header
for code, ext in ((36, {"group": "g/x", "offset": 0, "delayLevel": 0, "originMsgId": "x", "originTopic": "Dest"}),
                  (11, {"consumerGroup": "g/x", "topic": "Dest", "queueId": 0, "queueOffset": 0, "maxMsgNums": 1,
                        "sysFlag": 0, "commitOffset": 0, "suspendTimeoutMillis": 0, "subscription": "*",
                        "subVersion": 0}),
                  (15, {"consumerGroup": "g/x", "topic": "Dest", "queueId": 0, "commitOffset": 1}),
                  (14, {"consumerGroup": "a\nb", "topic": "Dest", "queueId": 0}),
                  (207, {"groupName": "../../x"})):
    r = c.call(code, ext)
    check(r is not None and r[0]["code"] == 1 and "group" in r[0].get("remark", ""),
          "request %d with a bad group refused (got %s %s)" % (code, r and r[0]["code"], r and r[0].get("remark")))

import json
for body in ({"clientID": "c1", "consumerDataSet": [{"groupName": "g/x", "consumeType": "CONSUME_PASSIVELY",
              "messageModel": "CLUSTERING", "consumeFromWhere": "CONSUME_FROM_LAST_OFFSET",
              "subscriptionDataSet": [{"topic": "Dest", "subString": "*"}]}], "producerDataSet": []},
             {"clientID": "c1", "consumerDataSet": [], "producerDataSet": [{"groupName": "p\nx"}]}):
    r = c.call(34, {}, json.dumps(body).encode())
    check(r is not None and r[0]["code"] == 1 and "group" in r[0].get("remark", ""),
          "heartbeat with a bad group refused (got %s %s)" % (r and r[0]["code"], r and r[0].get("remark")))
r = c.call(15, {"consumerGroup": "G", "topic": "a/b\n", "queueId": 0, "commitOffset": 1})
check(r is not None and r[0]["code"] == 1 and "topic" in r[0].get("remark", ""), "offset commit with a bad topic refused")

# 2. a delayed message whose destination went away is moved aside; the level goes on
topic("Gone", 1)
topic("Shrunk", 4)
r1 = send_v2(c, "Gone", b"poison-1", extra={"i": "DELAY\x013\x02"})
r2 = send_v2(c, "Shrunk", b"poison-2", queue_id=3, extra={"i": "DELAY\x013\x02"})
check(r1[0]["code"] == 0 and r2[0]["code"] == 0, "delayed sends accepted")
r = c.call(215, {"topic": "Gone"})
check(r[0]["code"] == 0, "topic Gone deleted")
topic("Shrunk", 1)
r = send_v2(c, "Dest", b"after-poison", extra={"i": "DELAY\x013\x02"})
got = wait_for(lambda: [x for x in records("Dest", 1) if x["body"] == b"after-poison"])
check(len(got) == 1, "the message after the poisoned ones was delivered")
dead = wait_for(lambda: records("rmq_sys_undeliverable", 1))
check(sorted(x["body"] for x in dead) == [b"poison-1", b"poison-2"], "both poisoned messages kept aside: %r" % [x["body"] for x in dead])
check(all("UNDELIVERABLE_REASON" in x["properties"] for x in dead), "each with its reason")

# the send-back path with a good group still works, through level 3 (3 s here)
topic("Back", 1)
send_v2(c, "Back", b"retry-me")
rec = records("Back", 1)[0]
r = c.call(36, {"group": "GoodGroup", "offset": rec["physicOffset"], "delayLevel": 0, "originMsgId": "x",
                "originTopic": "Back"})
check(r[0]["code"] == 0, "send-back from a good group accepted")
got = wait_for(lambda: records("%RETRY%GoodGroup", 1))
check(len(got) == 1 and got[0]["body"] == b"retry-me", "its retry arrived")

# 4. system topics cannot be deleted
for t in ("SCHEDULE_TOPIC_XXXX", "TBW102", "RMQ_SYS_TRANS_HALF_TOPIC", "RMQ_SYS_TRANS_OP_HALF_TOPIC",
          "rmq_sys_wheel_timer", "DefaultCluster"):
    r = c.call(215, {"topic": t})
    check(r[0]["code"] == 1 and "system topic" in r[0].get("remark", ""), "delete %s refused (got %s)" % (t, r[0]["code"]))
print("%d failed checks" % len(fails))
sys.exit(1 if fails else 0)
PY
echo "PASS: test_broker_poison"
