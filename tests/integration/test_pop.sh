#!/usr/bin/env bash
# POP consumption over remoting (POP_MESSAGE, ACK_MESSAGE, BATCH_ACK_MESSAGE,
# CHANGE_MESSAGE_INVISIBLETIME): delivery once with handles, redelivery after the invisible time
# with reconsumeTimes + 1, postponement, long polling, state kept across a kill -9, dead letters.
# The driver is test_pop.py (phase one, kill -9 once its acks are answered, phase two).
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
started=$SECONDS
# snapshots of the journal every few messages: the replay after kill -9 starts at one
conf=("reviveInterval=200" "popPollingSize=2" "popJournalSnapshotMessages=5")
lt_start_namesrv || lt_fail "name server did not start"
lt_start_broker "${conf[@]}" || lt_fail "broker did not start"
PYTHONPATH="$here" timeout 50 python3 "$here/test_pop.py" one "$LT_BROKER_PORT" "$LT_DIR/pop-state.json" \
    || lt_fail "POP before the restart"
kill -9 "$LT_BROKER_PID"
wait "$LT_BROKER_PID" 2>/dev/null
lt_start_broker "${conf[@]}" || lt_fail "broker did not restart after kill -9"
grep -h "POP state replayed" "$LT_DIR/broker.out" | tail -1
grep "POP state replayed" "$LT_DIR/broker.out" | tail -1 | grep -qE "from journal offset [1-9]" \
    || lt_fail "the replay did not start at a journal snapshot"
PYTHONPATH="$here" timeout 50 python3 "$here/test_pop.py" two "$LT_BROKER_PORT" "$LT_DIR/pop-state.json" \
    || lt_fail "POP after the restart"
echo "PASS test_pop ($((SECONDS - started)) s)"
