#!/usr/bin/env bash
# Message trace end to end (acl spec §5): a broker with traceTopicEnable=true; the C producer
# tool sends one message with a key and --trace; a push consumer group WITHOUT trace consumes
# it, then the C consumer tool with --trace (group TraceConsumerGroup); mqadmin
# queryMsgTraceById then prints, in RocketMQ 4.9.5's layout, the Pub row (producer group, the
# client's host, success) and one SubAfter block for TraceConsumerGroup only. An id nobody
# traced prints no row.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
lt_start_single "traceTopicEnable=true"
P="$LT_BIN/producer"
C="$LT_BIN/consumer"
T=TraceTopicT

lt_wait_for 60 "the trace topic is routable" "$A" topicRoute -t RMQ_SYS_TRACE_TOPIC -n "$N" \
    || lt_fail "no route for RMQ_SYS_TRACE_TOPIC"
"$A" updateTopic -t "$T" -c DefaultCluster -n "$N" >/dev/null || lt_fail "updateTopic $T"
lt_wait_for 60 "topic $T is routable" "$A" topicRoute -t "$T" -n "$N" || lt_fail "no route for $T"
ok

# 1. a traced send: the tool prints Java's SendResult; the msgId is the UNIQ_KEY
timeout 60 "$P" -n "$N" -c 1 -t "$T" -g TraceProducerGroup -k OrderID188 --trace >"$LT_DIR/p.out" 2>"$LT_DIR/p.err" \
    || { cat "$LT_DIR/p.err"; lt_fail "traced send"; }
id=$(sed -n 's/.*msgId=\([0-9A-F]*\),.*/\1/p' "$LT_DIR/p.out" | head -1)
[ ${#id} -eq 32 ] || lt_fail "no msgId in the producer's output: $(cat "$LT_DIR/p.out")"
ok

# 2. an untraced group first, then the traced one: the broker indexes in commit-log order, so
#    once the traced group's records show, any record of the first group would show as well
timeout 90 "$C" -n "$N" -t "$T" -g UntracedGroup -c 1 -T 60 >"$LT_DIR/c0.out" 2>&1 \
    || lt_fail "untraced consumer did not get the message"
timeout 90 "$C" -n "$N" -t "$T" -g TraceConsumerGroup -c 1 -T 60 --trace >"$LT_DIR/c1.out" 2>&1 \
    || lt_fail "traced consumer did not get the message"
grep -q "keys=OrderID188" "$LT_DIR/c1.out" || grep -q "OrderID188" "$LT_DIR/c1.out" || lt_fail "consumed message lacks its key"
ok

# 3. the trace, once indexed
trace_shows() {
    "$A" queryMsgTraceById -i "$id" -n "$N" >"$LT_DIR/trace.out" 2>"$LT_DIR/trace.err" || return 1
    grep -qE '^Pub +TraceProducerGroup +127\.0\.0\.1 +[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} +[0-9]+ms +success' "$LT_DIR/trace.out" &&
        grep -qE '^Sub +TraceConsumerGroup +127\.0\.0\.1 +[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} +[0-9]+ms +success' "$LT_DIR/trace.out"
}
lt_wait_for 60 "queryMsgTraceById shows the Pub and the SubAfter rows" trace_shows \
    || { cat "$LT_DIR/trace.out" "$LT_DIR/trace.err"; lt_fail "trace not found"; }
cat "$LT_DIR/trace.out"
# RocketMQ's headers, exactly; one Pub block and one consumer block, of the traced group only
grep -qxF "$(printf '%-10s %-20s %-20s %-20s %-10s %-10s' '#Type' '#ProducerGroup' '#ClientHost' '#SendTime' '#CostTimes' '#Status')" \
    "$LT_DIR/trace.out" || lt_fail "producer header"
grep -qxF "$(printf '%-10s %-20s %-20s %-20s %-10s %-10s' '#Type' '#ConsumerGroup' '#ClientHost' '#ConsumerTime' '#CostTimes' '#Status')" \
    "$LT_DIR/trace.out" || lt_fail "consumer header"
[ "$(grep -c '^Pub ' "$LT_DIR/trace.out")" -eq 1 ] || lt_fail "expected exactly one Pub row"
[ "$(grep -c '^Sub ' "$LT_DIR/trace.out")" -eq 1 ] || lt_fail "expected exactly one Sub row"
grep -q UntracedGroup "$LT_DIR/trace.out" && lt_fail "the untraced group left a trace"
ok

# 4. the trace messages themselves are found by the business key too (KEYS = msgId + keys)
"$A" queryMsgByKey -t RMQ_SYS_TRACE_TOPIC -k OrderID188 -n "$N" >"$LT_DIR/bykey.out" 2>&1 || lt_fail "queryMsgByKey"
[ "$(grep -cE '^[0-9A-F]{32} ' "$LT_DIR/bykey.out")" -ge 1 ] || { cat "$LT_DIR/bykey.out"; lt_fail "trace message not found by business key"; }
ok

# 5. an id nobody traced: no rows, still success
"$A" queryMsgTraceById -i 0123456789ABCDEF0123456789ABCDEF -n "$N" >"$LT_DIR/none.out" 2>&1 || lt_fail "unknown id"
grep -qE '^(Pub|Sub) ' "$LT_DIR/none.out" && lt_fail "rows for an unknown id"
ok
echo "trace: $pass passed, 0 failed"
