#!/usr/bin/env bash
# Raft log compaction in a DLedger group (docs/dledger.md): with dLegerSnapshotEntries=32 the
# leader compacts its log every 32 entries, so a follower that was down for hundreds of entries,
# and a follower whose store was wiped, get a snapshot instead of the entries: they must fetch
# the missing commit-log bytes from the master and then apply what Raft commits meanwhile. In
# the end every node serves every acknowledged message at its offset, and a restarted node
# restores its own snapshot and serves the same.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
lt_start_namesrv || lt_fail "name server did not start"
lt_start_dledger_group 3 dLegerSnapshotEntries=32 || lt_fail "the group did not start"
has_leader() { [ -n "$(lt_dledger_leader_index)" ]; }
lt_wait_for 60 "the group elects a master" has_leader || exit 1

# send <count> <tag>: one acknowledged send at a time to the master (one Raft entry each),
# appending "queueId queueOffset body" lines to $LT_DIR/acked
send() {
    PYTHONPATH="$here" timeout 240 python3 - "$LT_NS_PORT" "$1" "$2" "$LT_DIR/acked" "${LT_DL_PORT[@]}" <<'PY'
import sys, time
from rmq_frames import Conn, send_v2
ns, count, tag, out, ports = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5:]
def master():
    r = Conn(ns).call(106)
    t = r[1].decode()
    for p in ports:
        if ('0:"127.0.0.1:%s"' % p) in t:  # fastjson writes the id unquoted
            return Conn(int(p))
    return None
c, done, deadline = None, 0, time.time() + 200
with open(out, "a") as f:
    while done < count:
        assert time.time() < deadline, "sends not acknowledged"
        try:
            c = c or master()
            if not c:
                time.sleep(0.1)
                continue
            body = ("%s-%d" % (tag, done)).encode()
            r = send_v2(c, "SnapTopic", body, queue_id=done % 2)
            if r and r[0]["code"] == 0:
                f.write("%s %s %s\n" % (done % 2, r[0]["extFields"]["queueOffset"], body.decode()))
                done += 1
            else:
                c = None
        except OSError:
            c = None
PY
}
# every acknowledged message at its offset on node i (bounded wait for it to catch up)
check() {
    PYTHONPATH="$here" timeout 120 python3 - "${LT_DL_PORT[$1]}" "$LT_DIR/acked" <<'PY'
import sys, time
from rmq_frames import Conn, pull_all
want = {}
for line in open(sys.argv[2]):
    q, off, body = line.split()
    want[(int(q), int(off))] = body.encode()
deadline = time.time() + 90
while True:
    got = {}
    try:
        c = Conn(int(sys.argv[1]))
        for q in (0, 1):
            for m in pull_all(c, "SnapTopic", q):
                got[(q, m["queueOffset"])] = m["body"]
    except (OSError, TypeError, KeyError):
        pass
    missing = [k for k, v in want.items() if got.get(k) != v]
    if not missing:
        break
    if time.time() > deadline:
        sys.exit("node on port %s lacks %d of %d acknowledged messages, e.g. %s" % (sys.argv[1], len(missing), len(want), missing[:3]))
    time.sleep(0.2)
print("port %s serves all %d acknowledged messages" % (sys.argv[1], len(want)))
PY
}
send 20 warm || lt_fail "first sends"
L=$(lt_dledger_leader_index)
F=$(( (L + 1) % 3 ))
kill -9 "${LT_DL_PID[F]}"
wait "${LT_DL_PID[F]}" 2>/dev/null
send 300 behind || lt_fail "sends while n$F is down"
lt_dledger_node "$F" || lt_fail "n$F did not restart"
check "$F" || lt_fail "n$F did not catch up from a snapshot"
grep -q "fetching the rest from the master" "$LT_DIR/dl$F.out" || lt_fail "n$F caught up without a snapshot: the test did not test it"

G=$(( (L + 2) % 3 ))
kill -9 "${LT_DL_PID[G]}"
wait "${LT_DL_PID[G]}" 2>/dev/null
rm -rf "$LT_DIR/dl$G"
send 100 wiped || lt_fail "sends while n$G is wiped"
lt_dledger_node "$G" || lt_fail "wiped n$G did not restart"
check "$G" || lt_fail "wiped n$G did not rebuild"
send 10 after || lt_fail "sends after the rebuild"
for i in 0 1 2; do check "$i" || lt_fail "n$i"; done

# a clean restart of a node restores its own snapshot
kill -TERM "${LT_DL_PID[F]}"
wait "${LT_DL_PID[F]}" 2>/dev/null
lt_dledger_node "$F" || lt_fail "n$F did not restart"
check "$F" || lt_fail "n$F after restoring its own snapshot"
echo "PASS test_dledger_snapshot"
