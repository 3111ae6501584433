#!/usr/bin/env bash
# Access control beyond RocketMQ's: a name server with aclEnable=true takes changes (broker
# registration, KV config, its config, write permissions, topic deletion) only when signed by
# an admin account of conf/namesrv_acl.yml, while reads stay open; a broker with
# innerClientAuthenticationCredentials signs what it sends (it registers) and its HA link
# proves the key, so a process without the key can neither steal a topic's route nor pose as
# the slave that SYNC_MASTER waits for.
# Usage: bash test_namesrv_acl.sh <bin-dir> [vectors-dir]   (ctest passes both)
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
home="$LT_DIR/rmqhome"
mkdir -p "$home/conf"
cat >"$home/conf/namesrv_acl.yml" <<'EOF'
accounts:
  - accessKey: brokerKey01
    secretKey: brokerSecret01
    admin: true
  - accessKey: appKey0001
    secretKey: appSecret0001
EOF
chmod 600 "$home/conf/namesrv_acl.yml"
CRED='innerClientAuthenticationCredentials={"accessKey":"brokerKey01","secretKeyFile":"'"$home/broker.secret"'"}'
printf 'brokerSecret01\n' >"$home/broker.secret"

# A name server with ACL on and no account file refuses to start, naming what is missing.
printf 'aclEnable=true\nrocketmqHome=%s\n' "$LT_DIR/nowhere" >"$LT_DIR/ns-bad.conf"
timeout 30 "$LT_BIN/mqnamesrv" -c "$LT_DIR/ns-bad.conf" -l "$(lt_free_port)" >"$LT_DIR/ns-bad.out" 2>&1 &&
    lt_fail "the name server started without its ACL file"
grep -q "namesrv_acl.yml" "$LT_DIR/ns-bad.out" || lt_fail "the refusal does not name the file: $(cat "$LT_DIR/ns-bad.out")"

LT_NS_PORT=$(lt_free_port)
LT_NS_ADDR="127.0.0.1:$LT_NS_PORT"
printf 'aclEnable=true\nrocketmqHome=%s\n' "$home" >"$LT_DIR/ns.conf"
"$LT_BIN/mqnamesrv" -c "$LT_DIR/ns.conf" -l "$LT_NS_PORT" >"$LT_DIR/namesrv.out" 2>&1 &
LT_NS_PID=$!
LT_PIDS+=("$LT_NS_PID")
lt_wait_port "$LT_NS_PORT" 60 || lt_fail "name server did not start"

# The master registers because it signs (lt_start_broker waits until the name server lists it).
lt_start_broker "brokerRole=SYNC_MASTER" "$CRED" || lt_fail "a broker with the key did not register"
echo "ok    a broker with innerClientAuthenticationCredentials registers"

PYTHONPATH="$here" timeout 120 python3 - "$LT_NS_PORT" "$LT_BROKER_PORT" <<'EOF' || lt_fail "name server access control"
import sys, time
from rmq_frames import Conn
from acl_frames import call, register_body, register_ext
ns_port, broker_port = int(sys.argv[1]), int(sys.argv[2])
ACL = "org.apache.rocketmq.acl.common.AclException: "
ok = 0

def check(name, cond, detail=""):
    global ok
    if not cond:
        print("FAIL  %s %s" % (name, detail))
        sys.exit(1)
    ok += 1
    print("ok    %s" % name)

# a topic on the real broker, routed by the name server
b = Conn(broker_port)
r = b.call(17, {"topic": "TopicNsAcl", "readQueueNums": 4, "writeQueueNums": 4, "perm": 6,
                "topicFilterType": "SINGLE_TAG", "topicSysFlag": 0, "order": "false", "defaultTopic": "TBW102"})
check("the broker creates TopicNsAcl", r and r[0]["code"] == 0, r)
def route(topic):
    c, _, body = call(Conn(ns_port), 105, {"topic": topic})
    return body.decode(errors="replace") if c == 0 else ""
deadline = time.time() + 60
while "broker-a" not in route("TopicNsAcl") and time.time() < deadline:
    time.sleep(0.2)
check("an unsigned read (GET_ROUTEINFO_BY_TOPIC) is served", "broker-a" in route("TopicNsAcl"))

ns = Conn(ns_port)
steal = register_body(["TopicNsAcl"])
ext = register_ext("broker-evil", "127.0.0.1:1")
c, rem, _ = call(ns, 103, ext, steal)
check("an unsigned REGISTER_BROKER is refused", c == 1 and rem == ACL + "No accessKey is configured", (c, rem))
c, rem, _ = call(ns, 103, ext, steal, "appKey0001", "appSecret0001")
check("a non-admin account cannot register a broker",
      c == 1 and rem == ACL + "Need admin permission for request code=103, but accessKey=appKey0001 is not", (c, rem))
