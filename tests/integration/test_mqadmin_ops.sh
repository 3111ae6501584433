#!/usr/bin/env bash
# The operator commands of mqadmin on a known cluster state (50 messages in TopicTest, group
# AdminGroup has consumed them all): RocketMQ 4.9's output layout for consumerProgress,
# consumerConnection, updateSubGroup / deleteSubGroup, brokerStatus, getBrokerConfig,
# updateBrokerConfig (runtime-safe keys only: a path is refused), resetOffsetByTime; and the
# recorded requests of the real mqadmin 4.9.5 get answers of the recorded answers' shape.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
lt_start_single
NAMESRV_ADDR="$N" timeout 30 "$LT_BIN/producer" -c 50 >/dev/null 2>&1 || lt_fail "producer failed"
# the consumer must stay alive through the checks below (killed after them): -T is a backstop
NAMESRV_ADDR="$N" timeout 150 "$LT_BIN/consumer" -g AdminGroup -T 140 >/dev/null 2>&1 &
cpid=$!
LT_PIDS+=("$cpid")   # stopped by lt_cleanup too if a check fails first
deadline=$((SECONDS + 60))
while [ $SECONDS -lt $deadline ]; do  # until the group has committed all 50
    out=$("$A" consumerProgress -n "$N" -g AdminGroup 2>/dev/null) && grep -q "^Diff Total: 0$" <<<"$out" && \
        [ "$(tail -n +2 <<<"$out" | grep -c '^TopicTest ')" -eq 4 ] && break
    sleep 0.2
done
[ "$(head -1 <<<"$out")" = "$(printf '%-64s  %-32s  %-4s  %-20s  %-20s  %-20s  %s' '#Topic' '#Broker Name' '#QID' '#Broker Offset' '#Consumer Offset' '#Diff' '#LastTime')" ] \
    || lt_fail "consumerProgress header: $(head -1 <<<"$out")"; ok
row=$(grep '^TopicTest ' <<<"$out" | head -1)
[[ "$row" =~ ^TopicTest\ {55}\ \ broker-a\ {24}\ \ 0\ {3}\ \ [0-9]+\ +\ \ [0-9]+\ +\ \ 0\ {19}\ \ [0-9]{4}-[0-9]{2}-[0-9]{2}\ [0-9:]{8}$ ]] \
    || lt_fail "consumerProgress row: '$row'"; ok
grep -qE '^Consume TPS: [0-9]+\.[0-9]{2}$' <<<"$out" && grep -qx 'Diff Total: 0' <<<"$out" || lt_fail "consumerProgress totals: $out"; ok

out=$("$A" consumerConnection -n "$N" -g AdminGroup) || lt_fail "consumerConnection failed"
[ "$(head -1 <<<"$out")" = "$(printf '%-36s %-22s %-10s %s' '#ClientId' '#ClientAddr' '#Language' '#Version')" ] || lt_fail "consumerConnection header: $out"
grep -qx 'ConsumeType: CONSUME_PASSIVELY' <<<"$out" && grep -qx 'MessageModel: CLUSTERING' <<<"$out" \
    && grep -qE '^TopicTest +\*$' <<<"$out" && [ "$(sed -n 2p <<<"$out" | awk '{print $3}')" != "" ] || lt_fail "consumerConnection: $out"; ok
# consumerStatus: the broker relays GET_CONSUMER_RUNNING_INFO (307) to the live client
cid=$(sed -n 2p <<<"$out" | awk '{print $1}')
out=$(cd "$LT_DIR" && "$A" consumerStatus -n "$N" -g AdminGroup) || lt_fail "consumerStatus failed: $out"
[ "$(head -1 <<<"$out")" = "$(printf '%-10s %-40s %-20s %s' '#Index' '#ClientId' '#Version' '#ConsumerRunningInfoFile')" ] \
    && sed -n 2p <<<"$out" | grep -qE "^1 +$cid +V4_9_[0-9] +[0-9]+/$cid$" && grep -qx "Rebalance OK" <<<"$out" \
    || lt_fail "consumerStatus: $out"
