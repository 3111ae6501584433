#!/usr/bin/env bash
# The dashboard's Message, Message Trace and DLQ requests against a real name server and broker
# (traceTopicEnable=true), with data sent by the C tools: paging by topic and time (every
# message once, totals exact, a taskId reused), by key (at most 64), by offset id and unique id,
# each group's track, consume-directly, a traced message's graph, a group's dead letters with
# their .xlsx export and batch resend, and bad input answered with errors
# (tests/integration/dashboard_message.py says what each step proves).
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
lt_start_single "traceTopicEnable=true"
lt_start_dashboard || lt_fail "the dashboard did not start"
for t in MsgT TraceT DlqSrcT; do
    "$A" updateTopic -t "$t" -c DefaultCluster -n "$N" -r 4 -w 4 >/dev/null || lt_fail "updateTopic $t"
done
for t in MsgT TraceT DlqSrcT RMQ_SYS_TRACE_TOPIC; do
    lt_wait_for 60 "topic $t is routable" "$A" topicRoute -t "$t" -n "$N" || lt_fail "no route for $t"
done
PYTHONPATH="$here" timeout 240 python3 "$here/dashboard_message.py" "$LT_DASH_URL" "$N" "$LT_BIN" "$LT_BROKER_PORT" "$LT_DIR" \
    || lt_fail "dashboard message API"
kill -0 "$LT_DASH_PID" 2>/dev/null || lt_fail "the dashboard died"
echo "dashboard message: passed"
