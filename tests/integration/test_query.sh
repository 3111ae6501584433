#!/usr/bin/env bash
# Query by key and by id (QUERY_MESSAGE / VIEW_MESSAGE_BY_ID) through the C client, for single
# and batch sends, right after sending, after a clean broker restart and after kill -9.
# Also the recorded mqadmin 4.9.5 QUERY_MESSAGE request gets an answer of the real one's shape.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
[ -x "$LT_BIN/query_e2e" ] || lt_fail "no query_e2e in $LT_BIN"
lt_start_single
ids="$LT_DIR/ids.txt"
timeout 60 "$LT_BIN/query_e2e" "$LT_NS_ADDR" send "$ids" || lt_fail "sending failed"
timeout 60 "$LT_BIN/query_e2e" "$LT_NS_ADDR" check "$ids" || lt_fail "queries right after sending"
lt_stop_broker || lt_fail "broker did not stop"
lt_start_broker || lt_fail "broker did not restart"
timeout 60 "$LT_BIN/query_e2e" "$LT_NS_ADDR" check "$ids" || lt_fail "queries after a clean restart"
kill -9 "$LT_BROKER_PID"
wait "$LT_BROKER_PID" 2>/dev/null
lt_start_broker || lt_fail "broker did not restart after kill -9"
timeout 60 "$LT_BIN/query_e2e" "$LT_NS_ADDR" check "$ids" || lt_fail "queries after kill -9"
PYTHONPATH="$here" timeout 30 python3 - "$LT_BROKER_PORT" <<'PY' || lt_fail "raw QUERY_MESSAGE answers"
import sys
from rmq_frames import Conn, parse_records
c = Conn(int(sys.argv[1]))
q = {"topic": "QueryTopic", "key": "order-3", "maxNum": 32, "beginTimestamp": 0, "endTimestamp": 2**62}
r = c.call(12, q)
assert r[0]["code"] == 0, r[0]
ext = r[0]["extFields"]
assert int(ext["indexLastUpdateTimestamp"]) > 0 and int(ext["indexLastUpdatePhyoffset"]) > 0, ext
recs = parse_records(r[1])
assert [x["body"] for x in recs] == [b"body-3"], recs
q["key"] = "nothing-here"
r = c.call(12, q)
assert r[0]["code"] == 22 and "can not find message" in r[0]["remark"], r[0]
del q["maxNum"]
r = c.call(12, q)
assert r[0]["code"] == 1, r[0]   # a missing mandatory field
print("raw QUERY_MESSAGE: ok")
PY
# the recorded mqadmin request (topic TopicTest, key key0: nothing stored here either)
PYTHONPATH="$here" timeout 30 python3 - "$LT_BROKER_PORT" "$2/java-mqadmin-4.9.5" <<'PY' || lt_fail "recorded mqadmin QUERY_MESSAGE"
import json, struct, sys
from rmq_frames import Conn
c = Conn(int(sys.argv[1]))
req = open(sys.argv[2] + "/real-015-broker-req-QUERY_MESSAGE.bin", "rb").read()
want = open(sys.argv[2] + "/real-015-broker-resp-QUERY_MESSAGE.bin", "rb").read()
hl = struct.unpack(">I", want[4:8])[0] & 0xFFFFFF
w = json.loads(want[8:8 + hl])
c.send_raw(req)
h, body = c.recv_frame()
print("real:", w["code"], w.get("remark"), sorted(w["extFields"]), " loulan:", h["code"], h.get("remark"), sorted(h["extFields"]))
assert h["code"] == w["code"] and h["opaque"] == w["opaque"] and h.get("remark") == w.get("remark"), h
assert sorted(h["extFields"]) == sorted(w["extFields"]), h
PY
echo "query: 6 passed, 0 failed"
