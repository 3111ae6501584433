#!/usr/bin/env bash
# Master/slave replication (RocketMQ 4.x HA, spec §5) with a SYNC_MASTER and a SLAVE of the
# same brokerName under one name server:
#  1. with no slave, a SYNC_MASTER send is stored and answered SLAVE_NOT_AVAILABLE (11);
#  2. once the slave is attached, sends are answered SEND_OK only after the slave has them; the
#     slave's records are byte for byte the master's; the name server lists both brokers;
#  3. the slave copies topics and consumer offsets; pulls suggest the group's broker id
#     (slaveReadEnable); the slave refuses sends (14); a frozen slave
#     (SIGSTOP) makes sends FLUSH_SLAVE_TIMEOUT (12) after slaveTimeout;
#  4. a killed slave makes sends SLAVE_NOT_AVAILABLE at once; restarted, it catches up from its
#     own end;
#  5. with the master killed (-9), every acknowledged message is read from the slave, also by
#     the C client's push consumer.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
lt_start_single brokerRole=SYNC_MASTER slaveTimeout=1000 slaveReadEnable=true
M=$LT_BROKER_PORT
MPID=$LT_BROKER_PID

py() { PYTHONPATH="$here" timeout 150 python3 - "$M" "${LT_SLAVE_PORT:-0}" "$N" "$@"; }

# 1. no slave yet
py <<'PY' || lt_fail "SYNC_MASTER without a slave"
import sys
from rmq_frames import Conn, send_v2, pull_all
m = Conn(int(sys.argv[1]))
r = send_v2(m, "RepTopic", b"first", queue_id=0)
print("no slave:", r[0]["code"], r[0].get("remark"))
assert r[0]["code"] == 11 and r[0]["extFields"].get("msgId"), r[0]
assert [x["body"] for x in pull_all(m, "RepTopic", 0)] == [b"first"]
PY
ok

# 2. the slave attaches; SEND_OK means the slave has the message
lt_start_slave || lt_fail "slave did not start"
py <<'PY' || lt_fail "replication to the slave"
import json, sys, time
from rmq_frames import Conn, send_v2, pull_all
m = Conn(int(sys.argv[1]))
deadline = time.time() + 60
while True:   # the slave finds its master through the name server, then connects
    r = send_v2(m, "RepTopic", b"probe", queue_id=1)
    if r[0]["code"] == 0 or time.time() > deadline:
        break
    time.sleep(0.3)
assert r[0]["code"] == 0, ("never SEND_OK with a slave", r[0])
for i in range(200):
    r = send_v2(m, "RepTopic", b"m-%d" % i, queue_id=i % 4)
    assert r[0]["code"] == 0, r[0]
# the slave copies the topic table within its 10 s period; then its queues serve pulls
s = Conn(int(sys.argv[2]))
deadline = time.time() + 60
while time.time() < deadline:
    t = s.call(21)
    if t[0]["code"] == 0 and b'"RepTopic"' in t[1]:
        break
    time.sleep(0.5)
else:
    raise SystemExit("topic table never reached the slave")
for q in range(4):
    a, b = pull_all(m, "RepTopic", q), pull_all(s, "RepTopic", q)
    assert len(a) > 0 and [(x["physicOffset"], x["body"], x["properties"], x["storeTimestamp"]) for x in a] == \
        [(x["physicOffset"], x["body"], x["properties"], x["storeTimestamp"]) for x in b], (q, len(a), len(b))
# the route has both brokers of broker-a
n = Conn(int(sys.argv[3].split(":")[1]))
route = n.call(105, {"topic": "RepTopic"})
addrs = json.loads(route[1].decode())["brokerDatas"][0]["brokerAddrs"]
assert set(addrs.values()) == {"127.0.0.1:%s" % sys.argv[1], "127.0.0.1:%s" % sys.argv[2]}, addrs
print("slave has everything; route", addrs)
PY
ok
# mqadmin clusterList shows the pair: the master as BID 0, the slave as BID 1
out=$("$A" clusterList -n "$N") || lt_fail "clusterList failed"
grep -qE "^DefaultCluster +broker-a +0 +127.0.0.1:$M " <<<"$out" && grep -qE "^DefaultCluster +broker-a +1 +127.0.0.1:$LT_SLAVE_PORT " <<<"$out" \
    || lt_fail "clusterList does not show master and slave: $out"; ok

# 3. consumer offsets reach the slave; the slave refuses sends
py <<'PY' || lt_fail "slave tables, read suggestions and refusal"
import json, sys, time
from rmq_frames import Conn, send_v2
m, s = Conn(int(sys.argv[1])), Conn(int(sys.argv[2]))
r = m.call(15, {"consumerGroup": "RepGroup", "topic": "RepTopic", "queueId": 2, "commitOffset": 7})
assert r[0]["code"] == 0, r[0]
deadline = time.time() + 60
while time.time() < deadline:
    r = s.call(14, {"consumerGroup": "RepGroup", "topic": "RepTopic", "queueId": 2})
    if r[0]["code"] == 0 and r[0]["extFields"].get("offset") == "7":
        break
    time.sleep(0.5)
