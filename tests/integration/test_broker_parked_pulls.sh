#!/usr/bin/env bash
# Issue 12 item 7: 50k long-poll pulls parked on 1600 other queues keep another client's send
# rate at least 1/4 of its rate without them (measured in the same run with raw_send); parked
# pulls on a queue that gets a message are woken, others stay parked, holds end on time.
# The driver is broker_parked_pulls.py.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
lt_start_namesrv || lt_fail "name server did not start"
lt_start_broker || lt_fail "broker did not start"
PYTHONPATH="$here" timeout 280 python3 "$here/broker_parked_pulls.py" "$LT_BROKER_PORT" "$LT_BIN/raw_send" 50000 \
    || lt_fail "parked pull checks failed"
echo "PASS test_broker_parked_pulls"
