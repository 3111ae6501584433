#!/usr/bin/env bash
# Damaged consume queues through the broker (issue 12 item 9):
#  1. a unit overwritten while the broker runs costs a pull only that unit: the other 249
#     messages of the queue come back, none twice and none of another offset;
#  2. a broker whose consume queue lost a middle file and has a truncated first file starts
#     (it used to stop with "error -7"), says which file is wrong, and serves every stored
#     message of that queue again, rebuilt from the commit log.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
lt_start_namesrv || lt_fail "name server did not start"
# 100 units a consume-queue file: 250 messages make three files
lt_start_broker mapedFileSizeConsumeQueue=2000 || lt_fail "broker did not start"
cq="$LT_DIR/store/consumequeue/CqDamage/0"
pass=0

PYTHONPATH="$here" timeout 120 python3 - "$LT_BROKER_PORT" "$cq" <<'PY' || lt_fail "a bad unit cost more than itself"
import struct, sys
from rmq_frames import Conn, send_v2, pull_all
c = Conn(int(sys.argv[1]))
for i in range(250):
    r = send_v2(c, "CqDamage", b"m%05d" % i)
    assert r[0]["code"] == 0, r[0]
for i in range(5):   # a queue written after it: recovery's own re-dispatch cannot hide damage
    assert send_v2(c, "CqTail", b"t%d" % i)[0]["code"] == 0
# unit 60 now points at the record of unit 10 (a whole, valid record of another offset)
path = sys.argv[2] + "/%020d" % 0
with open(path, "r+b") as f:
    f.seek(10 * 20)
    u10 = f.read(20)
    f.seek(60 * 20)
    f.write(u10)
recs = pull_all(c, "CqDamage", 0)
offs = [r["queueOffset"] for r in recs]
print("pulled", len(recs), "records after damaging unit 60")
assert len(recs) == 249, len(recs)
assert offs == sorted(set(offs)) and 60 not in offs, offs
assert all(r["body"] == b"m%05d" % r["queueOffset"] for r in recs)
PY
pass=$((pass + 1))
lt_stop_broker || lt_fail "broker did not stop"

truncate -s 1000 "$cq/00000000000000000000"
rm -f "$cq/00000000000000002000"
lt_start_broker mapedFileSizeConsumeQueue=2000 || lt_fail "broker did not start on a damaged consume queue"
grep -q "consume queue CqDamage/0: .*00000000000000000000 is 1000 bytes.*rebuilding" "$LT_DIR"/broker.out \
    || grep -rq "consume queue CqDamage/0: .*00000000000000000000 is 1000 bytes.*rebuilding" "$LT_DIR/home" 2>/dev/null \
    || lt_fail "no log line naming the truncated file"
PYTHONPATH="$here" timeout 120 python3 - "$LT_BROKER_PORT" <<'PY' || lt_fail "rebuilt queue does not serve every message"
import sys
from rmq_frames import Conn, pull_all
c = Conn(int(sys.argv[1]))
recs = pull_all(c, "CqDamage", 0)
print("pulled", len(recs), "records after the rebuild")
assert [r["body"] for r in recs] == [b"m%05d" % i for i in range(250)], len(recs)
assert len(pull_all(c, "CqTail", 0)) == 5
PY
pass=$((pass + 1))
echo "consume-queue damage: $pass passed"
