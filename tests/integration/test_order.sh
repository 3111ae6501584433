#!/usr/bin/env bash
# Ordered consumption (LOCK_BATCH_MQ / UNLOCK_BATCH_MQ, orderly C consumers, keyed sends),
# a poison message in an ordered queue, and broadcasting, through the C client; plus the raw
# lock protocol (grant, refuse to another client, renew, expiry, unlock).
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
[ -x "$LT_BIN/order_e2e" ] || lt_fail "no order_e2e in $LT_BIN"
lt_start_namesrv || lt_fail "name server did not start"
# locks live 5 s here: the checks that a lock is still held run within that, even on a busy machine
lt_start_broker rebalanceLockMaxLiveTime=5000 || lt_fail "broker did not start"
PYTHONPATH="$here" timeout 60 python3 - "$LT_BROKER_PORT" <<'PY' || lt_fail "raw lock protocol"
import json, sys, time
from rmq_frames import Conn
c = Conn(int(sys.argv[1]))
mqs = [{"brokerName": "broker-a", "queueId": q, "topic": "LockTopic"} for q in (0, 1)]
def lock(client, qs):
    r = c.call(41, None, json.dumps({"consumerGroup": "LG", "clientId": client, "mqSet": qs}).encode())
    assert r[0]["code"] == 0, r[0]
    return sorted(m["queueId"] for m in json.loads(r[1])["lockOKMQSet"])
assert lock("c1", mqs) == [0, 1]
assert lock("c2", mqs) == [], "another client got a held lock"
assert lock("c1", mqs[:1]) == [0]          # renewal
r = c.call(42, None, json.dumps({"consumerGroup": "LG", "clientId": "c1", "mqSet": mqs[:1]}).encode())
assert r[0]["code"] == 0
assert lock("c2", mqs) == [0], "unlock did not free queue 0"
time.sleep(5.2)                             # c1's lock on queue 1 expires (5 s here)
assert lock("c2", mqs) == [0, 1], "an expired lock was not granted"
r = c.call(41, None, b"not json")
assert r[0]["code"] == 1
print("raw lock protocol: ok")
PY
lt_stop_broker
lt_start_broker || lt_fail "broker did not restart"
timeout 120 "$LT_BIN/order_e2e" "$LT_NS_ADDR" ordered || lt_fail "ordered consumption"
timeout 90 "$LT_BIN/order_e2e" "$LT_NS_ADDR" poison || lt_fail "a poison message blocked its ordered queue"
PYTHONPATH="$here" timeout 20 python3 - "$LT_BROKER_PORT" <<'PY' || lt_fail "the poison message is not in the DLQ"
import sys
from rmq_frames import Conn, pull_all
recs = pull_all(Conn(int(sys.argv[1])), "%DLQ%PoisonGroup", 0)
print("DLQ:", [r["body"] for r in recs])
sys.exit(0 if [r["body"] for r in recs] == [b"poison"] else 1)
PY
timeout 150 "$LT_BIN/order_e2e" "$LT_NS_ADDR" broadcast || lt_fail "broadcast consumption"
ls "$HOME"/.rocketmq_offsets/*/BcastGroup/offsets.json >/dev/null 2>&1 || lt_fail "broadcast offsets were not kept locally"
echo "order: 5 passed, 0 failed"
