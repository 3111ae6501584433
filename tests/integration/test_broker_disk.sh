#!/usr/bin/env bash
# Disk trouble, end to end through the broker:
#  1. SYNC_FLUSH with a disk slower than syncFlushTimeout: the send is answered
#     FLUSH_DISK_TIMEOUT (10) with its msgId and queue offset, and the message is stored.
#  2. A full disk (a 40 MiB tmpfs this test mounts, or, where mounting is forbidden, a warning
#     ratio below the current usage): sends are refused with SERVICE_NOT_AVAILABLE (14) and a
#     [DISK_FULL] remark, reads keep working, nothing acknowledged is lost, and sends resume by
#     themselves once space returns.
#  3. A failing disk flush (an injected msync error while a flag file exists): waiting SYNC_FLUSH
#     sends are answered FLUSH_DISK_TIMEOUT at once, new sends are refused with 14 and a
#     [DISK_IO_ERROR] remark, reads go on, and sends resume once flushes succeed again.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
lt_start_namesrv || lt_fail "name server did not start"
pass=0

# ---- 1. FLUSH_DISK_TIMEOUT -------------------------------------------------------------------
# a flush that takes 6 s against a 0.3 s timeout: a busy machine cannot blur the two
export LOULAN_TEST_FLUSH_DELAY_MS=6000
lt_start_broker flushDiskType=SYNC_FLUSH syncFlushTimeout=300 || lt_fail "broker did not start"
unset LOULAN_TEST_FLUSH_DELAY_MS
PYTHONPATH="$here" timeout 30 python3 - "$LT_BROKER_PORT" <<'PY' || lt_fail "slow flush was not answered FLUSH_DISK_TIMEOUT"
import sys, time
from rmq_frames import Conn, send_v2, pull_all
c = Conn(int(sys.argv[1]))
t0 = time.time()
r = send_v2(c, "SlowDisk", b"slow-1")
dt = time.time() - t0
ext = r[0].get("extFields", {})
print("code", r[0]["code"], "after %.2fs" % dt, r[0].get("remark"))
assert r[0]["code"] == 10, r[0]
assert ext.get("msgId") and ext.get("queueOffset") == "0", ext
assert 0.25 <= dt < 5, dt   # at the timeout, not when the slow flush ends
recs = pull_all(c, "SlowDisk", 0)
assert [x["body"] for x in recs] == [b"slow-1"], recs
PY
pass=$((pass + 1))
lt_stop_broker

# ---- 2. full disk ------------------------------------------------------------------------------
mnt="$LT_DIR/disk"
mkdir -p "$mnt"
if mount -t tmpfs -o size=40m loulan-test "$mnt" 2>/dev/null; then
    mounted=1
    trap 'umount -l "$mnt" 2>/dev/null; lt_cleanup' EXIT
    head -c $((20 * 1024 * 1024)) /dev/zero >"$mnt/ballast"
    ratio=90
else
    mounted=0
    echo "mount not permitted here: simulating a full disk with a warning ratio under the usage"
    ratio=10
fi
store="$mnt/store"
common=("storePathRootDir=$store" "mapedFileSizeCommitLog=4194304" "mapedFileSizeConsumeQueue=20000"
        "cleanResourceInterval=200" "cleanFileForciblyEnable=false" "maxIndexNum=1000" "maxHashSlotNum=100")
lt_start_broker "${common[@]}" "diskSpaceWarningLevelRatio=$ratio" || lt_fail "broker did not start on the small disk"
PYTHONPATH="$here" timeout 120 python3 - "$LT_BROKER_PORT" "$LT_DIR/acked-disk.txt" <<'PY' || lt_fail "full disk: wrong refusal"
import sys
from rmq_frames import Conn, send_v2
c = Conn(int(sys.argv[1]))
body = b"d" * 1024
acked, refused = [], None
with open(sys.argv[2], "w") as f:
    for i in range(60000):
        r = send_v2(c, "DiskTopic", body + str(i).encode(), queue_id=i % 2)
        assert r is not None, "connection dropped"
        if r[0]["code"] != 0:
            refused = r[0]
            break
        f.write("%d %s %s\n" % (i, r[0]["extFields"]["queueId"], r[0]["extFields"]["queueOffset"]))
assert refused is not None, "the disk never filled up"
print("refused after", i, "sends:", refused["code"], refused.get("remark"))
assert refused["code"] == 14 and "DISK_FULL" in (refused.get("remark") or ""), refused
# still refused a moment later, still alive
r = send_v2(c, "DiskTopic", b"again")
assert r[0]["code"] == 14, r[0]
PY
pass=$((pass + 1))
kill -0 "$LT_BROKER_PID" || lt_fail "broker died on the full disk"

