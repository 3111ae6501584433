#!/usr/bin/env bash
# kvConfig.json is read in the fastjson dialect, so a map key may be an object: such entries
# are skipped, the others loaded (the name server used to crash at start on one). Also checks
# that a KV update is written back and read again after a restart.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
kv="$LT_DIR/kv.json"
printf '{"configTable":{"NS":{{"a":1}:"x","k":"v"},{"b":2}:{"k":"v"},"ORDER_TOPIC_CONFIG":{"T1":"broker-a:4"}}}' >"$kv"
start() {
    port=$(lt_free_port)
    printf 'listenPort=%s\nkvConfigPath=%s\n' "$port" "$kv" >"$LT_DIR/ns.conf"
    "$LT_BIN/mqnamesrv" -c "$LT_DIR/ns.conf" >>"$LT_DIR/namesrv.out" 2>&1 &
    pid=$!
    LT_PIDS+=("$pid")
    lt_wait_port "$port" 10 || lt_fail "name server did not start with $(cat "$kv")"
}
start
PYTHONPATH="$here" timeout 60 python3 - "$port" <<'PY' || lt_fail "KV answers"
import sys
from rmq_frames import Conn
c = Conn(int(sys.argv[1]))
r = c.call(101, {"namespace": "NS", "key": "k"})
assert r[0]["code"] == 0 and r[0]["extFields"]["value"] == "v", r[0]
r = c.call(219, {"namespace": "ORDER_TOPIC_CONFIG"})
assert r[0]["code"] == 0 and b'"T1":"broker-a:4"' in r[1], r
r = c.call(100, {"namespace": "NS", "key": "k2", "value": "v2"})
assert r[0]["code"] == 0, r[0]
r = c.call(102, {"namespace": "ORDER_TOPIC_CONFIG", "key": "T1"})
assert r[0]["code"] == 0, r[0]
print("ok: KV loaded, updated, deleted")
PY
kill "$pid"; wait "$pid" 2>/dev/null
start
PYTHONPATH="$here" timeout 60 python3 - "$port" <<'PY' || lt_fail "KV after restart"
import sys
from rmq_frames import Conn
c = Conn(int(sys.argv[1]))
r = c.call(101, {"namespace": "NS", "key": "k2"})
assert r[0]["code"] == 0 and r[0]["extFields"]["value"] == "v2", r[0]
r = c.call(219, {"namespace": "ORDER_TOPIC_CONFIG"})
assert r[0]["code"] == 22, r[0]   # QUERY_NOT_FOUND: the namespace's last key was deleted
print("ok: KV persisted across a restart")
PY
echo PASS