file="$LT_DIR/$(sed -n 2p <<<"$out" | awk '{print $4}')"
grep -qx "#Consumer Properties#" "$file" && grep -qE '^PROP_CONSUME_TYPE +: CONSUME_PASSIVELY$' "$file" \
    && grep -qE '^001 Topic: (TopicTest|%RETRY%AdminGroup) +ClassFilter: false +SubExpression: \*$' "$file" \
    && [ "$(grep -cE '^TopicTest +broker-a +[0-3] +[0-9]+ *$' "$file")" -eq 4 ] && grep -qE '^PROP_NAMESERVER_ADDR +: 127.0.0.1:' "$file" \
    && grep -qE '^TopicTest +broker-a +0 +ProcessQueueInfo \[commitOffset=[0-9]+, .*lastConsumeTimestamp=[0-9]{17}\]$' "$file" \
    || lt_fail "consumerStatus file: $(cat "$file")"
out=$("$A" consumerStatus -n "$N" -g AdminGroup -i "$cid") && grep -qx "#Consumer MQ Detail#" <<<"$out" \
    || lt_fail "consumerStatus -i: $out"
out=$("$A" consumerStatus -n "$N" -g AdminGroup -i no-such-client 2>&1) && lt_fail "consumerStatus for a missing client succeeded"
grep -q "not online" <<<"$out" || lt_fail "consumerStatus for a missing client: $out"; ok
out=$("$A" consumerProgress -n "$N" -g AdminGroup -s true) || lt_fail "consumerProgress -s failed"
[ "$(head -1 <<<"$out")" = "$(printf '%-64s  %-32s  %-4s  %-20s  %-20s  %-20s %-20s  %s' '#Topic' '#Broker Name' '#QID' '#Broker Offset' '#Consumer Offset' '#Client IP' '#Diff' '#LastTime')" ] \
    && [ "$(grep -cE "^TopicTest +broker-a +[0-3] +[0-9]+ +[0-9]+ +${cid%%@*} +0 " <<<"$out")" -eq 4 ] || lt_fail "consumerProgress -s: $out"; ok
# a live group that has consumed the message: its track is CONSUMED
out=$("$A" queryMsgByOffset -n "$N" -t TopicTest -b broker-a -i 0 -o 0) || lt_fail "queryMsgByOffset failed"
grep -q "^MessageTrack \[consumerGroup=AdminGroup, trackType=CONSUMED, exceptionDesc=null\]" <<<"$out" \
    || lt_fail "queryMsgByOffset track of a live group: $out"; ok
kill "$cpid" 2>/dev/null; wait "$cpid" 2>/dev/null

# a producer that stays connected (a Java-like heartbeat with a producer group, version V4_9_5)
# (it says so in a file once the broker has answered the heartbeat, then stays until killed)
PYTHONPATH="$here" timeout 120 python3 - "$LT_BROKER_PORT" "$LT_DIR/hb-ready" <<'PY' &
import json, sys, time
from rmq_frames import Conn
c = Conn(int(sys.argv[1]))
hb = {"clientID": "10.0.0.9@demo", "consumerDataSet": [], "producerDataSet": [{"groupName": "AdminPG"}]}
c.call(34, None, json.dumps(hb).encode())
open(sys.argv[2], "w").close()
time.sleep(110)
PY
hbpid=$!
LT_PIDS+=("$hbpid")
lt_wait_for 60 "the producer's heartbeat is answered" test -e "$LT_DIR/hb-ready" || lt_fail "heartbeat not answered"
out=$("$A" producerConnection -n "$N" -g AdminPG -t TopicTest) || lt_fail "producerConnection failed"
[[ "$out" =~ ^0001\ \ 10\.0\.0\.9@demo\ {19}\ 127\.0\.0\.1:[0-9]+\ +JAVA\ {5}V4_9_8$ ]] || lt_fail "producerConnection: '$out'"; ok
kill "$hbpid" 2>/dev/null; wait "$hbpid" 2>/dev/null

