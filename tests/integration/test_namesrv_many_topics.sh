#!/usr/bin/env bash
# The name server with brokers of 40,000 topics each (issue 12 item 6): registrations,
# unregistration and a connection close are handled without freezing the loop (another
# client's GET_ROUTEINFO answered within 2 s, a registration within 3 s; that client's p99
# during three 40k registrations under 200 ms, as big bodies are decoded off the loop), and the
# route table stays right (routes, topic lists, write-permission wipe, topic deletion).
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
lt_start_namesrv || lt_fail "name server did not start"
PYTHONPATH="$here" timeout 280 python3 "$here/namesrv_many_topics.py" "$LT_NS_PORT" 40000 \
    || lt_fail "name server with 40k topics: see above"
kill -0 "$LT_NS_PID" || lt_fail "name server died"

# Stopped while a big registration is on the thread pool: the name server still exits cleanly
# (status 0; under the sanitizers no leak report). The route answer on the same connection
# comes after the registration was queued, so SIGTERM lands while it is being decoded.
PYTHONPATH="$here" timeout 120 python3 - "$LT_NS_PORT" <<'PY' || lt_fail "big registration before SIGTERM not sent"
import json, sys
from rmq_frames import Conn, frame
table = {"S%05d" % i: {"perm": 6, "readQueueNums": 4, "writeQueueNums": 4, "topicSysFlag": 0} for i in range(40000)}
body = json.dumps({"topicConfigSerializeWrapper": {"dataVersion": {"counter": 1, "timestamp": 1},
                   "topicConfigTable": table}}).encode()
c = Conn(int(sys.argv[1]), timeout=100)
c.send_raw(frame(103, {"brokerId": 0, "clusterName": "C", "brokerAddr": "127.0.0.1:10961", "brokerName": "broker-s"},
                 body, opaque=1, version=403) + frame(105, {"topic": "S00001"}, opaque=2))
r = c.recv_frame()
if r is not None and r[0]["opaque"] == 1:  # a very quick decode: the route comes second
    r = c.recv_frame()
sys.exit(0 if r is not None and r[0]["opaque"] == 2 else 1)
PY
kill -TERM "$LT_NS_PID"
lt_wait_for 60 "name server exits after SIGTERM" bash -c "! kill -0 $LT_NS_PID" || lt_fail "name server did not exit"
wait "$LT_NS_PID"
st=$?
[ "$st" -eq 0 ] || lt_fail "name server exited with status $st after SIGTERM during a registration"
echo "PASS"
