#!/usr/bin/env bash
# A five-node DLedger group with Loulan's C client (unchanged quick-start producer and
# consumer), docs/dledger.md:
#  1. the producer's sends are all SEND_OK;
#  2. kill -9 the leader and a follower: the three left still form a majority, elect a master,
#     and the producer's next sends are SEND_OK again (its retries find the new master);
#  3. kill -9 one more: two of five cannot commit, so no node acknowledges a send;
#  4. the three come back: the group converges and the C consumer receives every message the
#     producer saw acknowledged.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
lt_start_namesrv || lt_fail "name server did not start"
lt_start_dledger_group 5 || lt_fail "the group did not start"
export NAMESRV_ADDR=$LT_NS_ADDR
has_leader() { [ -n "$(lt_dledger_leader_index)" ]; }
lt_wait_for 60 "the group elects a master" has_leader || exit 1

# produce <count> <tag>: the C quick-start producer; its SEND_OK msgIds go to $LT_DIR/acked
produce() {
    timeout 120 "$LT_BIN/producer" -c "$1" -t FiveTopic >"$LT_DIR/prod-$2.out" 2>&1
    grep -o 'SEND_OK, msgId=[0-9A-F]*' "$LT_DIR/prod-$2.out" | cut -d= -f2 >>"$LT_DIR/acked"
    grep -c SEND_OK "$LT_DIR/prod-$2.out"
}
n=$(produce 40 first)
[ "$n" -eq 40 ] || lt_fail "first sends: $n of 40 SEND_OK"
echo "ok 1: 40 SEND_OK"

L=$(lt_dledger_leader_index)
K=$(( (L + 1) % 5 ))
kill -9 "${LT_DL_PID[L]}" "${LT_DL_PID[K]}"
wait "${LT_DL_PID[L]}" "${LT_DL_PID[K]}" 2>/dev/null
new_master() { local m; m=$(lt_dledger_leader_index); [ -n "$m" ] && [ "$m" != "$L" ]; }
lt_wait_for 60 "a new master among the three left" new_master || exit 1
n=$(produce 40 second)
[ "$n" -ge 38 ] || lt_fail "after losing two of five: only $n of 40 SEND_OK"
echo "ok 2: $n of 40 SEND_OK with three of five nodes"

M=$(lt_dledger_leader_index)
kill -9 "${LT_DL_PID[M]}"
wait "${LT_DL_PID[M]}" 2>/dev/null
PYTHONPATH="$here" timeout 60 python3 - "$M" "$L" "$K" "${LT_DL_PORT[@]}" <<'PY' || lt_fail "two of five acknowledged a send"
import sys, time
from rmq_frames import Conn, send_v2
dead = {int(x) for x in sys.argv[1:4]}
ports = [int(p) for i, p in enumerate(sys.argv[4:]) if i not in dead]
for round in range(3):
    for p in ports:
        try:
            r = send_v2(Conn(p, timeout=8), "FiveTopic", b"minority")
        except OSError:
            continue
        assert r is None or r[0]["code"] != 0, ("port %d acknowledged a send without a majority" % p, r[0])
    time.sleep(1)
print("no acknowledgement from the two left")
PY
echo "ok 3: no majority, no acknowledgement"

for i in "$L" "$K" "$M"; do lt_dledger_node "$i" || lt_fail "n$i did not restart"; done
lt_wait_for 60 "a master after the restarts" has_leader || exit 1
want=$(sort -u "$LT_DIR/acked" | wc -l)
timeout 120 "$LT_BIN/consumer" -t FiveTopic -g FiveGroup -c "$want" -T 90 >"$LT_DIR/cons.out" 2>&1
missing=0
while read -r id; do grep -q "offsetMsgId=$id\|msgId=$id" "$LT_DIR/cons.out" || missing=$((missing + 1)); done < <(sort -u "$LT_DIR/acked")
[ "$missing" -eq 0 ] || lt_fail "the consumer lacks $missing of $want acknowledged messages"
echo "ok 4: the C consumer received all $want acknowledged messages"
echo "PASS test_dledger_five"
