#!/usr/bin/env bash
# A DLedger group as operators and clients see it (docs/dledger.md):
#  1. three nodes elect one master: the name server lists brokerId 0 and the followers' ids
#     (n<k> -> k+1); mqadmin clusterList prints the group master first;
#  2. a follower refuses sends (14); a topic, a subscription group and a consumer offset written
#     on the leader reach every follower through Raft within seconds (not RocketMQ's 10 s);
#  3. mqadmin leadershipTransfer hands the leadership to a chosen member, which registers as
#     master; the offset is still there on the new master;
#  4. restarted one by one with preferredLeaderId, the group hands the leadership to that member.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
lt_start_namesrv || lt_fail "name server did not start"
lt_start_dledger_group 3 || lt_fail "the group did not start"
N=$LT_NS_ADDR
A="$LT_BIN/mqadmin"
has_leader() { [ -n "$(lt_dledger_leader_index)" ]; }
lt_wait_for 60 "the group elects a master" has_leader || exit 1
L=$(lt_dledger_leader_index)
echo "leader: n$L"

# 1. ids as RocketMQ registers a DLedger group's brokers
ids_ok() {
    local out; out=$("$A" clusterList -n "$N") || return 1
    local want="" i
    for ((i = 0; i < 3; i++)); do
        if [ "$i" = "$L" ]; then want="$want 0:${LT_DL_PORT[i]}"; else want="$want $((i + 1)):${LT_DL_PORT[i]}"; fi
    done
    for w in $want; do echo "$out" | grep -Eq "RaftNode00 +${w%%:*} +127.0.0.1:${w#*:} " || return 1; done
    echo "$out" | awk '$2=="RaftNode00"{print $3}' | head -1 | grep -qx 0
}
lt_wait_for 30 "clusterList shows the master as 0 and the followers as n+1" ids_ok || { "$A" clusterList -n "$N"; exit 1; }
echo "ok 1 clusterList"

# 2. followers refuse sends; tables reach them through Raft
F=$(( (L + 1) % 3 ))
PYTHONPATH="$here" timeout 120 python3 - "${LT_DL_PORT[L]}" "${LT_DL_PORT[F]}" "${LT_DL_PORT[$(( (L + 2) % 3 ))]}" <<'PY' || lt_fail "tables through Raft"
import sys, time
from rmq_frames import Conn, send_v2
lead, f1, f2 = (Conn(int(p)) for p in sys.argv[1:4])
r = send_v2(f1, "DlAdminTopic", b"x")
assert r[0]["code"] == 14, r[0]
r = send_v2(lead, "DlAdminTopic", b"first", queue_id=1)
assert r[0]["code"] == 0, r[0]
r = lead.call(200, {"groupName": "DlGroup", "consumeEnable": "true"}, b'{"groupName":"DlGroup","consumeEnable":true,"retryMaxTimes":5,"retryQueueNums":1}')
assert r[0]["code"] == 0, r[0]
r = lead.call(15, {"consumerGroup": "DlGroup", "topic": "DlAdminTopic", "queueId": 1, "commitOffset": 1})
assert r[0]["code"] == 0, r[0]
deadline = time.time() + 20
for f in (f1, f2):
    while True:
        topics = f.call(21)
        off = f.call(14, {"consumerGroup": "DlGroup", "topic": "DlAdminTopic", "queueId": 1})
        groups = f.call(201)
        if (b'"DlAdminTopic"' in topics[1] and off[0]["code"] == 0 and off[0]["extFields"].get("offset") == "1"
                and b'"DlGroup"' in groups[1]):
            break
        assert time.time() < deadline, ("follower lacks the tables", off[0])
        time.sleep(0.1)
print("tables on both followers")
PY
echo "ok 2 followers"

# 3. leadership transfer on demand
T=$F
"$A" leadershipTransfer -b RaftNode00 -t "n$T" -n "$N" || lt_fail "leadershipTransfer"
new_is_t() { [ "$(lt_dledger_leader_index)" = "$T" ]; }
lt_wait_for 30 "n$T is the master after the transfer" new_is_t || exit 1
PYTHONPATH="$here" timeout 60 python3 - "${LT_DL_PORT[T]}" <<'PY' || lt_fail "the new master after a transfer"
import sys, time
from rmq_frames import Conn, send_v2
c = Conn(int(sys.argv[1]))
deadline = time.time() + 20
while True:
    r = send_v2(c, "DlAdminTopic", b"after transfer", queue_id=1)
    if r[0]["code"] == 0:
        break
    assert time.time() < deadline, r[0]
    time.sleep(0.1)
off = c.call(14, {"consumerGroup": "DlGroup", "topic": "DlAdminTopic", "queueId": 1})
assert off[0]["extFields"].get("offset") == "1", off[0]
PY
"$A" leadershipTransfer -b RaftNode00 -t n9 -n "$N" 2>/dev/null && lt_fail "a transfer to a non-member succeeded"
echo "ok 3 leadershipTransfer"

# 4. preferredLeaderId: restarted one by one with it, the group ends up led by that member
P=$(( (T + 1) % 3 ))
LT_DL_EXTRA+=("preferredLeaderId=n$P")
for ((i = 0; i < 3; i++)); do
    kill -TERM "${LT_DL_PID[i]}"
    wait "${LT_DL_PID[i]}" 2>/dev/null
    lt_dledger_node "$i" || lt_fail "node $i did not restart"
    lt_wait_for 60 "a master after restarting n$i" has_leader || exit 1
done
pref_leads() { [ "$(lt_dledger_leader_index)" = "$P" ]; }
lt_wait_for 60 "the preferred leader n$P takes over" pref_leads || { "$A" clusterList -n "$N"; exit 1; }
echo "ok 4 preferredLeaderId"
echo "PASS test_dledger_admin"