out=$("$A" updateSubGroup -n "$N" -b "$LT_BROKER_ADDR" -g G1 -r 3) || lt_fail "updateSubGroup failed: $out"
[ "$out" = "create subscription group to $LT_BROKER_ADDR success.
SubscriptionGroupConfig [groupName=G1, consumeEnable=true, consumeFromMinEnable=true, consumeBroadcastEnable=true, retryQueueNums=1, retryMaxTimes=3, brokerId=0, whichBrokerWhenConsumeSlowly=1, notifyConsumerIdsChangedEnable=true]" ] \
    || lt_fail "updateSubGroup output: $out"; ok
# the broker writes its config files off the loop, a moment after the change: wait for it
groups="$LT_DIR/store/config/subscriptionGroup.json"
g1_saved() { grep -q '"G1":{[^}]*"retryMaxTimes":3' "$groups"; }
g1_gone() { [ -s "$groups" ] && ! grep -q '"G1"' "$groups"; }
lt_wait_for 30 "G1 is written to subscriptionGroup.json" g1_saved || lt_fail "G1 not persisted"; ok
out=$("$A" deleteSubGroup -n "$N" -b "$LT_BROKER_ADDR" -g G1) || lt_fail "deleteSubGroup failed"
[ "$out" = "delete subscription group [G1] from broker [$LT_BROKER_ADDR] success." ] || lt_fail "deleteSubGroup output: $out"
lt_wait_for 30 "G1 leaves subscriptionGroup.json" g1_gone || lt_fail "G1 still there after deleteSubGroup"; ok

out=$("$A" brokerStatus -n "$N" -b "$LT_BROKER_ADDR") || lt_fail "brokerStatus failed"
grep -qE '^msgPutTotalTodayNow {13}: 50$' <<<"$out" || lt_fail "brokerStatus: $out"
[ "$(cut -d: -f1 <<<"$out")" = "$(cut -d: -f1 <<<"$out" | LC_ALL=C sort)" ] || lt_fail "brokerStatus keys not sorted"; ok

out=$("$A" getBrokerConfig -n "$N" -b "$LT_BROKER_ADDR") || lt_fail "getBrokerConfig failed"
[ "$(head -1 <<<"$out")" = "============$LT_BROKER_ADDR============" ] && grep -qE '^brokerName {40}=  broker-a$' <<<"$out" \
    || lt_fail "getBrokerConfig: $(head -3 <<<"$out")"; ok
out=$("$A" updateBrokerConfig -n "$N" -b "$LT_BROKER_ADDR" -k autoCreateTopicEnable -v false) || lt_fail "updateBrokerConfig failed"
[ "$out" = "update broker config success, $LT_BROKER_ADDR" ] || lt_fail "updateBrokerConfig output: $out"
"$A" getBrokerConfig -n "$N" -b "$LT_BROKER_ADDR" | grep -qE '^autoCreateTopicEnable +=  false$' || lt_fail "update not applied"; ok
# written into the broker's -c file, as RocketMQ does: in place when set there, else appended
"$A" updateBrokerConfig -n "$N" -b "$LT_BROKER_ADDR" -k transactionCheckMax -v 7 >/dev/null || lt_fail "updateBrokerConfig transactionCheckMax"
[ "$(grep -c '^autoCreateTopicEnable=' "$LT_DIR/broker.conf")" -eq 1 ] && grep -qx "autoCreateTopicEnable=false" "$LT_DIR/broker.conf" \
    && grep -qx "transactionCheckMax=7" "$LT_DIR/broker.conf" && grep -qx "brokerName=broker-a" "$LT_DIR/broker.conf" \
    || lt_fail "updated keys not written into broker.conf: $(cat "$LT_DIR/broker.conf")"; ok
err=$("$A" updateBrokerConfig -n "$N" -b "$LT_BROKER_ADDR" -k storePathRootDir -v /tmp/evil 2>&1); rc=$?
[ $rc -ne 0 ] && grep -q "cannot be changed at run time" <<<"$err" && [ "$(wc -l <<<"$err")" -eq 1 ] || lt_fail "a path key was not refused: $err"
"$A" getBrokerConfig -n "$N" -b "$LT_BROKER_ADDR" | grep -q '/tmp/evil' && lt_fail "the path changed"
grep -q '/tmp/evil' "$LT_DIR/broker.conf" && lt_fail "a refused key reached broker.conf"; ok

out=$("$A" resetOffsetByTime -n "$N" -g AdminGroup -t TopicTest -s 0) || lt_fail "resetOffsetByTime failed: $out"
[ "$(head -1 <<<"$out")" = "rollback consumer offset by specified group[AdminGroup], topic[TopicTest], force[true], timestamp(string)[0], timestamp(long)[0]" ] \
    && [ "$(sed -n 2p <<<"$out")" = "$(printf '%-40s  %-40s  %-40s' '#brokerName' '#queueId' '#offset')" ] && [ "$(tail -n +3 <<<"$out" | wc -l)" -eq 4 ] \
    || lt_fail "resetOffsetByTime output: $out"
"$A" consumerProgress -n "$N" -g AdminGroup | grep -qx 'Diff Total: 50' || lt_fail "offsets not reset to the start"; ok
err=$("$A" consumerProgress -n "$N" -g NoSuchGroup 2>&1); rc=$?
[ $rc -ne 0 ] && [ "$(wc -l <<<"$err")" -eq 1 ] || lt_fail "unknown group: $err"; ok

out=$("$A" sendMessage -n "$N" -t TopicTest -p hello-admin -k admin-key -c TagQ) || lt_fail "sendMessage failed: $out"
[ "$(head -1 <<<"$out")" = "$(printf '%-32s  %-4s  %-20s    %s' '#Broker Name' '#QID' '#Send Result' '#MsgId')" ] || lt_fail "sendMessage header: $out"
msgid=$(sed -n 2p <<<"$out" | awk '{print $4}')
sed -n 2p <<<"$out" | grep -qE "^broker-a {24}  [0-9] {3}  SEND_OK {13}    [0-9A-F]{32}$" || lt_fail "sendMessage row: $out"; ok
for q in 2 3; do   # -b and -i pick the queue, as RocketMQ's sendMessage
    out=$("$A" sendMessage -n "$N" -t TopicTest -p to-queue-$q -b broker-a -i $q) || lt_fail "sendMessage -i $q failed: $out"
    sed -n 2p <<<"$out" | grep -qE "^broker-a {24}  $q {3}  SEND_OK " || lt_fail "sendMessage -b -i $q: $out"
done
out=$("$A" sendMessage -n "$N" -t TopicTest -p nowhere -b broker-a -i 99 2>&1) && lt_fail "sendMessage to a missing queue succeeded: $out"
grep -q "no writable queue 99" <<<"$out" || lt_fail "sendMessage to a missing queue: $out"; ok
out=$("$A" decodeMessageId -i "$msgid") || lt_fail "decodeMessageId failed"
grep -qE "^ip=[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+date=$(date +%Y-%m-%d)#[0-9]{2}:[0-9]{2}:[0-9]{2}:[0-9]{3}$" <<<"$out" \
    || grep -qE "^ip=[0-9.]+date=$(date -d '1 minute ago' +%Y-%m-%d)#" <<<"$out" || lt_fail "decodeMessageId: $out"; ok
out=$("$A" queryMsgByKey -n "$N" -t TopicTest -k admin-key) || lt_fail "queryMsgByKey failed"
[ "$(head -1 <<<"$out")" = "$(printf '%-50s %4s %40s' '#Message ID' '#QID' '#Offset')" ] && [ "$(tail -n +2 <<<"$out" | wc -l)" -eq 1 ] \
    && grep -q "^$msgid " <<<"$out" || lt_fail "queryMsgByKey: $out"; ok
out=$("$A" queryMsgById -n "$N" -t TopicTest -i "$msgid") || lt_fail "queryMsgById failed: $out"
grep -qx "Topic:               TopicTest" <<<"$out" && grep -qx "Tags:                \[TagQ\]" <<<"$out" \
    && grep -qx "Keys:                \[admin-key\]" <<<"$out" && grep -qE "^OffsetID: {12}[0-9A-F]{32}$" <<<"$out" || lt_fail "queryMsgById: $out"
# the message track of each consumer group of the topic (AdminGroup has stopped by now)
grep -q "^MessageTrack \[consumerGroup=AdminGroup, trackType=NOT_ONLINE, exceptionDesc=CODE:206 DESC:the consumer group\[AdminGroup\] not online\]" <<<"$out" \
    || lt_fail "queryMsgById track: $out"
out2=$("$A" queryMsgByUniqueKey -n "$N" -t TopicTest -i "$msgid") || lt_fail "queryMsgByUniqueKey failed"
grep -qx "Topic:               TopicTest" <<<"$out2" && ! grep -q "^OffsetID:" <<<"$out2" && grep -q "^MessageTrack \[consumerGroup=AdminGroup" <<<"$out2" \
    || lt_fail "queryMsgByUniqueKey: $out2"; ok
path=$(grep "^Message Body Path:" <<<"$out" | awk '{print $4}')
[ "$(cat "$path")" = "hello-admin" ] || lt_fail "message body file $path"
offid=$(grep "^OffsetID:" <<<"$out" | awk '{print $2}')
"$A" queryMsgById -n "$N" -i "$offid" | grep -qx "Keys:                \[admin-key\]" || lt_fail "queryMsgById by offsetMsgId"; ok

out=$("$A" queryMsgByOffset -n "$N" -t TopicTest -b broker-a -i 1 -o 2) || lt_fail "queryMsgByOffset failed"
grep -qx "Queue ID:            1" <<<"$out" && grep -qx "Queue Offset:        2" <<<"$out" || lt_fail "queryMsgByOffset: $out"; ok
out=$("$A" printMsg -n "$N" -t TopicTest) || lt_fail "printMsg failed"
[ "$(grep -c '^MSGID: [0-9A-F]\{32\} MessageExt \[' <<<"$out")" -eq 53 ] && [ "$(grep -c '^minOffset=0, maxOffset=' <<<"$out")" -eq 4 ] \
    && grep -q "BODY: hello-admin$" <<<"$out" && ! grep -q "print msg finished" <<<"$out" || lt_fail "printMsg: $(head -5 <<<"$out")"
"$A" printMsg -n "$N" -t TopicTest -d false | grep -q " BODY: NOT PRINT BODY$" || lt_fail "printMsg -d false"; ok
out=$("$A" consumeMessage -n "$N" -t TopicTest -b broker-a -i 2 -c 5) || lt_fail "consumeMessage failed"
grep -qx "The older 5 message of the 2 queue will be provided" <<<"$out" && grep -qx "Consume ok" <<<"$out" \
    && [ "$(grep -c '^MSGID: ' <<<"$out")" -eq 5 ] || lt_fail "consumeMessage: $out"; ok
out=$("$A" statsAll -n "$N" -t TopicTest) || lt_fail "statsAll failed"
[ "$(head -1 <<<"$out")" = "$(printf '%-64s  %-64s %12s %11s %11s %14s %14s' '#Topic' '#Consumer Group' '#Accumulation' '#InTPS' '#OutTPS' '#InMsg24Hour' '#OutMsg24Hour')" ] \
    || lt_fail "statsAll header: $(head -1 <<<"$out")"
row=$(grep -E '^TopicTest +AdminGroup ' <<<"$out")
[ "$(awk '{print $6}' <<<"$row")" -eq 53 ] && [ "$(awk '{print $7}' <<<"$row")" -ge 50 ] && [ "$(awk '{print $3}' <<<"$row")" -eq 53 ] \
    || lt_fail "statsAll row (want 53 in, >= 50 out, 53 accumulated after the reset): $out"; ok

# recorded mqadmin 4.9.5 requests: same code, and the body keys of the real answers
PYTHONPATH="$here" timeout 20 python3 - "$LT_BROKER_PORT" "$2/java-mqadmin-4.9.5" <<'PY' || lt_fail "recorded mqadmin requests"
import json, struct, sys
from rmq_frames import Conn
c = Conn(int(sys.argv[1]))
def frame(path):
    d = open(path, "rb").read()
    hl = struct.unpack(">I", d[4:8])[0] & 0xFFFFFF
    return d, json.loads(d[8:8 + hl]), d[8 + hl:]
# the recorded group has consumed something here too
r = c.call(15, {"consumerGroup": "please_rename_unique_group_name_4", "topic": "TopicTest", "queueId": 0, "commitOffset": 5})
assert r[0]["code"] == 0, r[0]
for name, kind in (("010", "GET_CONSUME_STATS"), ("011", "GET_BROKER_CONFIG"), ("012", "UPDATE_AND_CREATE_SUBSCRIPTIONGROUP")):
    req, _, _ = frame("%s/real-%s-broker-req-%s.bin" % (sys.argv[2], name, kind))
    _, want, wbody = frame("%s/real-%s-broker-resp-%s.bin" % (sys.argv[2], name, kind))
    c.send_raw(req)
    h, body = c.recv_frame()
    assert h["code"] == want["code"], (kind, h)
    if kind == "GET_CONSUME_STATS":
        w = wbody.decode(); g = body.decode()
        for key in ("consumeTps", "offsetTable", "brokerOffset", "consumerOffset", "lastTimestamp"):
            assert key in w and key in g, (key, g)
    if kind == "GET_BROKER_CONFIG":
        wk = {l.split("=", 1)[0] for l in wbody.decode().splitlines() if "=" in l}
        gk = {l.split("=", 1)[0] for l in body.decode().splitlines() if "=" in l}
        common = {"brokerName", "brokerClusterName", "listenPort", "storePathRootDir", "namesrvAddr", "flushDiskType",
                  "fileReservedTime", "deleteWhen", "messageDelayLevel", "maxMessageSize", "brokerRole"}
        assert common <= wk and common <= gk, common - gk
        assert "version" in h.get("extFields", {}), h
    print("replayed", kind, "->", h["code"])
PY
ok

# getConsumerConfig: the group's config on each broker, Java field order
out=$("$A" getConsumerConfig -n "$N" -g AdminGroup) || lt_fail "getConsumerConfig failed"
[ "$(head -1 <<<"$out")" = "=============================DefaultCluster:broker-a=============================" ] \
    && [ "$(sed -n 2p <<<"$out")" = "$(printf '%-40s=  %s' groupName AdminGroup)" ] \
    && [ "$(sed -n 7p <<<"$out")" = "$(printf '%-40s=  %s' retryMaxTimes 16)" ] && [ "$(wc -l <<<"$out")" -eq 10 ] \
    || lt_fail "getConsumerConfig: $out"; ok

# skipAccumulatedMessage: the group's offsets jump to the end (RocketMQ's table of new offsets)
"$A" consumerProgress -n "$N" -g AdminGroup | grep -qx 'Diff Total: 0' && lt_fail "nothing accumulated to skip"
out=$("$A" skipAccumulatedMessage -n "$N" -g AdminGroup -t TopicTest) || lt_fail "skipAccumulatedMessage failed: $out"
[ "$(head -1 <<<"$out")" = "$(printf '%-40s  %-40s  %-40s' '#brokerName' '#queueId' '#offset')" ] && [ "$(tail -n +2 <<<"$out" | wc -l)" -eq 4 ] \
    || lt_fail "skipAccumulatedMessage output: $out"
"$A" consumerProgress -n "$N" -g AdminGroup | grep -qx 'Diff Total: 0' || lt_fail "skipAccumulatedMessage left a backlog"; ok
echo "mqadmin ops: $pass passed, 0 failed"