c, rem, _ = call(ns, 103, ext, steal, "brokerKey01", "notTheSecret")
check("a wrong secret is refused", c == 1 and rem == ACL + "Check signature failed for accessKey=brokerKey01", (c, rem))
c, rem, _ = call(ns, 103, ext, steal, "nobodyKey1", "x" * 8)
check("an unknown key is refused", c == 1 and rem == ACL + "No acl config for nobodyKey1", (c, rem))
check("the route was not stolen", "broker-evil" not in route("TopicNsAcl") and "broker-a" in route("TopicNsAcl"))

# a large registration (> 64 KiB: its signature is checked on the thread pool, with the body)
big = register_body(["BigTopic%04d" % i for i in range(900)])
check("the large body is over 64 KiB", len(big) > 65536, len(big))
bext = register_ext("broker-big", "127.0.0.1:2")
c, rem, _ = call(ns, 103, bext, big, "brokerKey01", "notTheSecret")
check("a large registration with a wrong signature is refused", c == 1 and "Check signature failed" in rem, (c, rem))
check("... and routes nothing", "broker-big" not in route("BigTopic0007"))
c, rem, _ = call(ns, 103, bext, big, "brokerKey01", "brokerSecret01")
check("a large registration signed by the admin key is applied", c == 0, (c, rem))
check("... and routes its topics", "broker-big" in route("BigTopic0007"))
c, rem, _ = call(ns, 104, {"brokerName": "broker-big", "brokerAddr": "127.0.0.1:2", "clusterName": "DefaultCluster",
                           "brokerId": 0}, b"", "brokerKey01", "brokerSecret01")
check("a signed UNREGISTER_BROKER is applied", c == 0 and "broker-big" not in route("BigTopic0007"), (c, rem))

# the other changes need the signature too; reads do not
for code, ext, body, what in [
        (100, {"namespace": "ORDER_TOPIC_CONFIG", "key": "TopicNsAcl", "value": "broker-evil:4"}, b"", "PUT_KV_CONFIG"),
        (102, {"namespace": "ORDER_TOPIC_CONFIG", "key": "TopicNsAcl"}, b"", "DELETE_KV_CONFIG"),
        (318, {}, b"orderMessageEnable=true", "UPDATE_NAMESRV_CONFIG"),
        (205, {"brokerName": "broker-a"}, b"", "WIPE_WRITE_PERM_OF_BROKER"),
        (327, {"brokerName": "broker-a"}, b"", "ADD_WRITE_PERM_OF_BROKER"),
        (216, {"topic": "TopicNsAcl"}, b"", "DELETE_TOPIC_IN_NAMESRV"),
        (104, {"brokerName": "broker-a", "brokerAddr": "127.0.0.1:%d" % broker_port, "clusterName": "DefaultCluster",
               "brokerId": 0}, b"", "UNREGISTER_BROKER of the real broker")]:
    c, rem, _ = call(ns, code, ext, body)
    check("unsigned %s is refused" % what, c == 1 and rem == ACL + "No accessKey is configured", (c, rem))
check("the real broker's route survived all of it", "broker-a" in route("TopicNsAcl"))
c, rem, _ = call(ns, 100, {"namespace": "LOULAN_TEST", "key": "k", "value": "v"}, b"", "brokerKey01", "brokerSecret01")
check("a signed PUT_KV_CONFIG is applied", c == 0, (c, rem))
c, rem, body = call(ns, 101, {"namespace": "LOULAN_TEST", "key": "k"})
check("an unsigned GET_KV_CONFIG reads it", c == 0, (c, rem))
c, rem, _ = call(ns, 106)
check("an unsigned GET_BROKER_CLUSTER_INFO is served", c == 0, (c, rem))
print("name server ACL: %d checks passed" % ok)
EOF

# mqadmin signs with $ROCKETMQ_HOME/conf/tools.yml: with the admin key its KV change is taken,
# without tools.yml it is refused with the name server's AclException.
tools_home="$LT_DIR/toolshome"
mkdir -p "$tools_home/conf"
ROCKETMQ_HOME="$tools_home" "$LT_BIN/mqadmin" updateKvConfig -s LOULAN_TEST -k unsigned -v 1 -n "$LT_NS_ADDR" \
    >"$LT_DIR/kv-unsigned.out" 2>&1 && lt_fail "an unsigned mqadmin updateKvConfig was taken"