else:
    raise SystemExit("offset never reached the slave: %r" % (r[0],))
# slaveReadEnable: pulls suggest the group's brokerId (whichBrokerWhenConsumeSlowly when lagging)
r = m.call(200, {}, json.dumps({"groupName": "SlaveReaders", "brokerId": 1, "whichBrokerWhenConsumeSlowly": 1}).encode())
assert r[0]["code"] == 0, r[0]
def suggestion(group):
    r = m.call(11, {"consumerGroup": group, "topic": "RepTopic", "queueId": 0, "queueOffset": 0, "maxMsgNums": 1,
                    "sysFlag": 4, "commitOffset": 0, "suspendTimeoutMillis": 0, "subscription": "*", "subVersion": 0})
    assert r[0]["code"] == 0, r[0]
    return r[0]["extFields"]["suggestWhichBrokerId"]
assert suggestion("SlaveReaders") == "1" and suggestion("RepGroup") == "0", (suggestion("SlaveReaders"), suggestion("RepGroup"))
r = send_v2(s, "RepTopic", b"to-slave")
print("send to slave:", r[0]["code"], r[0].get("remark"))
assert r[0]["code"] == 14 and "slave" in r[0].get("remark", ""), r[0]
PY
ok

# a slave that cannot confirm (frozen, its connection still open): FLUSH_SLAVE_TIMEOUT
kill -STOP "$LT_SLAVE_PID"
py <<'PY' || { kill -CONT "$LT_SLAVE_PID"; lt_fail "send with a frozen slave"; }
import sys, time
from rmq_frames import Conn, send_v2
m = Conn(int(sys.argv[1]))
t0 = time.time()
r = send_v2(m, "RepTopic", b"frozen", queue_id=0)
dt = time.time() - t0
print("frozen slave:", r[0]["code"], "after %.2fs" % dt, r[0].get("remark"))
assert r[0]["code"] == 12 and 0.9 <= dt < 10, (r[0], dt)   # slaveTimeout 1 s; room for a busy machine
PY
kill -CONT "$LT_SLAVE_PID"
ok

# 4. the slave dies: SLAVE_NOT_AVAILABLE; back again: it catches up from its own end
kill -9 "$LT_SLAVE_PID"; wait "$LT_SLAVE_PID" 2>/dev/null
py <<'PY' || lt_fail "sends while the slave is down"
import sys, time
from rmq_frames import Conn, send_v2
m = Conn(int(sys.argv[1]))
deadline = time.time() + 60
while True:   # until the master has seen the slave's connection close (until then: 12, timeout)
    r = send_v2(m, "RepTopic", b"alone-probe", queue_id=3)
    if r[0]["code"] == 11 or time.time() > deadline:
        break
    time.sleep(0.2)
for i in range(20):
    r = send_v2(m, "RepTopic", b"alone-%d" % i, queue_id=3)
    assert r[0]["code"] == 11, r[0]
PY
lt_start_slave || lt_fail "slave did not restart"
py <<'PY' || lt_fail "slave catching up"
import sys, time
from rmq_frames import Conn, send_v2, pull_all
m = Conn(int(sys.argv[1]))
deadline = time.time() + 60
while True:
    r = send_v2(m, "RepTopic", b"after", queue_id=3)
    if r[0]["code"] == 0 or time.time() > deadline:
        break
    time.sleep(0.3)
assert r[0]["code"] == 0, r[0]
s = Conn(int(sys.argv[2]))
a, b = pull_all(m, "RepTopic", 3), pull_all(s, "RepTopic", 3)
assert [x["body"] for x in a] == [x["body"] for x in b] and b[-1]["body"] == b"after", (len(a), len(b))
PY
ok

# 5. the master dies: everything acknowledged is on the slave
kill -9 "$MPID"; wait "$MPID" 2>/dev/null
py <<'PY' || lt_fail "reading from the slave after the master died"
import sys
from rmq_frames import Conn, pull_all
s = Conn(int(sys.argv[2]))
bodies = [x["body"] for q in range(4) for x in pull_all(s, "RepTopic", q)]
missing = [i for i in range(200) if b"m-%d" % i not in bodies]
assert not missing and b"first" in bodies and b"after" in bodies, missing[:5]
print("slave serves", len(bodies), "messages with the master gone")
PY
ok
# ... and an unchanged consumer (Loulan's C client) reads them there: with the master gone the
# name server's route has only the slave, and the client reads from it
NAMESRV_ADDR="$N" timeout 100 "$LT_BIN/consumer" -t RepTopic -g FailoverGroup -c 224 -T 90 >"$LT_DIR/failover.out" 2>&1
out=$(grep -c "Receive New Messages" "$LT_DIR/failover.out")
[ "$out" -ge 224 ] || lt_fail "the consumer got $out of 224 messages from the slave: $(grep -v "Receive New" "$LT_DIR/failover.out" | tail -20) $(tail -20 "$LT_DIR/slave.out")"; ok
echo "replication: $pass passed, 0 failed"
