#!/usr/bin/env bash
# DLedger failover soak: a 3-node group on loopback; ROUNDS times (LOULAN_DLEDGER_ROUNDS, default
# 10; e.g. 1000 for a soak):
#   - a burst of 20 messages (distinct bodies, 4 queues of a topic auto-created on the first send)
#     to the master the name server lists, with raw SEND_MESSAGE_V2 frames; a send not answered
#     SUCCESS is sent again, with another body, after finding the master again; then 4 more
#     pipelined, and the master is killed (-9) while they are in flight;
#   - the name server lists another node as master (brokerId 0) within a bound (the time from the
#     kill is the failover time);
#   - the killed node is restarted on its store and is listed again, as a follower (brokerId n+1).
# Then, once every node reports the same GET_MAX_OFFSET for every queue (dledger_check.py check):
#   - every message answered SUCCESS is on every node exactly once, at the queue and offset of its
#     answer, with its body, and its msgId names the node that answered and its commit-log offset;
#   - the queues hold nothing else but messages whose send got no SUCCESS (printed, allowed);
#     queue offsets are dense from 0;
#   - the nodes' records are the same (commit-log offset, queue offset, body CRC, store time,
#     properties) and their commit-log files are byte for byte the same up to the last record.
# Prints a SUMMARY line: rounds, acknowledged messages, failover time median/max.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
ROUNDS=${LOULAN_DLEDGER_ROUNDS:-10}
BURST=20
INFLIGHT=4
slow=1
[ -n "${LOULAN_SLOW:-}" ] && slow=4

lt_start_namesrv || lt_fail "name server did not start"
lt_start_dledger_group 3 || { tail -n 30 "$LT_DIR"/dl*.out; lt_fail "the DLedger group did not start"; }
disown "${LT_DL_PID[@]}"   # no "Killed" line from the shell for each kill -9 (lt_cleanup still stops them)
ports=$(IFS=,; echo "${LT_DL_PORT[*]}")
stores="$LT_DIR/dl0,$LT_DIR/dl1,$LT_DIR/dl2"
results="$LT_DIR/rounds.jsonl"
dc() { PYTHONPATH="$here" timeout $((120 * slow)) python3 "$here/dledger_check.py" "$@"; }
show_logs() { local i; for i in 0 1 2; do echo "--- dl$i.out"; tail -n 25 "$LT_DIR/dl$i.out"; done; }

WAIT=$((60 * slow)) dc master "$LT_NS_PORT" "$ports" >/dev/null || { show_logs; lt_fail "no master listed"; }

t_start=$SECONDS
for ((r = 1; r <= ROUNDS; r++)); do
    pids=$(IFS=,; echo "${LT_DL_PID[*]}")
    out=$(dc round "$LT_NS_PORT" "$ports" "$pids" "$r" "$BURST" "$INFLIGHT" "$results")
    rc=$?
    [ -n "$out" ] && grep -v '^killed ' <<<"$out"
    [ $rc -eq 0 ] || { show_logs; LT_KEEP=1; lt_fail "round $r: $out"; }
    read -r _ k secs < <(grep '^killed ' <<<"$out")
    [ $((r % 10)) -eq 0 ] || [ "$r" -eq "$ROUNDS" ] || [ "$ROUNDS" -le 20 ] &&
        echo "round $r: node $k killed, another master listed after ${secs}s"
    lt_dledger_node "$k" || { show_logs; LT_KEEP=1; lt_fail "round $r: node $k did not restart"; }
    disown "${LT_DL_PID[k]}"
    # back in the group as a follower: listed with its own brokerId (n0 -> 1, ...), not as 0
    lt_wait_for $((60 * slow)) "node $k listed as follower (brokerId $((k + 1)))" \
        dc listed "$LT_NS_PORT" "$ports" "$k" $((k + 1)) || { show_logs; LT_KEEP=1; lt_fail "round $r: node $k did not rejoin"; }
done
echo "$ROUNDS rounds in $((SECONDS - t_start))s"

dc check "$ports" "$stores" "$results" || { show_logs; LT_KEEP=1; lt_fail "the nodes do not hold what was acknowledged"; }
echo "dledger failover: passed"
