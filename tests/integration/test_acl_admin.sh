#!/usr/bin/env bash
# The ACL admin requests (acl spec §3) end to end: mqadmin, signed with the admin's keys from
# ${ROCKETMQ_HOME}/conf/tools.yml, creates an account that can then send (bin/producer signs
# with it), deletes it (its requests refused afterwards), sets the global white list and reads
# the data versions back; a non-admin account is refused code 50, 54 is not served, malformed
# fields get 209 with RocketMQ's messages, paths outside the ACL files get 211, unknown keys 210;
# the rewritten file keeps mode 0600 and loads again after a restart; mqadmin without tools.yml
# is refused "No accessKey is configured", with a malformed one it stops, and the secret may come
# from secretKeyEnv; a broker without aclEnable answers "acl is not enabled".
# Usage: bash test_acl_admin.sh <bin-dir> [vectors-dir]   (ctest passes both)
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
home="$LT_DIR/rmqhome"
acl="$home/conf/plain_acl.yml"
mkdir -p "$home/conf"
cat >"$acl" <<'EOF'
# written by the test; the broker's rewrites drop this comment
accounts:
  - accessKey: adminKey01
    secretKey: adminSecret01
    admin: true
  - accessKey: userKey001
    secretKey: userSecret01
    admin: false
    defaultTopicPerm: PUB
EOF
mkdir -p "$home/conf/acl/team"
printf 'accounts:\n  - accessKey: teamKey001\n    secretKey: teamSecret01\n    defaultTopicPerm: PUB\n' >"$home/conf/acl/team/team.yml"
team=$(realpath "$home/conf/acl/team/team.yml")
tools_yml() { printf 'accessKey: adminKey01\nsecretKey: adminSecret01\n' >"$home/conf/tools.yml"; }
tools_yml
export ROCKETMQ_HOME="$home"
lt_start_namesrv || lt_fail "name server did not start"
broker_conf=("aclEnable=true" "rocketmqHome=$home")
lt_start_broker "${broker_conf[@]}" || lt_fail "broker did not start with aclEnable=true"
B="$LT_BROKER_ADDR"
export NAMESRV_ADDR="$LT_NS_ADDR"
adm() { timeout 30 "$LT_BIN/mqadmin" "$@"; }
real_acl=$(realpath "$acl")

# A raw request signed with an account's keys (acl spec §2.1): prints "code remark".
signed() { # ak sk code [key=value ...]
    PYTHONPATH="$here" timeout 20 python3 - "$LT_BROKER_PORT" "$@" <<'EOF'
import base64, hashlib, hmac, sys
from rmq_frames import Conn
port, ak, sk, code = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
ext = dict(kv.split("=", 1) for kv in sys.argv[5:])
ext["AccessKey"] = ak
c = "".join(ext[k] for k in sorted(ext))
ext["Signature"] = base64.b64encode(hmac.new(sk.encode(), c.encode(), hashlib.sha1).digest()).decode()
r = Conn(port).call(code, ext)
print(r[0]["code"], r[0].get("remark") or "")
EOF
}

# The data version counter clusterAclConfigVersion prints for the default file.
counter() { adm clusterAclConfigVersion -b "$B" | awk -v f="$real_acl" '$4 == f { print $5 }'; }

# ---- create an account; it can send ----
out=$(adm updateTopic -b "$B" -t TopicAdm -r 1 -w 1 2>&1) || lt_fail "admin could not create TopicAdm: $out"
out=$(adm updateAclConfig -b "$B" -a newUser01 -s newSecret01 -i DENY -u SUB -t "TopicAdm=PUB" -m false 2>&1) \
    || lt_fail "updateAclConfig failed: $out"
[ "$out" = "create or update plain access config to $B success." ] || lt_fail "updateAclConfig printed: $out"
grep -q "accessKey: newUser01" "$acl" || lt_fail "the account is not in the file: $(cat "$acl")"
grep -q "^#" "$acl" && lt_fail "the file was not rewritten (its comment is still there)"
[ "$(stat -c %a "$acl")" = 600 ] || lt_fail "the rewritten file has mode $(stat -c %a "$acl"), not 600"
[ "$(counter)" = 1 ] || lt_fail "dataVersion counter after one edit: '$(counter)'"
# applied before the answer: no wait for the 5 s watcher
out=$(timeout 60 "$LT_BIN/producer" -n "$LT_NS_ADDR" -c 2 -t TopicAdm --access-key newUser01 --secret-key newSecret01 2>&1) \
    || lt_fail "the new account could not send: $out"
