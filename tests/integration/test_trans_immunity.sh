#!/usr/bin/env bash
# A producer's own first-check delay (property CHECK_IMMUNITY_TIME_IN_SECONDS, set by 4.x Java
# producers and by 5.x clients as orphaned_transaction_recovery_duration) is honoured: with
# transactionTimeOut=1000 a half message without it is checked back within seconds, one with
# 5 s is not asked about before 5 s after it was born, and then is (raw remoting frames: a
# producer connection registered by HEART_BEAT receives CHECK_TRANSACTION_STATE, code 39).
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
lt_start_single transactionTimeOut=1000 transactionCheckInterval=300
PYTHONPATH="$here" timeout $((60 * ${LOULAN_SLOW:-1})) python3 - "$LT_BROKER_PORT" <<'PY' || lt_fail "immunity checks failed"
import json, sys, time
from rmq_frames import Conn, send_v2
c = Conn(int(sys.argv[1]), timeout=30)
hb = {"clientID": "imm@1", "producerDataSet": [{"groupName": "PG_IMM"}], "consumerDataSet": []}
r = c.call(34, None, json.dumps(hb).encode())
assert r and r[0]["code"] == 0, "heartbeat"

def half(uniq, extra_props=""):
    props = "TRAN_MSG\x01true\x02PGROUP\x01PG_IMM\x02UNIQ_KEY\x01%s\x02%s" % (uniq, extra_props)
    r = send_v2(c, "TxImmune", uniq.encode(), extra={"a": "PG_IMM", "f": 4, "g": int(time.time() * 1000), "i": props})
    assert r and r[0]["code"] == 0, "half message %s: %r" % (uniq, r and r[0])

t0 = time.time()
half("IMM_PLAIN")
half("IMM_FIVE", "CHECK_IMMUNITY_TIME_IN_SECONDS\x015\x02")
first = {}
while time.time() - t0 < 30 and len(first) < 2:
    f = c.recv_frame()
    if f is None:
        break
    h = f[0]
    if h.get("code") == 39 and not h.get("flag", 0) & 1:
        key = h.get("extFields", {}).get("transactionId")
        first.setdefault(key, round(time.time() - t0, 2))
print("first check-back after (s):", first)
fails = []
if not first.get("IMM_PLAIN") or first["IMM_PLAIN"] > 4.5:
    fails.append("the plain half message was not checked within 4.5 s")
if "IMM_FIVE" not in first:
    fails.append("the immune half message was never checked")
elif first["IMM_FIVE"] < 4.9:
    fails.append("the immune half message was checked after %.2f s, before its 5 s" % first["IMM_FIVE"])
for f in fails:
    print("FAIL:", f)
sys.exit(1 if fails else 0)
PY
kill -0 "$LT_BROKER_PID" || lt_fail "the broker died"
echo "transaction immunity: passed"
