#!/usr/bin/env bash
# gRPC ReceiveMessage streams that end before the broker answers (raw sockets, python3): a
# parked receive cancelled by RST_STREAM and one whose connection closes are answered later by
# POP (at the poll deadline or when a message arrives) without harm; a message popped for a
# cancelled stream becomes visible again after 1 s (not after its invisible duration) and is
# received by a later receive (its delivery attempt counts those releases); an empty receive answers MESSAGE_NOT_FOUND
# then the delivery timestamp; a TAG filter delivers exact tags only ("BB" has the hash code of
# "Aa"); the broker goes on serving.
# Usage: bash test_grpc_consumer_cancel.sh <bin-dir> [vectors-dir]   (ctest passes both)
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
GP=$(lt_free_port)
lt_start_single "enableGrpcServer=true" "grpcServerPort=$GP"
lt_wait_port "$GP" 30 || lt_fail "the gRPC port did not open"
"$A" updateTopic -n "$N" -c DefaultCluster -t GrpcCancel -r 1 -w 1 >/dev/null || lt_fail "updateTopic"
PYTHONPATH="$here" timeout $((45 * ${LOULAN_SLOW:-1})) python3 - "$GP" "$A" "$N" "$LT_BROKER_PORT" <<'PY' || lt_fail "cancel checks failed"
import socket, struct, subprocess, sys, time
port, admin, ns = int(sys.argv[1]), sys.argv[2], sys.argv[3]
import grpc_raw
from grpc_raw import *  # noqa: F401,F403  (frame, headers, call, read_frames, messages, fields, ...)


def connect():
    return grpc_raw.connect(port)


def send_one(body, tag="T"):
    subprocess.run([admin, "sendMessage", "-n", ns, "-t", "GrpcCancel", "-c", tag, "-p", body], check=True,
                   stdout=subprocess.DEVNULL, timeout=20)

# 1. an empty receive: MESSAGE_NOT_FOUND, then the delivery timestamp, then gRPC status 0
s = connect()
t0 = time.time()
call(s, 1, "ReceiveMessage", receive_req(5))
fs = read_frames(s, ended(1), 15)
ms = messages(fs, 1)
check(ended(1)(fs) and len(ms) == 2, "an empty receive ends with two messages (%d)" % len(ms))
st = dict(fields(dict(fields(ms[0]))[1]))
check(st.get(1) == 40401, "its status is MESSAGE_NOT_FOUND (%r)" % st.get(1))
check(3 in dict(fields(ms[1])), "then the delivery timestamp")
check(time.time() - t0 >= 4.5, "after the long polling time (%.1f s)" % (time.time() - t0))

# 2. parked receives cancelled by RST_STREAM and by a closed connection
call(s, 3, "ReceiveMessage", receive_req(5))
s2 = connect()
call(s2, 1, "ReceiveMessage", receive_req(5))
wait_parked(int(sys.argv[4]), "GID_cancel", "GrpcCancel", 2)
s.sendall(frame(3, 0, 3, struct.pack(">I", 8)))      # RST_STREAM CANCEL
s2.close()
time.sleep(0.3)
# a message arrives: a parked receive of a cancelled stream may take it; it must come back soon
send_one("after-cancel")
t1 = time.time()
got = None
sid = 5
while time.time() - t1 < 8 and got is None:
    call(s, sid, "ReceiveMessage", receive_req(5))
    fs = read_frames(s, ended(sid), 12)
    for m in messages(fs, sid):
        f = dict(fields(m))
        if 2 in f:
            got = f[2]
    sid += 2
check(got is not None and b"after-cancel" in got, "the message is received after the cancels (%.1f s)" % (time.time() - t1))
check(time.time() - t1 < 8, "within 8 s, sooner than its 10 s invisible duration")
sp = dict(fields(dict(fields(got))[3]))
print("delivery attempt", sp.get(16))
# each of the two cancelled streams' parked receives may have taken it once (as Apache's proxy,
# whose pops go on after the client is gone), each release counting an attempt
check(sp.get(16) in (1, 2, 3), "delivery attempt 1 (to this stream), or 2-3 (released by the cancelled ones)")

# 3. tags are compared exactly: "BB" has the hash code of "Aa" (POP compares hash codes)
s4 = connect()
call(s4, 1, "ReceiveMessage", receive_req(5, "GID_tag", "Aa || Cc"))   # parked: the group starts here
wait_parked(int(sys.argv[4]), "GID_tag", "GrpcCancel", 1)
send_one("tag-BB", "BB")
send_one("tag-Aa", "Aa")
bodies, sid, t2 = [], 1, time.time()
while "tag-Aa" not in " ".join(bodies) and time.time() - t2 < 10:
    if sid > 1:
        call(s4, sid, "ReceiveMessage", receive_req(5, "GID_tag", "Aa || Cc"))
    fs = read_frames(s4, ended(sid), 12)
    for m in messages(fs, sid):
        f = dict(fields(m))
        if 2 in f:
            bodies.append(dict(fields(f[2]))[4].decode())
    sid += 2
check(bodies == ["tag-Aa"], "a TAG filter delivers the exact tag only (%r)" % bodies)

# 4. after every poll deadline has passed, a new connection is served
time.sleep(max(0, 6 - (time.time() - t1)))
s3 = connect()
call(s3, 1, "Heartbeat", bytes([0x10, 0x03]))
fs = read_frames(s3, ended(1))
check(any(f[0] == 0 and f[2] == 1 and len(f[3]) > 5 for f in fs if f[0] != "closed"), "the broker still answers")
PY
kill -0 "$LT_BROKER_PID" || lt_fail "the broker died"
echo "gRPC consumer cancel: passed"
