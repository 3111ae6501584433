#!/usr/bin/env bash
# DLedger-mode configuration checks at start (`mqbroker -c file`):
#  1. mqbroker refuses to start, exit code 1 and a message on stderr that names the offending
#     key, for: malformed dLegerPeers (no port, id not <letter><number>, duplicate ids,
#     duplicate addresses, empty entry, port out of range), dLegerSelfId missing from
#     dLegerPeers, enableDLegerCommitLog=true without dLegerGroup, a preferredLeaderId that is
#     not a member, brokerRole=SLAVE or haMasterAddress with DLedger, dLegerPeers / dLegerSelfId
#     without enableDLegerCommitLog=true, and unsupported safety keys (enableControllerMode,
#     allAckInSyncStateSet, ...). A refused start leaves no listening port and no Raft store.
#  2. a valid 1-node group starts, elects itself, is listed by the name server as brokerId 0 of
#     its brokerName, acknowledges a send and serves it back by pull.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
pass=0

P0=$(lt_free_port); P1=$(lt_free_port); P2=$(lt_free_port)
BP=$(lt_free_broker_port)
GOOD_PEERS="n0-127.0.0.1:$P0;n1-127.0.0.1:$P1;n2-127.0.0.1:$P2"

# refuse <name> <stderr pattern (ERE)> [conf lines...]: mqbroker -c <conf> must exit with code 1
# within the timeout (not killed, not 124), its stderr must match the pattern, its broker port
# must stay closed and its store must hold no Raft log.
refuse() {
    local name=$1 pat=$2
    shift 2
    local conf="$LT_DIR/cfg-$name.conf" store="$LT_DIR/store-$name"
    {
        echo "brokerClusterName=DefaultCluster"
        echo "brokerName=RaftNode00"
        echo "brokerIP1=127.0.0.1"
        echo "listenPort=$BP"
        echo "storePathRootDir=$store"
        echo "diskSpaceWarningLevelRatio=99"
        echo "diskSpaceCleanForciblyRatio=99"
        for kv in "$@"; do echo "$kv"; done
    } >"$conf"
    ASAN_OPTIONS="${ASAN_OPTIONS:-}" \
        timeout 60 "$LT_BIN/mqbroker" -c "$conf" >"$LT_DIR/cfg-$name.stdout" 2>"$LT_DIR/cfg-$name.err"
    local rc=$?
    [ $rc -eq 1 ] || lt_fail "$name: mqbroker exit code $rc, want 1 (stderr: $(head -c 400 "$LT_DIR/cfg-$name.err"))"
    grep -qE "$pat" "$LT_DIR/cfg-$name.err" \
        || lt_fail "$name: stderr does not match /$pat/: $(head -c 400 "$LT_DIR/cfg-$name.err")"
    (exec 3<>/dev/tcp/127.0.0.1/"$BP") 2>/dev/null && lt_fail "$name: something listens on the broker port $BP"
    [ -z "$(find "$store" -path '*dledger*' 2>/dev/null | head -1)" ] || lt_fail "$name: a refused start created $(find "$store" -path '*dledger*' | head -1)"
    echo "ok    refused: $name: $(head -1 "$LT_DIR/cfg-$name.err")"
    ok
}
DL="enableDLegerCommitLog=true"
G="dLegerGroup=RaftNode00"