# reads keep working and every acknowledged message is there
verify() {
    PYTHONPATH="$here" timeout 60 python3 - "$LT_BROKER_PORT" "$LT_DIR/acked-disk.txt" "$1" <<'PY'
import sys
from rmq_frames import Conn, pull_all
c = Conn(int(sys.argv[1]))
want = {}
for line in open(sys.argv[2]):
    i, q, off = line.split()
    want[(int(q), int(off))] = b"d" * 1024 + i.encode()
got = {}
for q in (0, 1):
    for r in pull_all(c, "DiskTopic", q):
        assert r["crc_ok"], "bad record"
        got[(q, r["queueOffset"])] = r["body"]
lost = [k for k in want if got.get(k) != want[k]]
print(sys.argv[3], "acknowledged", len(want), "lost", len(lost))
sys.exit(1 if lost or not want else 0)
PY
}
verify "while full:" || lt_fail "acknowledged messages unreadable while the disk is full"
pass=$((pass + 1))

# space returns: sends resume by themselves
if [ "$mounted" = 1 ]; then
    rm -f "$mnt/ballast"
else
    lt_stop_broker
    lt_start_broker "${common[@]}" "diskSpaceWarningLevelRatio=99" || lt_fail "broker did not restart"
fi
PYTHONPATH="$here" timeout 90 python3 - "$LT_BROKER_PORT" <<'PY' || lt_fail "sends did not resume after space returned"
import sys, time
from rmq_frames import Conn, send_v2
c = Conn(int(sys.argv[1]))
deadline = time.time() + 60
while time.time() < deadline:
    r = send_v2(c, "DiskTopic", b"resumed", queue_id=0)
    if r[0]["code"] == 0:
        print("sends accepted again")
        sys.exit(0)
    time.sleep(0.2)
sys.exit(1)
PY
pass=$((pass + 1))
lt_stop_broker
lt_start_broker "${common[@]}" "diskSpaceWarningLevelRatio=99" || lt_fail "broker did not restart"
verify "after restart:" || lt_fail "acknowledged messages lost after the full-disk episode"
pass=$((pass + 1))
lt_stop_broker

# ---- 3. I/O errors on flush --------------------------------------------------------------------
flag="$LT_DIR/fail-flush"
export LOULAN_TEST_FAIL_FLUSH_FILE="$flag"
lt_start_broker flushDiskType=SYNC_FLUSH syncFlushTimeout=30000 || lt_fail "broker did not start"
unset LOULAN_TEST_FAIL_FLUSH_FILE
PYTHONPATH="$here" timeout 150 python3 - "$LT_BROKER_PORT" "$flag" <<'PY' || lt_fail "flush I/O errors were not handled as expected"
import os, sys, time
from rmq_frames import Conn, send_v2, pull_all
c = Conn(int(sys.argv[1]))
flag = sys.argv[2]
r = send_v2(c, "IoTopic", b"before", queue_id=0)
assert r[0]["code"] == 0, r[0]
open(flag, "w").close()
t0 = time.time()
r = send_v2(c, "IoTopic", b"during", queue_id=0)
dt = time.time() - t0
print("send while flushes fail:", r[0]["code"], "after %.2fs" % dt, r[0].get("remark"))
assert r[0]["code"] == 10 and "failed" in r[0].get("remark", ""), r[0]
assert dt < 15, "answered only at the timeout (30 s), not when the flush failed"
r = send_v2(c, "IoTopic", b"refused", queue_id=0)
print("next send:", r[0]["code"], r[0].get("remark"))
assert r[0]["code"] == 14 and "DISK_IO_ERROR" in r[0].get("remark", ""), r[0]
bodies = [x["body"] for x in pull_all(c, "IoTopic", 0)]
assert bodies[:1] == [b"before"] and b"refused" not in bodies, bodies
os.unlink(flag)
deadline = time.time() + 60
while time.time() < deadline:
    r = send_v2(c, "IoTopic", b"after", queue_id=0)
    if r[0]["code"] == 0:
        break
    time.sleep(0.1)
print("after the disk healed:", r[0]["code"])
assert r[0]["code"] == 0, r[0]
bodies = [x["body"] for x in pull_all(c, "IoTopic", 0)]
assert bodies == [b"before", b"during", b"after"], bodies
PY
pass=$((pass + 1))
kill -0 "$LT_BROKER_PID" || lt_fail "broker died on flush I/O errors"
lt_stop_broker
echo "disk: $pass passed, 0 failed"
