#!/usr/bin/env bash
# How often the message index is msynced (issue 17): with messageIndexSafe=false (RocketMQ's
# default) every 10 s, not with every consume-queue flush (each msync made the next write of
# every index page fault again: a quarter of the broker's CPU at 10k msg/s); with
# messageIndexSafe=true with every consume-queue flush, as the checkpoint then counts it.
# Counted by the broker's own pass histograms (mqadmin brokerStatus storeFlushConsumeQueueUs /
# storeFlushIndexUs); no fixed waits: the test waits for 10 consume-queue passes.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
lt_start_namesrv || lt_fail "name server did not start"
N="$LT_NS_ADDR" A="$LT_BIN/mqadmin" pass=0
count_of() { echo "$status" | sed -n "s/^$1 *: *count=\([0-9]*\) .*/\1/p"; }
passes() {
    status=$("$A" brokerStatus -n "$N" -b "$LT_BROKER_ADDR" 2>/dev/null) || return 1
    cq=$(count_of storeFlushConsumeQueueUs); idx=$(count_of storeFlushIndexUs)
    [ -n "$cq" ] && [ -n "$idx" ] && [ "$cq" -ge 10 ]
}
for safe in false true; do
    lt_start_broker flushIntervalConsumeQueue=200 messageIndexSafe=$safe || lt_fail "broker did not start"
    t0=$(date +%s)
    "$LT_BIN/benchmark" producer -n "$N" -t IdxFlush -r 200 -d 3 >/dev/null 2>&1 || lt_fail "sends failed"
    lt_wait_for 120 "10 consume-queue flush passes" passes || lt_fail "no flush passes counted: $status"
    elapsed=$(( $(date +%s) - t0 + 1 ))
    echo "messageIndexSafe=$safe: $cq consume-queue passes, $idx index passes in ${elapsed}s"
    if [ $safe = false ]; then
        [ "$idx" -le $((elapsed / 10 + 1)) ] || lt_fail "index msynced $idx times in ${elapsed}s with messageIndexSafe=false"; ok
    else
        [ "$idx" -ge $((cq - 1)) ] || lt_fail "index msynced $idx times for $cq consume-queue passes with messageIndexSafe=true"; ok
    fi
    lt_stop_broker || lt_fail "broker did not stop"
done
echo "PASS test_index_flush ($pass checks)"
