#!/usr/bin/env bash
# A transaction check round over many undecided transactions does not hold the broker's loop
# (issue 17): 4,000 half messages nobody decides (no producer left to ask), checked twice each
# (transactionCheckMax=1: re-appended once, then moved to TRANS_CHECK_MAX_TIME_TOPIC). A round
# looks at them 64 per loop turn, and its committed-already lookup does not wait for the index
# writer (before, each message waited one writer round trip and a round was one iteration).
# The longest loop iteration (mqadmin brokerStatus loopIterationMaxMs) must stay under a
# generous bound: 200 ms x LOULAN_SLOW, x 3 in a sanitizer build (LT_LOOP_BOUND_MS overrides).
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
[ -x "$LT_BIN/trans_e2e" ] || lt_fail "no trans_e2e in $LT_BIN"
slow=${LOULAN_SLOW:-1}
bound=$(lt_loop_bound_ms)
n=4000
lt_start_single transactionTimeOut=1000 transactionCheckInterval=300 transactionCheckMax=1 slowLoopThresholdMs=20

timeout $((120 * slow)) "$LT_BIN/trans_e2e" "$N" unknown TxLoop "$n" >/dev/null || lt_fail "half sends failed"; ok
moved() {
    PYTHONPATH="$here" python3 - "$LT_BROKER_PORT" "$n" <<'PY'
import sys
from rmq_frames import Conn
r = Conn(int(sys.argv[1])).call(30, {"topic": "TRANS_CHECK_MAX_TIME_TOPIC", "queueId": 0})
sys.exit(0 if r[0]["code"] == 0 and int(r[0]["extFields"]["offset"]) >= int(sys.argv[2]) else 1)
PY
}
lt_wait_for $((120 * slow)) "all $n checked twice and moved" moved || lt_fail "the check rounds did not get through $n transactions"; ok

max=$(lt_loop_max_ms)
[ -n "$max" ] || lt_fail "no loopIterationMaxMs in brokerStatus"
[ "$max" -le "$bound" ] || lt_fail "one loop iteration took $max ms (bound $bound ms): $(grep 'slow loop' "$LT_DIR"/logs/broker.log | tail -2)"; ok
echo "PASS test_trans_check_loop ($pass checks; longest loop iteration $max ms, bound $bound ms)"
