#!/usr/bin/env bash
# loulan-dashboard's consumer endpoints (spec dashboard.md §3.4 and the topic/ requests about a
# topic's consumers) against a name server and a broker, over real HTTP: a live C consumer in
# groupList (count, lag to 0), its connections, progress and running info, reset offset and
# skip accumulated, a group created, updated and deleted, bad input refused, the lag still
# shown when one of the two masters dies, and groupList's time with 10,000 groups
# (tests/integration/dashboard_consumer.py).
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
lt_start_single
# a second master: the group lives on both (issue #297: every broker, not the first address)
B2_PORT=$(lt_free_broker_port)
B2_ADDR="127.0.0.1:$B2_PORT"
lt_broker_proc broker-b "$B2_PORT" "brokerId=0" "brokerName=broker-b" "storePathRootDir=$LT_DIR/store-b" \
    "autoCreateTopicEnable=true" || lt_fail "broker-b did not start"
B2_PID=$LT_LAST_PID
lt_wait_for 60 "broker-b registers" lt_ns_lists "$B2_ADDR" || lt_fail "broker-b not registered"
"$A" updateTopic -n "$N" -c DefaultCluster -t TopicDC -r 4 -w 4 >/dev/null || lt_fail "updateTopic TopicDC"
lt_start_dashboard || lt_fail "dashboard did not start"
# groupList's bound with 10,000 groups: 3 s, or 15 s in a sanitizer build (several times slower)
export DC_LIST_BOUND_S=3
grep -q __asan_init "$LT_BIN/loulan-dashboard" && DC_LIST_BOUND_S=15
python3 "$here/dashboard_consumer.py" "$LT_DASH_URL" "$LT_NS_ADDR" "$LT_BIN" "$LT_BROKER_ADDR" "$B2_ADDR" "$B2_PID" ||
    { tail -n 20 "$LT_DIR/dashboard.out" >&2; lt_fail "consumer endpoints"; }
kill -0 "$LT_DASH_PID" || lt_fail "the dashboard died"
echo "PASS"
