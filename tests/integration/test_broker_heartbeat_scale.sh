#!/usr/bin/env bash
# Issue 12 item 5: a second HEART_BEAT with 40k subscriptions must not freeze the broker
# (another client's p99 < 500 ms, each heartbeat answered < 5 s; 1 s / 10 s under LOULAN_SLOW);
# heartbeat limits, unregister and close. The driver is broker_heartbeat_scale.py.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
lt_start_namesrv || lt_fail "name server did not start"
lt_start_broker || lt_fail "broker did not start"
PYTHONPATH="$here" timeout 280 python3 "$here/broker_heartbeat_scale.py" "$LT_BROKER_PORT" || lt_fail "heartbeat scale checks failed"
echo "PASS test_broker_heartbeat_scale"
