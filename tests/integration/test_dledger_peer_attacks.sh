#!/usr/bin/env bash
# Peer-port inputs that crashed a DLedger node on libraft 0.15 before guard.c checked every
# message (peerframe.c): each must only close its connection (waited for, bounded); the leader
# then is still up and answers a send.
#   bash tests/integration/test_dledger_peer_attacks.sh <bin-dir> [case...]
# Cases (each on a fresh three-node group):
#   bad-entry-type   a member's handshake, then an AppendEntries whose one entry has type 9:
#                    libraft 0.15 uvDecodeMessage frees the entries on RAFT_MALFORMED but still
#                    sums entries[i].buf.len over n_entries -> NULL dereference, SIGSEGV.
#   current-term-ae  a follower is killed; from its id and address, an empty AppendEntries of
#                    the leader's own term, sent to the leader: libraft's recvAppendEntries
#                    assumes a follower (asserts compiled out) -> the leader gets SIGSEGV.
#   unterminated-address  a handshake whose address bytes have no NUL (length 8, "AAAAAAAA"):
#                    guard.c on_accept logs (and member() compares) the address as a C string;
#                    ASan: heap-buffer-overflow in cm_log from guard.c:32; release: over-read.
set -u
here=$(cd "$(dirname "$0")" && pwd)
# ctest passes the vectors folder as a second argument: only a case name selects one case
case "${2:-}" in bad-entry-type | current-term-ae | unterminated-address) ;; *) set -- "$1" ;; esac
if [ $# -lt 2 ]; then
    rc=0
    for c in bad-entry-type current-term-ae unterminated-address; do bash "$0" "$1" "$c" || rc=1; done
    exit $rc
fi
source "$here/../lib.sh"
lt_setup "$1"
CASE=$2
lt_start_namesrv || lt_fail "name server did not start"
lt_start_dledger_group 3 || lt_fail "the group did not start"
has_leader() { [ -n "$(lt_dledger_leader_index)" ]; }
lt_wait_for 60 "the group elects a master" has_leader || lt_fail "no master"
L=$(lt_dledger_leader_index)
X=$(( (L + 1) % 3 ))
export DL_PEERS="${LT_DL_PEER[*]}" DL_PIDS="${LT_DL_PID[*]}"
PYTHONPATH="$here" timeout 120 python3 - "$CASE" "$L" "$X" <<'PY'
import os, struct, sys, time, socket
from raft_wire import StandIn, connect, handshake, append_entries, closed_within, APPEND_ENTRIES
case, L, X = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
peers = [int(p) for p in os.environ["DL_PEERS"].split()]
pids = os.environ["DL_PIDS"].split()
xa = "127.0.0.1:%d" % peers[X]
if case == "bad-entry-type":
    s = connect(peers[L], X + 1, xa)
    s.sendall(append_entries(1, 0, 0, 0, [(1, 9, b"x" * 8)]))
elif case == "current-term-ae":
    os.system("kill -9 %s" % pids[X])
    si = StandIn(peers[X])
    hb = si.wait_for(lambda s, m: m["type"] == APPEND_ENTRIES, 30)
    T = hb[1]["term"]
    s = connect(peers[L], X + 1, xa)
    s.sendall(append_entries(T, 0, 0, 0, []))
elif case == "unterminated-address":
    s = socket.create_connection(("127.0.0.1", peers[L]), timeout=10)
    s.sendall(struct.pack("<QQQ", 1, 99, 8) + b"AAAAAAAA")
# the node must close this connection (as a crash would too: what follows tells them apart)
sys.exit(0 if closed_within(s, 60) else "the leader kept the connection open")
PY
[ $? -eq 0 ] || lt_fail "$CASE: the connection was not closed"
# then the leader must still be up and answering: SUCCESS as the master, or 14 as a follower if
# a busy machine made the group elect again meanwhile (a crashed node answers nothing)
alive=1
kill -0 "${LT_DL_PID[L]}" 2>/dev/null || alive=0
grep -q -E "ERROR: AddressSanitizer" "$LT_DIR/dl$L.out" && alive=0
if [ $alive -eq 1 ]; then
    PYTHONPATH="$here" timeout 60 python3 - "${LT_DL_PORT[L]}" <<'PY' || alive=0
import sys, time
from rmq_frames import Conn, send_v2
deadline = time.time() + 30
while True:
    r = send_v2(Conn(int(sys.argv[1])), "AttackTopic", b"after")
    if r and r[0]["code"] in (0, 14):
        break
    assert time.time() < deadline, r and r[0]
    time.sleep(0.2)
PY
fi
if [ $alive -eq 1 ]; then echo "$CASE: leader n$L survived and answers sends"; exit 0; fi
echo "$CASE: leader n$L crashed:"; tail -8 "$LT_DIR/dl$L.out" | cut -c1-200
LT_KEEP=
exit 1
