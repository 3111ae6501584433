#!/usr/bin/env bash
# Issue 12 (stalls, follow-up): with 10,000 topics, auto-creating 1,000 more must not stall other
# clients (GET_MAX_OFFSET p99 < 80 ms, 320 ms under LOULAN_SLOW; measured 27-30 ms after, 175-240 ms
# before) although each new topic schedules
# a registration whose body lists every topic; the new topics reach the name server. The driver
# is broker_register_scale.py; the 10,000 topics are preloaded from topics.json (fast setup).
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
lt_start_namesrv || lt_fail "name server did not start"
mkdir -p "$LT_DIR/store/config"
python3 - "$LT_DIR/store/config/topics.json" <<'PY' || lt_fail "cannot write topics.json"
import json, sys
tab = {("RegScale_%05d" % i): {"order": False, "perm": 6, "readQueueNums": 4, "topicFilterType": "SINGLE_TAG",
                               "topicName": "RegScale_%05d" % i, "topicSysFlag": 0, "writeQueueNums": 4}
       for i in range(10000)}
with open(sys.argv[1], "w") as f:
    json.dump({"dataVersion": {"counter": 1, "timestamp": 1700000000000}, "topicConfigTable": tab}, f)
PY
lt_start_broker || lt_fail "broker did not start"
PYTHONPATH="$here" timeout 280 python3 "$here/broker_register_scale.py" "$LT_NS_PORT" "$LT_BROKER_PORT" ${REG_SCALE_BOUND_MS:-} \
    || lt_fail "registration scale checks failed"
# Stop while a registration body (11,000 topics) is being built: UPDATE_AND_CREATE_TOPIC asks for
# one, SIGTERM follows its answer at once. The broker must exit cleanly (0; under ASan no report,
# which lt_cleanup checks) and the name server must forget it (the unregister is not undone by
# the dropped build).
PYTHONPATH="$here" timeout 60 python3 - "$LT_BROKER_PORT" "$LT_BROKER_PID" <<'PY' || lt_fail "UPDATE_AND_CREATE_TOPIC before the stop failed"
import os, signal, sys
from rmq_frames import Conn
r = Conn(int(sys.argv[1]), timeout=30).call(17, {"topic": "RegStop", "readQueueNums": 4, "writeQueueNums": 4, "perm": 6})
os.kill(int(sys.argv[2]), signal.SIGTERM)
sys.exit(0 if r and r[0]["code"] == 0 else 1)
PY
deadline=$((SECONDS + 60))
while kill -0 "$LT_BROKER_PID" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
wait "$LT_BROKER_PID"
rc=$?
[ "$rc" -eq 0 ] || lt_fail "the broker stopped during a registration build with status $rc"
lt_wait_for 30 "the name server forgets the stopped broker" lt_ns_forgot || lt_fail "the broker is still registered after its stop"
echo "PASS test_broker_register_scale"
