#!/usr/bin/env bash
# What a RocketMQ console (rocketmq-dashboard 2.x, loulan-dashboard) needs of the name server,
# the broker and the C client, as real requests (dashboard_calls.py): N 105 106 206 216 304;
# B 10/310 11 12 14 15 17 (topic attributes, message.type) 21 26 28 (runtime-info keys and
# formats) 29 30 33 34 200 201 202 203 204 207 208 215 222 300 305 307 (statusTable) 309 (the
# broker relays the stored message, the C push consumer's listener consumes it and answers
# CR_SUCCESS) 315 317; the %RETRY% topic of a consuming group routed; and the yesterday/today
# counters across a local midnight (a second broker in a time zone whose midnight is seconds
# away).
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
lt_start_single

NAMESRV_ADDR="$N" timeout 60 "$LT_BIN/producer" -c 20 >/dev/null 2>&1 || lt_fail "producer failed"
# the C push consumer stays up (killed at cleanup) to answer 307 and 309
NAMESRV_ADDR="$N" "$LT_BIN/consumer" -g G1 -T 280 >"$LT_DIR/consumer.out" 2>&1 &
LT_PIDS+=($!)
got20() { [ "$(grep -c 'Receive New Messages' "$LT_DIR/consumer.out")" -ge 20 ]; }
lt_wait_for 60 "the consumer gets the 20 messages" got20 || lt_fail "consumer: $(tail -5 "$LT_DIR/consumer.out")"

PYTHONPATH="$here" timeout 200 python3 "$here/dashboard_calls.py" calls "$LT_NS_PORT" "$LT_BROKER_PORT" \
    "$LT_DIR/consumer.out" G1 || lt_fail "dashboard calls"
ok
PYTHONPATH="$here" timeout 200 python3 "$here/dashboard_calls.py" day "$LT_BIN" "$LT_DIR" || lt_fail "day roll-over"
ok
echo "PASS: $pass checks"
