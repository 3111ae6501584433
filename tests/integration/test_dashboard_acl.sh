#!/usr/bin/env bash
# loulan-dashboard against a broker with plain ACL on (aclEnable=true): with the account's keys
# (rocketmq.config.accessKey/secretKey) its admin requests are signed and the pages work; without
# them the broker refuses and the console says why (the AclException text in errMsg) instead of
# an empty page. Keys given alone (one without the other) stop the start.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
export ROCKETMQ_HOME="$LT_DIR/rmqhome"
mkdir -p "$ROCKETMQ_HOME/conf"
cat >"$ROCKETMQ_HOME/conf/plain_acl.yml" <<'YML'
accounts:
  - accessKey: consoleAdmin1
    secretKey: "consoleSecret1"
    admin: true
YML
lt_start_single "aclEnable=true"

out=$("$LT_BIN/loulan-dashboard" --rocketmq.config.accessKey=consoleAdmin1 -p 2>&1) &&
    lt_fail "started with an accessKey and no secretKey"
echo "$out" | grep -q "accessKey and secretKey go together" || lt_fail "the refusal does not say why: $out"

LT_DASH_NAME=signed lt_start_dashboard --rocketmq.config.accessKey=consoleAdmin1 \
    --rocketmq.config.secretKey=consoleSecret1 || lt_fail "signed dashboard did not start"
signed=$LT_DASH_URL
LT_DASH_NAME=unsigned lt_start_dashboard || lt_fail "unsigned dashboard did not start"
unsigned=$LT_DASH_URL

HERE="$here" python3 - "$signed" "$unsigned" <<'PY' || lt_fail "ACL checks"
import os, sys, time
sys.path.insert(0, os.environ.get("HERE", "."))
from dashboard_http import Dash, check
signed, unsigned = Dash(sys.argv[1]), Dash(sys.argv[2])
topic = {"clusterNameList": ["DefaultCluster"], "topicName": "AclConsoleTopic", "writeQueueNums": 4,
         "readQueueNums": 4, "perm": 6}
check(signed.ok("POST", "topic/createOrUpdate.do", body=topic) is True, "a signed create")
# the broker registers the new topic with the name server a moment later: wait for it (bounded)
deadline = time.time() + 30
while True:
    env = signed.call("GET", "topic/route.query", {"topic": "AclConsoleTopic"})
    if env["status"] == 0 or time.time() > deadline:
        break
    time.sleep(0.2)
route = signed.ok("GET", "topic/route.query", {"topic": "AclConsoleTopic"})
check(route["queueDatas"][0]["writeQueueNums"] == 4, f"created: {route}")
cfg = signed.ok("GET", "topic/examineTopicConfig.query", {"topic": "AclConsoleTopic"})
check(cfg and cfg[0]["readQueueNums"] == 4, f"the broker's own table read with a signature: {cfg}")
err = unsigned.err("POST", "topic/createOrUpdate.do", body=dict(topic, topicName="AclUnsignedTopic"))
check("AclException" in err or "accessKey" in err, f"an unsigned change is refused with the broker's reason: {err}")
err = unsigned.err("GET", "topic/examineTopicConfig.query", {"topic": "AclConsoleTopic"})
check("AclException" in err or "accessKey" in err, f"an unsigned read of the broker is refused with its reason: {err}")
print("dashboard ACL: ok")
PY
kill -0 "$LT_DASH_PID" || lt_fail "a dashboard died"
echo "PASS"
