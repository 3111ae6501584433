#!/usr/bin/env bash
# Store inspection and maintenance through mqadmin, with RocketMQ 4.9's output lines:
# brokerConsumeStats, queryCq, cloneGroupOffset, cleanExpiredCQ, deleteExpiredCommitLog,
# cleanUnusedTopic; and the broker tables behind them as raw requests (GET_ALL_CONSUMER_OFFSET 43,
# GET_ALL_DELAY_OFFSET 45, QUERY_CONSUME_TIME_SPAN 303, GET_SYSTEM_TOPIC_LIST_FROM_BROKER 305).
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
lt_start_single

NAMESRV_ADDR="$N" timeout 30 "$LT_BIN/producer" -c 40 >/dev/null 2>&1 || lt_fail "producer failed"
NAMESRV_ADDR="$N" timeout 100 "$LT_BIN/consumer" -g G1 -c 40 -T 90 >/dev/null 2>&1 || lt_fail "consumer G1 did not get 40"
# the consumer commits its offsets as it stops; wait until the broker has them
g1_done() { "$A" consumerProgress -n "$N" -g G1 2>/dev/null | grep -qx "Diff Total: 0"; }
lt_wait_for 30 "G1's offsets reach the broker" g1_done

out=$("$A" brokerConsumeStats -n "$N" -b "$LT_BROKER_ADDR") || lt_fail "brokerConsumeStats failed: $out"
[ "$(head -1 <<<"$out")" = "$(printf '%-64s  %-64s  %-32s  %-4s  %-20s  %-20s  %-20s  %s' '#Topic' '#Group' '#Broker Name' '#QID' '#Broker Offset' '#Consumer Offset' '#Diff' '#LastTime')" ] \
    && [ "$(grep -cE '^TopicTest +G1 +broker-a +[0-3] +10 +10 +0 +[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8}$' <<<"$out")" -eq 4 ] \
    && grep -qx "Diff Total: 0" <<<"$out" || lt_fail "brokerConsumeStats: $out"; ok
out=$("$A" brokerConsumeStats -n "$N" -b "$LT_BROKER_ADDR" -l 1) && ! grep -q "^TopicTest " <<<"$out" || lt_fail "brokerConsumeStats -l 1: $out"; ok

out=$("$A" queryCq -n "$N" -t TopicTest -q 1 -i 0 -c 3) || lt_fail "queryCq failed: $out"
tag=$(python3 -c 'h=0
for ch in "TagA": h=(31*h+ord(ch)) & 0xffffffff
print(h - (1 << 32) if h >= 1 << 31 else h)')
grep -qx "max: 10, min: 0" <<<"$out" && [ "$(grep -c '^idx: ' <<<"$out")" -eq 3 ] && grep -qx "idx: 2" <<<"$out" \
    && [ "$(grep -cE "^ConsumeQueueData\{physicOffset=[0-9]+, physicSize=[0-9]+, tagsCode=$tag, extendDataJson='null', bitMap='null', eval=false, msg='null'\}$" <<<"$out")" -eq 3 ] \
    || lt_fail "queryCq: $out"; ok
out=$("$A" queryCq -n "$N" -t TopicTest -q 0 -i 0 -c 1 -g G1) && grep -qx "G1@TopicTest is not online!" <<<"$out" || lt_fail "queryCq -g: $out"
out=$("$A" queryCq -n "$N" -t TopicTest -q 9 -i 0 2>&1) && lt_fail "queryCq of a missing queue succeeded: $out"
grep -q "9@TopicTest is not exist!" <<<"$out" || lt_fail "queryCq missing queue: $out"; ok

out=$("$A" cloneGroupOffset -n "$N" -s G1 -d G2 -t TopicTest) || lt_fail "cloneGroupOffset failed: $out"
[ "$out" = "clone group offset success. srcGroup[G1], destGroup=[G2], topic[TopicTest]" ] || lt_fail "cloneGroupOffset: $out"; ok

for cmd in cleanExpiredCQ deleteExpiredCommitLog; do
    out=$("$A" $cmd -n "$N" -b "$LT_BROKER_ADDR") && [ "$out" = "success" ] || lt_fail "$cmd: $out"
done
out=$("$A" cleanExpiredCQ -n "$N" -c DefaultCluster) && [ "$out" = "success" ] || lt_fail "cleanExpiredCQ -c: $out"; ok

# the tables behind them, as raw requests of a Java admin client
PYTHONPATH="$here" timeout 30 python3 - "$LT_BROKER_PORT" <<'PY' || lt_fail "broker tables"
import json, sys
from rmq_frames import Conn
c = Conn(int(sys.argv[1]))
def body(code, ext=None):
    r = c.call(code, ext)
    assert r and r[0]["code"] == 0, (code, r and r[0])
    return r[1]
offs = body(43)
assert b'"TopicTest@G2":{0:10,1:10,2:10,3:10}' in offs and b'"TopicTest@G1":{0:10' in offs, offs
levels = body(45)   # fastjson: integer keys unquoted
assert b'"offsetTable":{1:' in levels and b",18:" in levels, levels
span = json.loads(body(303, {"topic": "TopicTest", "group": "G1"}))["consumeTimeSpanSet"]
assert len(span) == 4, span
for s in span:
    assert s["minTimeStamp"] > 0 and s["maxTimeStamp"] >= s["minTimeStamp"], s
    assert s["consumeTimeStamp"] == s["maxTimeStamp"] and s["delayTime"] == 0, s
r = c.call(303, {"topic": "NoSuchTopic", "group": "G1"})
assert r[0]["code"] == 17, r[0]
sys_topics = json.loads(body(305))["topicList"]
assert "TBW102" in sys_topics and "SCHEDULE_TOPIC_XXXX" in sys_topics, sys_topics
print("tables ok")
PY
ok

# cleanUnusedTopic: consume queues of a topic that left the topic table go; others stay
"$A" sendMessage -n "$N" -t Gone -p bye >/dev/null || lt_fail "send to Gone"
lt_stop_broker
python3 - "$LT_DIR/store/config/topics.json" <<'PY' || lt_fail "could not edit topics.json"
import json, sys
p = sys.argv[1]
d = json.load(open(p))
del d["topicConfigTable"]["Gone"]
json.dump(d, open(p, "w"))
PY
lt_start_broker || lt_fail "broker did not restart"
[ -d "$LT_DIR/store/consumequeue/Gone" ] || lt_fail "no consume queue for Gone to clean"
out=$("$A" cleanUnusedTopic -n "$N" -b "$LT_BROKER_ADDR") && [ "$out" = "success" ] || lt_fail "cleanUnusedTopic: $out"
[ ! -d "$LT_DIR/store/consumequeue/Gone" ] && [ -d "$LT_DIR/store/consumequeue/TopicTest" ] \
    || lt_fail "cleanUnusedTopic removed the wrong consume queues: $(ls "$LT_DIR/store/consumequeue")"; ok
lt_stop_broker
echo "mqadmin inspect: $pass passed, 0 failed"