[ "$(grep -c "sendStatus=SEND_OK" <<<"$out")" = 2 ] || lt_fail "the new account's sends: $out"
out=$(signed newUser01 newSecret01 310 a=PG b=OtherTopic c=TBW102 d=4 e=0 f=0 g=1700000000000 h=0 i= j=0 k=false m=false)
[[ "$out" == "1 "*"No default permission for topic:OtherTopic"* ]] || lt_fail "the account's DENY default was not applied: $out"

# ---- update in place: the same key gets PUB|SUB on OtherTopic too ----
out=$(adm updateAclConfig -b "$B" -a newUser01 -s newSecret01 -t "TopicAdm=PUB,OtherTopic=PUB|SUB" 2>&1) \
    || lt_fail "updating the account failed: $out"
[ "$(grep -c "accessKey: newUser01" "$acl")" = 1 ] || lt_fail "the update added a second entry: $(cat "$acl")"
out=$(signed newUser01 newSecret01 310 a=PG b=OtherTopic c=TBW102 d=4 e=0 f=0 g=1700000000000 h=0 i= j=0 k=false m=false)
[[ "$out" == "0 "* ]] || lt_fail "the updated perms were not applied at once: $out"
[ "$(counter)" = 2 ] || lt_fail "dataVersion counter after two edits: '$(counter)'"

# ---- refusals ----
out=$(signed userKey001 userSecret01 50 accessKey=evilAdmin1 secretKey=evilSecret1 admin=true)
[[ "$out" == "1 org.apache.rocketmq.acl.common.AclException: Need admin permission for request code=50"* ]] \
    || lt_fail "a non-admin account's code 50 was not refused: $out"
grep -q evilAdmin1 "$acl" && lt_fail "the refused account reached the file"
out=$(signed adminKey01 adminSecret01 54)
[[ "$out" == "3 "* ]] || lt_fail "54 (every secret) was answered: $out"
out=$(adm updateAclConfig -b "$B" -a newUser02 -s short 2>&1) && lt_fail "a 5-character secret was accepted"
[[ "$out" == *"CODE: 209 DESC: The accessKey=newUser02 and secretKey=****** cannot be null and length should longer than 6"* ]] \
    || lt_fail "short secret: $out"
out=$(adm updateAclConfig -b "$B" -a newUser02 -s newSecret02 -t "TopicX=ANY" 2>&1) && lt_fail "perm ANY was accepted"
[[ "$out" == *"CODE: 209 DESC: Parse resource permission error for TopicX=ANY."* ]] || lt_fail "bad perm: $out"
out=$(adm updateAclConfig -b "$B" -a newUser02 -s newSecret02 -g "GID_only" 2>&1) && lt_fail "an entry without = was accepted"
[[ "$out" == *"CODE: 209 DESC: Parse Resource format error for GID_only."* ]] || lt_fail "bad entry: $out"
out=$(adm updateAclConfig -b "$B" -a newUser02 -s newSecret02 -w "300.1.1.1" 2>&1) && lt_fail "a bad whiteRemoteAddress was accepted"
[[ "$out" == *"CODE: 209"* ]] || lt_fail "bad whiteRemoteAddress: $out"
grep -q newUser02 "$acl" && lt_fail "a refused account reached the file"
grep -q -e newSecret01 -e adminSecret01 -e userSecret01 "$LT_DIR/broker.out" && lt_fail "a secret was logged"
out=$(adm deleteAclConfig -b "$B" -a noSuchKey1 2>&1) && lt_fail "deleting an unknown key succeeded"
[[ "$out" == *"CODE: 210 DESC: The accesskey[noSuchKey1] corresponding to accessConfig has been deleted failed."* ]] \
    || lt_fail "unknown key: $out"
[ "$(counter)" = 2 ] || lt_fail "a refused request changed the file: counter '$(counter)'"