grep -q "No accessKey is configured" "$LT_DIR/kv-unsigned.out" ||
    lt_fail "unsigned mqadmin: not RocketMQ's refusal: $(cat "$LT_DIR/kv-unsigned.out")"
printf 'accessKey: brokerKey01\nsecretKey: brokerSecret01\n' >"$tools_home/conf/tools.yml"
ROCKETMQ_HOME="$tools_home" "$LT_BIN/mqadmin" updateKvConfig -s LOULAN_TEST -k signed -v 2 -n "$LT_NS_ADDR" \
    >"$LT_DIR/kv-signed.out" 2>&1 || lt_fail "mqadmin signed with tools.yml was refused: $(cat "$LT_DIR/kv-signed.out")"
echo "ok    mqadmin: refused without tools.yml, taken when it signs with the admin key"

# HA: without a slave, a SYNC_MASTER send is not acknowledged; a fake slave that does not
# prove the key is closed and acknowledges nothing; a real slave with the key replicates.
send_code() {
    PYTHONPATH="$here" timeout 30 python3 - "$LT_BROKER_PORT" <<'EOF'
import sys
from rmq_frames import Conn, send_v2
r = send_v2(Conn(int(sys.argv[1]), timeout=20), "TopicNsAcl", b"ha-check")
print(r[0]["code"] if r else "closed")
EOF
}
ha_port=$((LT_BROKER_PORT + 1))
PYTHONPATH="$here" timeout 60 python3 - "$ha_port" <<'EOF' || lt_fail "the master's HA port took a slave without the key"
import socket, struct, sys, time
from acl_frames import ha_preface
port = int(sys.argv[1])

def closed_by_master(data, within=30):
    s = socket.create_connection(("127.0.0.1", port), timeout=within)
    s.sendall(data)
    end = time.time() + within
    try:
        while time.time() < end:
            chunk = s.recv(4096)
            if not chunk:
                return True      # the master closed it
    except (ConnectionResetError, socket.timeout):
        return isinstance(sys.exc_info()[1], ConnectionResetError)
    return False

# a RocketMQ-style slave: its first bytes are an 8-byte offset report
if not closed_by_master(struct.pack(">Q", 0)):
    sys.exit("a plain 8-byte report was accepted")
print("ok    a slave without the preface is closed")
if not closed_by_master(ha_preface("brokerKey01", "wrongSecret01") + struct.pack(">Q", 0)):
    sys.exit("a preface with the wrong secret was accepted")
print("ok    a preface with the wrong secret is closed")
if not closed_by_master(ha_preface("brokerKey01", "brokerSecret01", ts_ms=int(time.time() * 1000) - 3600_000) + struct.pack(">Q", 0)):
    sys.exit("an hour-old preface was accepted")
print("ok    an old preface is closed")
# the right preface is taken (the master then streams to it), but the same bytes again are a replay
good = ha_preface("brokerKey01", "brokerSecret01")
s = socket.create_connection(("127.0.0.1", port), timeout=20)
s.sendall(good + struct.pack(">Q", 0))
s.settimeout(20)
if not s.recv(12):
    sys.exit("a valid preface was refused")
s.close()
print("ok    a valid preface is taken")
if not closed_by_master(good + struct.pack(">Q", 0)):
    sys.exit("a replayed preface was accepted")
print("ok    a replayed preface is closed")
EOF
grep -q "HA: refused a slave connection" "$LT_DIR/broker.out" || lt_fail "the refusals were not logged"
code=$(send_code)
[ "$code" = 11 ] || [ "$code" = 12 ] || lt_fail "a SYNC_MASTER send without a proven slave answered $code (want 11 or 12)"
echo "ok    without a proven slave, a SYNC_MASTER send is not acknowledged ($code)"

lt_start_slave "$CRED" || lt_fail "slave did not start"
grep_slave() { grep -q "HA: a slave connected and proved the credentials" "$LT_DIR/broker.out"; }
lt_wait_for 60 "the slave proves the key to the master" grep_slave || lt_fail "the real slave was not taken"
send_ok() { [ "$(send_code)" = 0 ]; }
lt_wait_for 60 "a SYNC_MASTER send acknowledged by the real slave" send_ok || lt_fail "no send acknowledged with the real slave"
echo "ok    a slave with the key replicates: SYNC_MASTER sends are acknowledged"
lt_wait_for 60 "the slave registers with the name server (signed)" lt_ns_lists "127.0.0.1:$LT_SLAVE_PORT" \
    || lt_fail "the slave did not register"
echo "name server ACL and signed peers: all checks passed"
