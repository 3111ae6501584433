#!/usr/bin/env bash
# Transactional messages through the C client's transactional producer against a real broker
# (transactionTimeOut=1000, transactionCheckInterval=300 to keep it short):
#  commit shows the message exactly once; rollback never shows it; "unknown" then a check
#  answering commit shows it once; a producer that dies before deciding gets its message
#  checked through another producer of the group; a broker restart between prepare and
#  commit loses nothing and publishes nothing by itself; transactions interleaved with
#  ordinary sends keep the queue offsets dense; half messages are refused by a broker with
#  rejectTransactionMessage=true.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
[ -x "$LT_BIN/trans_e2e" ] || lt_fail "no trans_e2e in $LT_BIN"
lt_start_namesrv || lt_fail "name server did not start"
conf=(transactionTimeOut=1000 transactionCheckInterval=300)
lt_start_broker "${conf[@]}" || lt_fail "broker did not start"
pass=0
tx() { timeout 90 "$LT_BIN/trans_e2e" "$LT_NS_ADDR" "$@"; }

# expect <topic> <prefix> <count>: exactly count distinct bodies with that prefix, none twice,
# and every queue's offsets dense from 0. Waits (at most 60 s) for count to be reached: END_TRANSACTION
# is oneway and checks run on the broker's timer. "Never shows" (count 0) is checked after the
# sleeps below, which are windows for a wrong message to appear, never waits for a right one.
expect() {
    PYTHONPATH="$here" timeout 90 python3 - "$LT_BROKER_PORT" "$@" <<'PY'
import sys, time
from rmq_frames import Conn, pull_all
port, topic, prefix, want = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
c = Conn(port)
deadline = time.time() + 60
while True:
    bodies, gaps = [], 0
    for q in range(8):
        recs = pull_all(c, topic, q)
        gaps += sum(1 for i, r in enumerate(recs) if r["queueOffset"] != i)
        bodies += [r["body"].decode() for r in recs]
    mine = [b for b in bodies if b.startswith(prefix)]
    if len(mine) >= want or time.time() > deadline:
        break
    time.sleep(0.1)
print("%s/%s: %d (want %d), distinct %d, offset gaps %d" % (topic, prefix, len(mine), want, len(set(mine)), gaps))
sys.exit(0 if len(mine) == want and len(set(mine)) == want and gaps == 0 else 1)
PY
}

tx commit TxCommit 10 >/dev/null || lt_fail "commit sends failed"
expect TxCommit commit- 10 || lt_fail "committed transactions are not visible exactly once"
pass=$((pass + 1))

tx rollback TxRollback 10 >/dev/null || lt_fail "rollback sends failed"
sleep 2  # a few check rounds: a rolled-back message must not come back through a check
expect TxRollback rollback- 0 || lt_fail "a rolled-back transaction became visible"
pass=$((pass + 1))

out=$(tx unknown-then-commit TxCheck 5) || lt_fail "unknown-then-commit failed"
echo "$out"
expect TxCheck unknown-then-commit- 5 || lt_fail "a checked-and-committed transaction is not visible exactly once"
sleep 1.5
expect TxCheck unknown-then-commit- 5 || lt_fail "a checked transaction became visible twice"
pass=$((pass + 1))

tx die TxDie 1 >/dev/null
expect TxDie die- 0 || lt_fail "an undecided transaction became visible by itself"
out=$(tx checker TxDie 1) || lt_fail "checker failed"
echo "$out"
expect TxDie die- 1 || lt_fail "the dead producer's transaction was not checked through another producer"
pass=$((pass + 1))

tx unknown TxRestart 3 >/dev/null || lt_fail "sends before restart failed"
lt_stop_broker || lt_fail "broker did not stop"
lt_start_broker "${conf[@]}" || lt_fail "broker did not restart"
sleep 1.5  # check rounds run, but no producer of the group is alive
expect TxRestart unknown- 0 || lt_fail "a prepared message became visible by itself after a restart"
out=$(tx checker TxRestart 3) || lt_fail "checker after restart failed"
echo "$out"
expect TxRestart unknown- 3 || lt_fail "prepared messages were lost across the restart"
pass=$((pass + 1))

tx mixed TxMixed 20 >/dev/null || lt_fail "mixed sends failed"
sleep 1
expect TxMixed normal- 20 || lt_fail "normal sends among transactions"
expect TxMixed commit- 20 || lt_fail "committed transactions among normal sends"
expect TxMixed rollback- 0 || lt_fail "rolled-back transactions among normal sends"
pass=$((pass + 1))

# the broker dies between storing a commit and writing its op record: after the restart the
# check must find the commit (through the index) instead of committing a second copy
lt_stop_broker
export LOULAN_TEST_CRASH_AFTER_COMMIT=1
lt_start_broker "${conf[@]}" || lt_fail "broker did not restart"
unset LOULAN_TEST_CRASH_AFTER_COMMIT
tx commit TxCrash 1 >/dev/null 2>&1
broker_gone() { ! kill -0 "$LT_BROKER_PID" 2>/dev/null; }
lt_wait_for 60 "the broker dies after the commit" broker_gone || lt_fail "the broker did not die after the commit (fault injection)"
lt_start_broker "${conf[@]}" || lt_fail "broker did not restart after the crash"
# a producer of the group that would answer commit if asked, for 5 s of check rounds (the
# broker must find the commit through the index and not ask)
window=5; [ -n "${LOULAN_SLOW:-}" ] && window=10
out=$(tx checker TxCrash 1 $window) || true
expect TxCrash commit- 1 || lt_fail "a commit was stored twice after a crash between commit and op record"
pass=$((pass + 1))

lt_stop_broker
lt_start_broker "${conf[@]}" transactionCheckMax=2 || lt_fail "broker did not restart"
tx unknown TxMax 2 >/dev/null || lt_fail "sends failed"
# two checks a message (nobody answers), then the broker gives up on them: expect waits for it
expect TRANS_CHECK_MAX_TIME_TOPIC unknown- 2 || lt_fail "undecided transactions were not moved after transactionCheckMax"
expect TxMax unknown- 0 || lt_fail "an undecided transaction became visible"
pass=$((pass + 1))

# every transaction is decided now: the broker forgets them as its check progress passes them,
# so its op-record progress (CID_RMQ_SYS_TRANS's offset on the op topic) reaches the op topic's
# end; it stays short if decided transactions are never forgotten
PYTHONPATH="$here" timeout 90 python3 - "$LT_BROKER_PORT" <<'PY' || lt_fail "the op-record progress did not reach the end: decided transactions are not forgotten"
import sys, time
from rmq_frames import Conn
c = Conn(int(sys.argv[1]))
op = "RMQ_SYS_TRANS_OP_HALF_TOPIC"
deadline = time.time() + 60
while True:
    end = int(c.call(30, {"topic": op, "queueId": 0})[0]["extFields"]["offset"])
    r = c.call(14, {"consumerGroup": "CID_RMQ_SYS_TRANS", "topic": op, "queueId": 0})
    done = int(r[0].get("extFields", {}).get("offset", -1))
    if (end > 0 and done == end) or time.time() > deadline:
        break
    time.sleep(0.2)
print("op records %d, progress %d" % (end, done))
sys.exit(0 if end > 0 and done == end else 1)
PY
pass=$((pass + 1))

lt_stop_broker
lt_start_broker "${conf[@]}" rejectTransactionMessage=true || lt_fail "broker did not restart"
if tx commit TxRejected 1 >/dev/null 2>&1; then lt_fail "rejectTransactionMessage=true accepted a half message"; fi
pass=$((pass + 1))
echo "transactions: $pass passed, 0 failed"
