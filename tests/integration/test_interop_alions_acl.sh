#!/usr/bin/env bash
# Plain ACL with the unchanged npm client ali-ons (tests/interop/alions_acl.test.js), which signs
# with accessKeyId/accessKeySecret as RocketMQ clients do: a permitted account produces and
# consumes while a wrong secret, an unknown key, a denied topic, a denied group and a non-admin
# topic creation are refused with RocketMQ 4.9's AclException answers. Then, with raw frames: an
# unsigned request is refused until the global white list (edited in the file, no restart)
# names 127.0.0.1; a refused oneway request gets no answer and the connection stays usable; and
# an edit that takes a topic away from an account takes effect without a restart.
# Usage: bash test_interop_alions_acl.sh <bin-dir> [vectors-dir]   (ctest passes both)
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
lt_alions_setup
home="$LT_DIR/rmqhome"
mkdir -p "$home/conf"
write_acl() { # $1: TopicAcl's perm for userAKey1; $2: global white list entry
    cat >"$home/conf/plain_acl.yml.tmp" <<EOF
globalWhiteRemoteAddresses:
  - 10.10.103.*
  - $2
accounts:
  - accessKey: admin1Key
    secretKey: admin1Secret
    admin: true
  - accessKey: userAKey1
    secretKey: userASecret1
    whiteRemoteAddress: 192.168.1.*
    admin: false
    defaultTopicPerm: DENY
    defaultGroupPerm: DENY
    topicPerms:
      - TopicAcl=$1
    groupPerms:
      - GID_acl=SUB
EOF
    mv "$home/conf/plain_acl.yml.tmp" "$home/conf/plain_acl.yml" # one rename: never half a file
}
write_acl "PUB|SUB" "192.168.0.*"
lt_start_namesrv || lt_fail "name server did not start"
lt_start_broker "aclEnable=true" "rocketmqHome=$home" || lt_fail "broker did not start with aclEnable=true"
grep -q "acl.*on: 2 accounts" "$LT_DIR/broker.out" || lt_fail "the broker did not report the 2 accounts it loaded"
export NAMESRV_ADDR="$LT_NS_ADDR"

run_phase() { (cd "$LT_INTEROP" && ACL_PHASE=$1 ALIONS_WATCHDOG_MS=$(( ($2 - 5) * 1000 )) timeout -k 5 "$2" node --test alions_acl.test.js); }
run_phase main 110 || lt_fail "ali-ons ACL scenarios failed"

# Raw frames: what an unsigned client gets, and the global white list reloaded from the file.
unsigned_answer() {
    PYTHONPATH="$here" python3 - "$LT_BROKER_PORT" <<'EOF'
import sys
from rmq_frames import Conn
c = Conn(int(sys.argv[1]))
r = c.call(30, {"topic": "TopicAcl", "queueId": "0"})  # GET_MAX_OFFSET, no AccessKey
print(r[0].get("code"), r[0].get("remark", ""))
EOF
}
out=$(unsigned_answer)
[[ "$out" == "1 org.apache.rocketmq.acl.common.AclException: No accessKey is configured"* ]] \
    || lt_fail "an unsigned request was not refused as RocketMQ refuses it: $out"
PYTHONPATH="$here" python3 - "$LT_BROKER_PORT" <<'EOF' || lt_fail "a refused oneway request was answered, or broke the connection"
import sys
from rmq_frames import Conn, frame
c = Conn(int(sys.argv[1]))
# a refused oneway UPDATE_CONSUMER_OFFSET (flag 2) must get no answer; the next request on the
# same connection gets its own answer (opaque 2), not one for the oneway (opaque 1)
c.send_raw(frame(15, {"consumerGroup": "GID_acl", "topic": "TopicAcl", "queueId": "0", "commitOffset": "1"}, opaque=1, flag=2))
c.send_raw(frame(30, {"topic": "TopicAcl", "queueId": "0"}, opaque=2))
h, _ = c.recv_frame()
assert h["opaque"] == 2, h
assert h["code"] == 1 and "No accessKey is configured" in h.get("remark", ""), h
EOF
write_acl "PUB|SUB" "127.0.0.1"
check_white() { [[ "$(unsigned_answer)" == "0 "* ]]; }
lt_wait_for 40 "the global white list edit (127.0.0.1) to take effect" check_white \
    || lt_fail "the file edit did not let 127.0.0.1 in without a signature: $(unsigned_answer)"
grep -q "acl.*reloaded: 2 accounts" "$LT_DIR/broker.out" || lt_fail "no reload was logged"

# Take the topic away (and the white list back): refused without a restart.
write_acl "DENY" "192.168.0.*"
run_phase revoked 60 || lt_fail "revoking TopicAcl in the file did not refuse the account's sends"
kill -0 "$LT_BROKER_PID" || lt_fail "the broker died"
echo "ACL interop with ali-ons: all checks passed"
