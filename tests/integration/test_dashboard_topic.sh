#!/usr/bin/env bash
# loulan-dashboard's cluster, topic, producer and OPS/proxy API (spec dashboard.md §3.2, §3.3,
# §3.5, §3.10) against a real name server and broker: shapes, errors, hostile input, and the topic
# lists with 10,000 topics (dashboard_topic.py says what each section proves).
source "$(dirname "$0")/../lib.sh"
lt_setup "$1"
lt_start_single
# timeoutMillis 3000: the fan-out check uses brokers that never answer (one timeout, not three);
# no collection: its per-topic sampling of 10,000 topics is not what this test measures
lt_start_dashboard --rocketmq.config.timeoutMillis=3000 --rocketmq.config.enableDashBoardCollect=false \
    || lt_fail "dashboard did not start"
python3 "$(dirname "$0")/dashboard_topic.py" "$LT_DASH_URL" "$LT_NS_ADDR" "$LT_BIN" "$LT_BROKER_ADDR" \
    || lt_fail "dashboard topic API"
kill -0 "$LT_DASH_PID" || lt_fail "the dashboard died"
echo "PASS test_dashboard_topic"