# ---- the global white list ----
out=$(adm updateGlobalWhiteAddr -b "$B" -g "10.9.8.*,192.168.7.7" 2>&1) || lt_fail "updateGlobalWhiteAddr failed: $out"
[ "$out" = "update global white remote addresses to $B success." ] || lt_fail "updateGlobalWhiteAddr printed: $out"
grep -q -- "- 10.9.8.\*" "$acl" || lt_fail "the white list is not in the file: $(cat "$acl")"
[ "$(counter)" = 3 ] || lt_fail "dataVersion counter after the white list: '$(counter)'"
echo "secret: x" >"$LT_DIR/outside.yml"
echo "brokerName=x" >"$home/conf/broker.yml"
for p in "$LT_DIR/outside.yml" "$home/conf/broker.yml" "$home/conf/../../outside.yml" "$home/conf/nothere.yml" "$home/conf"; do
    out=$(adm updateGlobalWhiteAddr -b "$B" -g "127.0.0.1" -p "$p" 2>&1) && lt_fail "the white list was written to $p"
    [[ "$out" == *"CODE: 211 DESC: The globalWhiteAddresses[127.0.0.1] has been updated failed."* ]] || lt_fail "-p $p: $out"
done
[ "$(cat "$LT_DIR/outside.yml")" = "secret: x" ] || lt_fail "a file outside rocketmqHome was changed"
out=$(adm updateGlobalWhiteAddr -b "$B" -g "127.0.0.1.1" 2>&1) && lt_fail "a bad pattern was accepted"
[[ "$out" == *"CODE: 211"* ]] || lt_fail "bad pattern: $out"
out=$(adm updateGlobalWhiteAddr -b "$B" -g "10.9.8.*" -p "$acl" 2>&1) || lt_fail "-p with the default file failed: $out"

# ---- the versions, through the cluster ----
out=$(adm clusterAclConfigVersion -c DefaultCluster 2>&1) || lt_fail "clusterAclConfigVersion -c failed: $out"
grep -q "^#Cluster Name  *#Broker Name  *#Broker Addr  *#AclFilePath  *#AclConfigVersionNum  *#AclLastUpdateTime" <<<"$out" \
    || lt_fail "no header: $out"
grep -qE "^DefaultCluster +broker-a +$B +$real_acl +4 +[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8}" <<<"$out" \
    || lt_fail "no row with counter 4: $out"
[ "$(tail -1 <<<"$out")" = "get cluster's plain access config version success." ] || lt_fail "last line: $out"

# ---- an account of a conf/acl/ file is updated in that file ----
out=$(adm updateAclConfig -b "$B" -a teamKey001 -s teamSecret02 2>&1) || lt_fail "updating teamKey001 failed: $out"
grep -q "secretKey: teamSecret02" "$team" || lt_fail "team.yml was not updated: $(cat "$team")"
grep -q teamKey001 "$acl" && lt_fail "teamKey001 was added to the default file"
out=$(adm clusterAclConfigVersion -b "$B" 2>&1)
grep -qE "^DefaultCluster +broker-a +$B +$team +1 " <<<"$out" || lt_fail "team.yml's version: $out"
grep -qE " $real_acl +4 " <<<"$out" || lt_fail "the default file's version moved: $out"
out=$(signed teamKey001 teamSecret02 310 a=PG b=TopicAdm c=TBW102 d=4 e=0 f=0 g=1700000000000 h=0 i= j=0 k=false m=false)
[[ "$out" == "0 "* ]] || lt_fail "teamKey001's new secret was not applied at once: $out"

# ---- a flood waits in a bounded queue: SYSTEM_BUSY beyond it, every request answered ----
out=$(PYTHONPATH="$here" timeout 60 python3 - "$LT_BROKER_PORT" <<'EOF'
import base64, hashlib, hmac, sys
from rmq_frames import Conn, frame
c = Conn(int(sys.argv[1]), timeout=30)
sig = base64.b64encode(hmac.new(b"adminSecret01", b"adminKey01", hashlib.sha1).digest()).decode()
c.send_raw(b"".join(frame(52, {"AccessKey": "adminKey01", "Signature": sig}, opaque=i) for i in range(1, 101)))
codes = {}
for _ in range(100):
    h, _ = c.recv_frame()
    codes[h["code"]] = codes.get(h["code"], 0) + 1
print(" ".join("%d:%d" % kv for kv in sorted(codes.items())))
EOF
)
echo "pipelined 52s: $out"
[[ "$out" =~ ^0:[0-9]+\ 2:[0-9]+$ ]] || lt_fail "100 pipelined requests were not answered with 0 or SYSTEM_BUSY (2): $out"

