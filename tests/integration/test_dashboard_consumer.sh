#!/usr/bin/env bash
# loulan-dashboard's consumer endpoints (spec dashboard.md §3.4 and the topic/ requests about a
# topic's consumers) against a name server and a broker, over real HTTP: a live C consumer in
# groupList (count, lag to 0), its connections, progress and running info, reset offset and
# skip accumulated, a group created, updated and deleted, bad input refused, and groupList's
# time with 10,000 groups (tests/integration/dashboard_consumer.py).
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
lt_start_single
lt_start_dashboard || lt_fail "dashboard did not start"
# groupList's bound with 10,000 groups: 3 s, or 15 s in a sanitizer build (several times slower)
export DC_LIST_BOUND_S=3
grep -q __asan_init "$LT_BIN/loulan-dashboard" && DC_LIST_BOUND_S=15
python3 "$here/dashboard_consumer.py" "$LT_DASH_URL" "$LT_NS_ADDR" "$LT_BIN" "$LT_BROKER_ADDR" ||
    { tail -n 20 "$LT_DIR/dashboard.out" >&2; lt_fail "consumer endpoints"; }
kill -0 "$LT_DASH_PID" || lt_fail "the dashboard died"
echo "PASS"
