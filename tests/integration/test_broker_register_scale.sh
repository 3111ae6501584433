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
echo "PASS test_broker_register_scale"
