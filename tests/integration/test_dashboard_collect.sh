#!/usr/bin/env bash
# The Dashboard page's data (spec dashboard.md §4, §3.9) and the monitor settings (§3.11), with
# loulan-dashboard sampling every second: while a producer and a consumer run, broker.query shows
# a positive TPS for broker-a:0, topic.query counts the topic's messages in and out, topicCurrent
# lists it; today's day files are written, one older than keepDays is deleted, a recent one is
# served; bad dates and hostile parameters get errors; monitor settings survive a damaged file
# through its .bak; a stop is prompt (tests/integration/dashboard_collect.py).
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
lt_start_single
topic=DashCollectTopic

data="$LT_DIR/dashboard"
mkdir -p "$data/monitor"
old=$(date -d '-10 days' +%F)
recent=$(date -d '-1 day' +%F)
printf '{"broker-a:0":["1000,1.00000"]}' >"$data/dashboard$old.json"
cp "$data/dashboard$old.json" "$data/dashboard$old.json.bak"
printf '{"T":["1000,1.00000,5,2.00000,3"]}' >"$data/dashboard${old}_topic.json"
printf '{"broker-a:0":["1000,2.50000","2000,bad","3000,3.00000"]}' >"$data/dashboard$recent.json"
printf '{"OldTopic":["1000,1.00000,5,2.00000,3"]}' >"$data/dashboard${recent}_topic.json"
echo notes >"$data/dashboard-notes.txt"
echo '{broken' >"$data/monitor/consumerMonitorConfig.json"
printf '{"BakGroup":{"minCount":2,"maxDiffTotal":30}}' >"$data/monitor/consumerMonitorConfig.json.bak"

"$A" updateTopic -n "$N" -c DefaultCluster -t "$topic" >/dev/null || lt_fail "updateTopic"
lt_start_dashboard --loulan.dashboard.collectIntervalSeconds=1 --loulan.dashboard.keepDays=3 ||
    lt_fail "dashboard did not start"

# traffic for the samples to see: a consumer, and a producer sending batches until told to stop
"$LT_BIN/consumer" -n "$N" -t "$topic" -g DashCollectGroup -T 120 >"$LT_DIR/consumer.log" 2>&1 &
LT_PIDS+=($!)
(while [ ! -e "$LT_DIR/stop-traffic" ]; do
    "$LT_BIN/producer" -n "$N" -t "$topic" -c 20 >/dev/null 2>&1 || sleep 0.2
done) &
LT_PIDS+=($!)

start=$SECONDS
python3 "$here/dashboard_collect.py" "$LT_DASH_URL" "$data" "$old" "$recent" "$topic" || lt_fail "collect checks"
touch "$LT_DIR/stop-traffic"
kill -0 "$LT_DASH_PID" || lt_fail "the dashboard died"
echo "API checks took $((SECONDS - start)) s"

# a stop in the middle of a minute-long wait is prompt (the collector waits on a condition)
LT_DASH_NAME=dash2 lt_start_dashboard || lt_fail "second dashboard did not start"
lt_wait_for 30 "dash2 writes its first broker samples" test -s "$LT_DIR/dash2/dashboard$(date +%F).json" ||
    lt_fail "no first round"
t0=$(date +%s%N)
kill -TERM "$LT_DASH_PID"
lt_wait_for 20 "dash2 exits after SIGTERM" bash -c "! kill -0 $LT_DASH_PID" || lt_fail "stop not prompt"
echo "dash2 stopped in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
echo "PASS"
