#!/usr/bin/env bash
# The name server with brokers of 40,000 topics each (issue 12 item 6): registrations,
# unregistration and a connection close are handled without freezing the loop (another
# client's GET_ROUTEINFO answered within 2 s, a registration within 3 s; that client's p99
# during three 40k registrations under 150 ms, as big bodies are decoded off the loop), and the
# route table stays right (routes, topic lists, write-permission wipe, topic deletion).
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
lt_start_namesrv || lt_fail "name server did not start"
PYTHONPATH="$here" timeout 280 python3 "$here/namesrv_many_topics.py" "$LT_NS_PORT" 40000 \
    || lt_fail "name server with 40k topics: see above"
kill -0 "$LT_NS_PID" || lt_fail "name server died"
echo "PASS"
