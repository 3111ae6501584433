#!/usr/bin/env bash
# mqadmin's subcommands against a live name server and broker: RocketMQ's output lines, clear
# one-line errors and non-zero exits for an unreachable name server, an unknown topic, bad flags.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
lt_start_single
out=$("$A" updateTopic -n "$LT_NS_ADDR" -c DefaultCluster -t AdminTopic -r 3 -w 3) || lt_fail "updateTopic failed: $out"
[ "$out" = "create topic to $LT_BROKER_ADDR success.
TopicConfig [topicName=AdminTopic, readQueueNums=3, writeQueueNums=3, perm=RW-, topicFilterType=SINGLE_TAG, topicSysFlag=0, order=false]" ] \
    || lt_fail "updateTopic output: $out"; ok
topic_listed() { "$A" topicList -n "$LT_NS_ADDR" | grep -qx "$1"; }
lt_wait_for 30 "AdminTopic reaches the name server" topic_listed AdminTopic
NAMESRV_ADDR="$LT_NS_ADDR" "$A" topicList | grep -qx AdminTopic || lt_fail "topicList lacks AdminTopic"; ok
"$A" topicList -n "$LT_NS_ADDR" | grep -qx TBW102 || lt_fail "topicList lacks TBW102"; ok
route=$("$A" topicRoute -n "$LT_NS_ADDR" -t AdminTopic) || lt_fail "topicRoute failed"
echo "$route" | grep -q '"readQueueNums":3' || lt_fail "topicRoute: $route"; ok
# RocketMQ's benchmark tools send to BenchmarkTest, which 4.9.5 creates at start with 1024 queues
bench_route() { "$A" topicRoute -n "$LT_NS_ADDR" -t BenchmarkTest 2>/dev/null | grep -q '"readQueueNums":1024'; }
lt_wait_for 30 "BenchmarkTest with 1024 queues in the route" bench_route || lt_fail "no BenchmarkTest with 1024 queues"; ok
err=$("$A" topicRoute -n "$LT_NS_ADDR" -t NoSuchTopic 2>&1 >/dev/null); rc=$?
[ $rc -ne 0 ] && echo "$err" | grep -q "CODE: 17" || lt_fail "unknown topic: rc $rc, $err"; ok
out=$("$A" deleteTopic -n "$LT_NS_ADDR" -c DefaultCluster -t AdminTopic) || lt_fail "deleteTopic failed: $out"
echo "$out" | grep -q "delete topic \[AdminTopic\] from NameServer success." || lt_fail "deleteTopic output: $out"; ok
"$A" topicList -n "$LT_NS_ADDR" | grep -qx AdminTopic && lt_fail "AdminTopic still listed after deleteTopic"; ok
err=$("$A" topicList -n 127.0.0.1:1 2>&1); rc=$?
[ $rc -ne 0 ] && [ "$(echo "$err" | wc -l)" -eq 1 ] || lt_fail "unreachable name server: rc $rc, $err"; ok
"$A" updateTopic -t X >/dev/null 2>&1; [ $? -eq 2 ] || lt_fail "missing flags must be a usage error"; ok
"$A" noSuchCommand >/dev/null 2>&1 && lt_fail "unknown subcommand must fail"; ok
"$A" | grep -q updateTopic || lt_fail "mqadmin alone lists the commands"; ok
# clusterList: RocketMQ 4.9's header line and one row per broker address with its runtime info.
NAMESRV_ADDR="$LT_NS_ADDR" timeout 30 "$LT_BIN/producer" -c 50 >/dev/null 2>&1 || lt_fail "producer failed"
in_tps_counted() { "$A" clusterList -n "$LT_NS_ADDR" | sed -n 2p | awk '{split($6, t, "("); exit !(t[1] > 0)}'; }
lt_wait_for 30 "clusterList's InTPS counts the 50 sends" in_tps_counted
out=$("$A" clusterList -n "$LT_NS_ADDR") || lt_fail "clusterList failed"
head -1 <<<"$out" | grep -qx '#Cluster Name     #Broker Name            #BID  #Addr                  #Version                #InTPS(LOAD)       #OutTPS(LOAD) #PCWait(ms) #Hour #SPACE' \
    || lt_fail "clusterList header: $(head -1 <<<"$out")"; ok
row=$(sed -n 2p <<<"$out")
echo "$row" | grep -qE "^DefaultCluster +broker-a +0 +$LT_BROKER_ADDR +V4_9_8 +[0-9]+\.[0-9]{2}\(0,0ms\)" || lt_fail "clusterList row: $row"
intps=$(echo "$row" | awk '{print $6}' | cut -d'(' -f1)
awk "BEGIN{exit !($intps > 0)}" || lt_fail "InTPS should count the 50 sends: $row"; ok
# clusterList -m: yesterday's and today's totals (today counts the 50 sends, the broker is new)
out=$("$A" clusterList -m -n "$LT_NS_ADDR") || lt_fail "clusterList -m failed"
[ "$(head -1 <<<"$out")" = "$(printf '%-16s  %-32s %14s %14s %14s %14s' '#Cluster Name' '#Broker Name' '#InTotalYest' '#OutTotalYest' '#InTotalToday' '#OutTotalToday')" ] \
    && sed -n 2p <<<"$out" | grep -qE '^DefaultCluster +broker-a +0 +0 +50 +[0-9]+$' || lt_fail "clusterList -m: $out"; ok
# topicStatus: one line per queue with min/max offsets and the last store time.
out=$("$A" topicStatus -n "$LT_NS_ADDR" -t TopicTest) || lt_fail "topicStatus failed"
head -1 <<<"$out" | grep -qx '#Broker Name                      #QID  #Min Offset           #Max Offset             #Last Updated' \
    || lt_fail "topicStatus header: $(head -1 <<<"$out")"; ok
total=$(tail -n +2 <<<"$out" | awk '{s += $4} END {print s}')
[ "$(tail -n +2 <<<"$out" | wc -l)" -eq 4 ] && [ "$total" -eq 50 ] || lt_fail "topicStatus rows (want 4 queues, 50 messages): $out"; ok
tail -n +2 <<<"$out" | grep -qE '^broker-a +0 +0 +[0-9]+ +[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8},[0-9]{3}$' || lt_fail "topicStatus row: $out"; ok
# The recorded request of the real Java mqadmin 4.9.5 gets the keys clusterList reads.
PYTHONPATH="$here" timeout 30 python3 - "$LT_BROKER_PORT" "$2" <<'PY' || lt_fail "GET_BROKER_RUNTIME_INFO from the Java mqadmin"
import json, re, sys
from rmq_frames import Conn
c = Conn(int(sys.argv[1]))
c.send_raw(open(sys.argv[2] + "/java-mqadmin-4.9.5/real-003-broker-req-GET_BROKER_RUNTIME_INFO.bin", "rb").read())
hdr, body = c.recv_frame()
t = json.loads(body)["table"]
need = ["brokerVersionDesc", "putTps", "getTransferedTps", "sendThreadPoolQueueSize", "pullThreadPoolQueueSize",
        "pageCacheLockTimeMills", "earliestMessageTimeStamp", "commitLogDiskRatio", "msgPutTotalTodayNow"]
missing = [k for k in need if k not in t]
ok = hdr["code"] == 0 and not missing and int(t["msgPutTotalTodayNow"]) >= 50 and float(t["putTps"].split()[0]) >= 0
print("runtime info:", "ok" if ok else "FAIL", missing)
sys.exit(0 if ok else 1)
PY
ok

# name-server commands, RocketMQ 4.9's lines
N="$LT_NS_ADDR"
out=$("$A" topicClusterList -n "$N" -t TopicTest) && [ "$out" = "DefaultCluster" ] || lt_fail "topicClusterList: $out"; ok
out=$("$A" updateKvConfig -n "$N" -s ORDER_TOPIC_CONFIG -k TopicTest -v broker-a:4) \
    && [ "$out" = "create or update kv config to namespace success." ] || lt_fail "updateKvConfig: $out"
PYTHONPATH="$here" timeout 10 python3 - "$LT_NS_PORT" <<'PY' || lt_fail "the kv config did not reach the name server"
import sys
from rmq_frames import Conn
r = Conn(int(sys.argv[1])).call(101, {"namespace": "ORDER_TOPIC_CONFIG", "key": "TopicTest"})
assert r[0]["code"] == 0 and r[0]["extFields"]["value"] == "broker-a:4", r[0]
PY
out=$("$A" deleteKvConfig -n "$N" -s ORDER_TOPIC_CONFIG -k TopicTest) \
    && [ "$out" = "delete kv config from namespace success." ] || lt_fail "deleteKvConfig: $out"; ok
out=$("$A" getNamesrvConfig -n "$N") && [ "$(head -1 <<<"$out")" = "============$N============" ] \
    && grep -qE '^orderMessageEnable {32}=  false$' <<<"$out" || lt_fail "getNamesrvConfig: $out"
out=$("$A" updateNamesrvConfig -n "$N" -k orderMessageEnable -v true) \
    && [ "$out" = "update name server config success![$N]
orderMessageEnable : true" ] || lt_fail "updateNamesrvConfig: $out"
"$A" getNamesrvConfig -n "$N" | grep -qE '^orderMessageEnable +=  true$' || lt_fail "updateNamesrvConfig had no effect"
"$A" updateNamesrvConfig -n "$N" -k kvConfigPath -v /tmp/evil >/dev/null 2>&1 && lt_fail "a path key of the name server changed"; ok
# updateTopicPerm: -b must be the master; same perm is a no-op; the route shows the new perm
out=$("$A" updateTopicPerm -n "$N" -t TopicTest -p 6 -b "$LT_BROKER_ADDR") && [ "$out" = "new perm equals to the old one!" ] \
    || lt_fail "updateTopicPerm same perm: $out"
out=$("$A" updateTopicPerm -n "$N" -t TopicTest -p 4 -b "$LT_BROKER_ADDR") && [ "$out" = "update topic perm from 6 to 4 in $LT_BROKER_ADDR success.
TopicConfig [topicName=TopicTest, readQueueNums=4, writeQueueNums=4, perm=R--, topicFilterType=SINGLE_TAG, topicSysFlag=0, order=false]." ] \
    || lt_fail "updateTopicPerm: $out"
route_perm() { "$A" topicRoute -n "$N" -t TopicTest | grep -q "\"perm\":$1"; }
lt_wait_for 30 "the route shows perm 4" route_perm 4
"$A" topicRoute -n "$N" -t TopicTest | grep -q '"perm":4' || lt_fail "the route does not show perm 4"
out=$("$A" updateTopicPerm -n "$N" -t TopicTest -p 6 -c DefaultCluster) && [ "$out" = "update topic perm from 4 to 6 in $LT_BROKER_ADDR success." ] \
    || lt_fail "updateTopicPerm -c: $out"
out=$("$A" updateTopicPerm -n "$N" -t TopicTest -p 6 -b 127.0.0.1:1) && [ "$out" = "updateTopicPerm error broker not exit or broker is not master!." ] \
    || lt_fail "updateTopicPerm with a wrong broker: $out"; ok
out=$("$A" wipeWritePerm -n "$N" -b broker-a) && [ "$out" = "wipe write perm of broker[broker-a] in name server[$N] OK, 1" ] \
    || grep -qE "^wipe write perm of broker\[broker-a\] in name server\[$N\] OK, [1-9][0-9]*$" <<<"$out" || lt_fail "wipeWritePerm: $out"
out=$("$A" addWritePerm -n "$N" -b broker-a) \
    && grep -qE "^add write perm of broker\[broker-a\] in name server\[$N\] OK, [1-9][0-9]*$" <<<"$out" || lt_fail "addWritePerm: $out"; ok
echo "mqadmin: $pass passed, 0 failed"