# malformed dLegerPeers
refuse peers-no-port     "dLegerPeers.*n0-127\.0\.0\.1"  $DL $G "dLegerPeers=n0-127.0.0.1" "dLegerSelfId=n0"
refuse peers-bad-id      "dLegerPeers.*'x'" $DL $G "dLegerPeers=x-127.0.0.1:1" "dLegerSelfId=x"
refuse peers-id-no-num   "dLegerPeers.*id 'nn'"          $DL $G "dLegerPeers=nn-127.0.0.1:$P0" "dLegerSelfId=nn"
refuse peers-dup-id      "dLegerPeers.*n0 and n0.*same"  $DL $G "dLegerPeers=n0-127.0.0.1:$P0;n0-127.0.0.1:$P1" "dLegerSelfId=n0"
refuse peers-dup-num     "dLegerPeers.*same number"      $DL $G "dLegerPeers=n1-127.0.0.1:$P0;m1-127.0.0.1:$P1" "dLegerSelfId=n1"
refuse peers-dup-addr    "dLegerPeers.*same address"     $DL $G "dLegerPeers=n0-127.0.0.1:$P0;n1-127.0.0.1:$P0" "dLegerSelfId=n0"
refuse peers-empty-item  "dLegerPeers.*empty"            $DL $G "dLegerPeers=n0-127.0.0.1:$P0;;n1-127.0.0.1:$P1" "dLegerSelfId=n0"
refuse peers-port-0      "dLegerPeers.*n1-127\.0\.0\.1:0" $DL $G "dLegerPeers=n0-127.0.0.1:$P0;n1-127.0.0.1:0" "dLegerSelfId=n0"
refuse peers-port-big    "dLegerPeers.*:70000"           $DL $G "dLegerPeers=n0-127.0.0.1:$P0;n1-127.0.0.1:70000" "dLegerSelfId=n0"
refuse peers-port-text   "dLegerPeers.*:abc"             $DL $G "dLegerPeers=n0-127.0.0.1:$P0;n1-127.0.0.1:abc" "dLegerSelfId=n0"
refuse peers-missing     "dLegerPeers"                   $DL $G "dLegerSelfId=n0"
# membership and roles
refuse self-not-member   "dLegerSelfId 'n3'"             $DL $G "dLegerPeers=$GOOD_PEERS" "dLegerSelfId=n3"
refuse self-missing      "dLegerSelfId"                  $DL $G "dLegerPeers=$GOOD_PEERS"
refuse no-group          "dLegerGroup"                   $DL "dLegerPeers=$GOOD_PEERS" "dLegerSelfId=n0"
refuse preferred-alien   "preferredLeaderId 'n7'"        $DL $G "dLegerPeers=$GOOD_PEERS" "dLegerSelfId=n0" "preferredLeaderId=n7"
refuse slave-role        "brokerRole=SLAVE"              $DL $G "dLegerPeers=$GOOD_PEERS" "dLegerSelfId=n0" "brokerRole=SLAVE"
refuse ha-master-addr    "haMasterAddress"               $DL $G "dLegerPeers=$GOOD_PEERS" "dLegerSelfId=n0" "haMasterAddress=127.0.0.1:10912"
refuse peers-without-dl  "dLegerPeers.*enableDLegerCommitLog" "dLegerPeers=$GOOD_PEERS"
refuse self-without-dl   "dLegerSelfId.*enableDLegerCommitLog" "dLegerSelfId=n0"
refuse peers-dl-false    "dLegerPeers.*enableDLegerCommitLog" "enableDLegerCommitLog=false" $G "dLegerPeers=$GOOD_PEERS" "dLegerSelfId=n0"
refuse dl-not-bool       "enableDLegerCommitLog"         "enableDLegerCommitLog=yes please" $G "dLegerPeers=$GOOD_PEERS" "dLegerSelfId=n0"
# RocketMQ 5 safety keys Loulan does not implement: refused by name, with or without DLedger
refuse controller-mode   "enableControllerMode.*not supported" $DL $G "dLegerPeers=$GOOD_PEERS" "dLegerSelfId=n0" "enableControllerMode=true"
refuse all-ack-isr       "allAckInSyncStateSet.*not supported" $DL $G "dLegerPeers=$GOOD_PEERS" "dLegerSelfId=n0" "allAckInSyncStateSet=true"
refuse fast-ack          "enableDLegerCommitLogFastAck.*not supported" $DL $G "dLegerPeers=$GOOD_PEERS" "dLegerSelfId=n0" "enableDLegerCommitLogFastAck=true"
refuse isr-classic       "inSyncReplicas.*not supported" "brokerRole=SYNC_MASTER" "inSyncReplicas=2"
unset ROCKETMQ_HOME # ACL reads its accounts under it: without it, aclEnable=true is refused
refuse acl-no-home       "aclEnable=true needs rocketmqHome" "aclEnable=true"
refuse acl2-authn        "authenticationEnabled.*not supported" "authenticationEnabled=true"
# the same keys at RocketMQ's defaults change nothing: accepted (-p prints the config and exits 0)
printf 'aclEnable=false\nenableControllerMode=false\ninSyncReplicas=1\ncontrollerAddr=\n' >"$LT_DIR/harmless.conf"
"$LT_BIN/mqbroker" -p -c "$LT_DIR/harmless.conf" >/dev/null 2>"$LT_DIR/harmless.err" ||
    lt_fail "keys at their defaults refused: $(cat "$LT_DIR/harmless.err")"
echo "ok    accepted: aclEnable=false, enableControllerMode=false, inSyncReplicas=1, controllerAddr="
ok

# 2. a valid 1-node group: elects itself, registers as brokerId 0, acknowledges a send
lt_start_namesrv || lt_fail "name server did not start"
lt_start_dledger_group 1 || lt_fail "a valid 1-node DLedger group did not start: $(tail -20 "$LT_DIR/dl0.out")"
lt_wait_for 60 "the 1-node group's broker is listed as brokerId 0" \
    test "$(lt_dledger_master)" = "127.0.0.1:${LT_DL_PORT[0]}" || lt_fail "no master listed: $(tail -20 "$LT_DIR/dl0.out")"
ok
PYTHONPATH="$here" timeout 60 python3 - "${LT_DL_PORT[0]}" "$LT_NS_PORT" <<'PY' || lt_fail "the 1-node group does not serve"
import re, sys, time
from rmq_frames import Conn, send_v2, pull_all
b, ns = Conn(int(sys.argv[1])), Conn(int(sys.argv[2]))
# the name server lists exactly this broker, as brokerId 0 of RaftNode00 (no follower ids);
# the body is fastjson-style (integer keys), so it is read with a pattern, not json
t = ns.call(106)[1].decode()
m = re.search(r'"RaftNode00":\{[^{}]*"brokerAddrs":\{([^{}]*)\}', t[t.find('"brokerAddrTable"'):])
assert m, t
addrs = dict((k.strip('"'), v.strip('"')) for k, v in (kv.split(":", 1) for kv in m.group(1).split(",")))
assert addrs == {"0": "127.0.0.1:%s" % sys.argv[1]}, addrs
deadline = time.time() + 30
while True:   # the leader's barrier may still be pending right after the election
    r = send_v2(b, "DlConfTopic", b"one-node", queue_id=1)
    if r[0]["code"] == 0 or time.time() > deadline:
        break
    time.sleep(0.2)
assert r[0]["code"] == 0, r[0]
got = [(x["body"], x["queueOffset"]) for x in pull_all(b, "DlConfTopic", 1)]
assert got == [(b"one-node", 0)], got
print("ok    1-node group: master", addrs, "send", r[0]["extFields"]["msgId"])
PY
ok
grep -q "leads group RaftNode00" "$LT_DIR/logs"/*.log "$LT_DIR/dl0.out" 2>/dev/null || lt_fail "no 'leads group' line in the node's log"
echo "dledger config: $pass passed, 0 failed"