# ---- delete: refused at once ----
out=$(adm deleteAclConfig -b "$B" -a newUser01 2>&1) || lt_fail "deleteAclConfig failed: $out"
[ "$out" = "delete plain access config account from $B success.
account's accesskey is:newUser01" ] || lt_fail "deleteAclConfig printed: $out"
out=$(signed newUser01 newSecret01 310 a=PG b=TopicAdm c=TBW102 d=4 e=0 f=0 g=1700000000000 h=0 i= j=0 k=false m=false)
[[ "$out" == "1 "*"No acl config for newUser01"* ]] || lt_fail "the deleted account can still send: $out"

# ---- a restart keeps what was written ----
adm updateAclConfig -b "$B" -a keepUser01 -s keepSecret1 -i PUB >/dev/null 2>&1 || lt_fail "creating keepUser01 failed"
before=$(counter)
[ "$before" = 6 ] || lt_fail "counter before the restart: '$before'"
kill -TERM "$LT_BROKER_PID"
lt_wait_for 60 "the broker to stop" bash -c "! kill -0 $LT_BROKER_PID" || lt_fail "the broker did not stop"
lt_start_broker "${broker_conf[@]}" || lt_fail "the broker did not start again on the rewritten file"
grep -q "acl.*on: 4 accounts" "$LT_DIR/broker.out" || lt_fail "the restarted broker did not load 4 accounts"
out=$(signed keepUser01 keepSecret1 310 a=PG b=TopicAdm c=TBW102 d=4 e=0 f=0 g=1700000000000 h=0 i= j=0 k=false m=false)
[[ "$out" == "0 "* ]] || lt_fail "keepUser01 cannot send after the restart: $out"
[ "$(counter)" = "$before" ] || lt_fail "counter after the restart: '$(counter)', was $before"
[ "$(stat -c %a "$acl")" = 600 ] || lt_fail "mode after the restart: $(stat -c %a "$acl")"

# ---- mqadmin's keys ----
rm "$home/conf/tools.yml"
out=$(adm clusterAclConfigVersion -b "$B" 2>&1) && lt_fail "unsigned mqadmin was answered"
[[ "$out" == *"CODE: 1 DESC: org.apache.rocketmq.acl.common.AclException: No accessKey is configured"* ]] \
    || lt_fail "without tools.yml: $out"
printf 'accessKey: adminKey01\nsecretKey: [adminSecret01\n' >"$home/conf/tools.yml"
out=$(adm clusterAclConfigVersion -b "$B" 2>&1); rc=$?
[ $rc = 1 ] || lt_fail "a malformed tools.yml: exit $rc ($out)"
[[ "$out" == "mqadmin: $home/conf/tools.yml: malformed YAML"* ]] || lt_fail "a malformed tools.yml: $out"
printf 'accessKey: adminKey01\nsecretKeyEnv: LT_ADMIN_SECRET\n' >"$home/conf/tools.yml"
out=$(adm clusterAclConfigVersion -b "$B" 2>&1) && lt_fail "an unset secretKeyEnv did not stop mqadmin"
[[ "$out" == *"LT_ADMIN_SECRET, which is not set"* ]] || lt_fail "unset secretKeyEnv: $out"
out=$(LT_ADMIN_SECRET=adminSecret01 adm clusterAclConfigVersion -b "$B" 2>&1) || lt_fail "secretKeyEnv did not sign: $out"
[ "$(tail -1 <<<"$out")" = "get broker's plain access config version success." ] || lt_fail "with secretKeyEnv: $out"
tools_yml

# ---- without aclEnable ----
plain_port=$(lt_free_broker_port)
lt_broker_proc plain "$plain_port" "brokerName=broker-plain" "brokerId=0" "storePathRootDir=$LT_DIR/store-plain" \
    || lt_fail "a broker without ACL did not start"
for code in 50 51 52 53; do
    out=$(PYTHONPATH="$here" timeout 20 python3 -c "
import sys
from rmq_frames import Conn
r = Conn($plain_port).call($code, {'accessKey': 'someKey01', 'globalWhiteAddrs': '1.2.3.4'})
print(r[0]['code'], r[0].get('remark') or '')")
    [ "$out" = "1 acl is not enabled" ] || lt_fail "code $code without aclEnable: $out"
done
kill -0 "$LT_BROKER_PID" || lt_fail "the broker died"
echo "ACL admin requests: all checks passed"
