#!/usr/bin/env bash
# The C client under plain ACL (acl spec §1, §2): a broker with aclEnable=true and a
# plain_acl.yml written here (ROCKETMQ_HOME pointing at this test's folder). With the account's
# keys the C producer sends and the C push consumer consumes; with a wrong secret both are
# refused and print the broker's remark "AclException: Check signature failed"; without keys
# the send is refused with "No accessKey is configured". A traced send signs its trace too: the
# account has no PUB on RMQ_SYS_TRACE_TOPIC, yet the trace message is stored (RocketMQ's trace
# exemption needs a valid signature) and the consumer, with SUB on that topic, reads the Pub
# record back.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
export ROCKETMQ_HOME="$LT_DIR/rmqhome"
mkdir -p "$ROCKETMQ_HOME/conf"
cat >"$ROCKETMQ_HOME/conf/plain_acl.yml" <<'EOF'
globalWhiteRemoteAddresses:
  - 10.10.103.*
accounts:
  - accessKey: cUserKey01
    secretKey: "cUserSecret01"
    admin: false
    defaultTopicPerm: DENY
    defaultGroupPerm: DENY
    topicPerms:
      - TopicAcl=PUB|SUB
      - RMQ_SYS_TRACE_TOPIC=SUB
    groupPerms:
      - GID_acl=SUB
      - GID_trace_reader=SUB
EOF
lt_start_single "aclEnable=true" "traceTopicEnable=true"
P="$LT_BIN/producer"
C="$LT_BIN/consumer"
KEYS=(--access-key cUserKey01 --secret-key cUserSecret01)
BAD=(--access-key cUserKey01 --secret-key wrongSecret01)

# 1. right keys: a traced send, then a consume
timeout 60 "$P" -n "$N" -c 1 -t TopicAcl -g PG_acl -k AclKey42 --trace "${KEYS[@]}" >"$LT_DIR/p.out" 2>"$LT_DIR/p.err" \
    || { cat "$LT_DIR/p.err"; lt_fail "send with the right keys"; }
id=$(sed -n 's/.*msgId=\([0-9A-F]*\),.*/\1/p' "$LT_DIR/p.out" | head -1)
[ ${#id} -eq 32 ] || lt_fail "no msgId in: $(cat "$LT_DIR/p.out")"
grep -q "trace:" "$LT_DIR/p.err" && { cat "$LT_DIR/p.err"; lt_fail "the trace send failed"; }
ok
timeout 90 "$C" -n "$N" -t TopicAcl -g GID_acl -c 1 -T 60 "${KEYS[@]}" >"$LT_DIR/c.out" 2>"$LT_DIR/c.err" \
    || { tail -5 "$LT_DIR/c.err"; lt_fail "consume with the right keys"; }
grep -q "Receive New Messages: .*$id" "$LT_DIR/c.out" || lt_fail "the consumer did not print the message"
ok

# 2. the trace message, read back through the signed consumer (SUB on the trace topic only)
timeout 90 "$C" -n "$N" -t RMQ_SYS_TRACE_TOPIC -g GID_trace_reader -c 1 -T 60 "${KEYS[@]}" >"$LT_DIR/t.out" 2>"$LT_DIR/t.err" \
    || { tail -5 "$LT_DIR/t.err"; lt_fail "the trace message was not stored"; }
grep -q "KEYS=.*$id" "$LT_DIR/t.out" || { cat "$LT_DIR/t.out"; lt_fail "the trace message is not keyed by $id"; }
# the tool prints the body as Java does, a list of byte values: decode the record
python3 - "$LT_DIR/t.out" "$id" <<'PY' || lt_fail "no Pub record of $id in the trace message"
import re, sys
out, mid = open(sys.argv[1]).read(), sys.argv[2]
body = bytes(int(x) for x in re.search(r"body=\[([0-9, ]+)\]", out).group(1).split(", ")).decode()
rec = body.split("\x02")[0].split("\x01")
print("trace record:", rec)
assert rec[0] == "Pub" and rec[3] == "PG_acl" and rec[4] == "TopicAcl" and rec[5] == mid, rec
assert rec[7] == "AclKey42" and rec[13] == "true" and len(rec) == 14, rec
PY
ok

# 3. wrong secret: the producer prints the broker's refusal and fails
timeout 60 "$P" -n "$N" -c 1 -t TopicAcl -g PG_acl "${BAD[@]}" >"$LT_DIR/pb.out" 2>"$LT_DIR/pb.err" \
    && lt_fail "a send with a wrong secret succeeded"
grep -q "^send 0 failed: .*AclException: Check signature failed for accessKey=cUserKey01" "$LT_DIR/pb.err" \
    || { cat "$LT_DIR/pb.err"; lt_fail "the producer did not print the broker's remark"; }
ok

# 4. wrong secret: the consumer is refused (its heartbeat's answer printed) and gets nothing
timeout 60 "$C" -n "$N" -t TopicAcl -g GID_acl -c 1 -T 5 "${BAD[@]}" >"$LT_DIR/cb.out" 2>"$LT_DIR/cb.err" \
    && lt_fail "a consumer with a wrong secret got the message"
grep -q "refused: 1 .*AclException: Check signature failed for accessKey=cUserKey01" "$LT_DIR/cb.err" \
    || { cat "$LT_DIR/cb.err"; lt_fail "the consumer did not print the broker's remark"; }
grep -q "Receive New Messages" "$LT_DIR/cb.out" && lt_fail "a consumer with a wrong secret printed a message"
ok

# 5. no keys at all
timeout 60 "$P" -n "$N" -c 1 -t TopicAcl -g PG_acl >"$LT_DIR/pn.out" 2>"$LT_DIR/pn.err" \
    && lt_fail "an unsigned send succeeded"
grep -q "AclException: No accessKey is configured" "$LT_DIR/pn.err" || { cat "$LT_DIR/pn.err"; lt_fail "unsigned send remark"; }
ok
echo "client_acl: $pass passed, 0 failed"
