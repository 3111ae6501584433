#!/usr/bin/env bash
# gRPC ReceiveMessage and the group's max attempts (raw sockets, python3): with retryMaxTimes=1
# (max attempts 2) a message never acked is delivered as attempt 1, then 2 after its invisible
# duration, then moved to %DLQ%<group> instead of a third delivery (spec 3.6; POP does it when the
# message would become visible the third time); a message given to ForwardMessageToDeadLetterQueue
# goes there at once and is not delivered again.
# Usage: bash test_grpc_consumer_dlq.sh <bin-dir> [vectors-dir]   (ctest passes both)
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
GP=$(lt_free_port)
lt_start_single "enableGrpcServer=true" "grpcServerPort=$GP"
lt_wait_port "$GP" 30 || lt_fail "the gRPC port did not open"
"$A" updateTopic -n "$N" -c DefaultCluster -t GrpcCancel -r 1 -w 1 >/dev/null || lt_fail "updateTopic"
"$A" updateSubGroup -n "$N" -c DefaultCluster -g GID_dlq -r 1 >/dev/null || lt_fail "updateSubGroup"
PYTHONPATH="$here" timeout $((50 * ${LOULAN_SLOW:-1})) python3 - "$GP" "$A" "$N" "$LT_BROKER_PORT" <<'PY' || lt_fail "dlq checks failed"
import socket, struct, subprocess, sys, time
port, admin, ns = int(sys.argv[1]), sys.argv[2], sys.argv[3]
import grpc_raw
from grpc_raw import *  # noqa: F401,F403  (frame, headers, call, read_frames, messages, fields, ...)


def connect():
    return grpc_raw.connect(port)


def send_one(body, tag="T"):
    subprocess.run([admin, "sendMessage", "-n", ns, "-t", "GrpcCancel", "-c", tag, "-k", "dlqkey", "-p", body], check=True,
                   stdout=subprocess.DEVNULL, timeout=20)

s = connect()
call(s, 1, "ReceiveMessage", receive_req(5, "GID_dlq"))     # parked: the group starts here
wait_parked(int(sys.argv[4]), "GID_dlq", "GrpcCancel", 1)
send_one("to-dlq")
send_one("forwarded")
seen, sid, t0, fwd = [], 1, time.time(), None
while time.time() - t0 < 26:   # the third pop of to-dlq comes at about 20 s
    if sid > 1:
        call(s, sid, "ReceiveMessage", receive_req(5, "GID_dlq"))
    fs = read_frames(s, ended(sid), 12)
    sid += 2
    for m in messages(fs, sid - 2):
        f = dict(fields(m))
        if 2 in f:
            msg = dict(fields(f[2]))
            sp = dict(fields(msg[3]))
            seen.append((msg[4].decode(), sp.get(16), round(time.time() - t0, 1)))
            if msg[4] == b"forwarded" and fwd is None:
                # ForwardMessageToDeadLetterQueue{group, topic, receipt_handle, message_id, 1, 2}
                req = (ld(1, ld(2, b"GID_dlq")) + ld(2, ld(2, b"GrpcCancel")) + ld(3, sp[12]) + ld(4, sp[3]) +
                       bytes([5 << 3]) + varint(1) + bytes([6 << 3]) + varint(2))
                call(s, sid, "ForwardMessageToDeadLetterQueue", req)
                ffs = read_frames(s, ended(sid), 10)
                rs = messages(ffs, sid)
                fwd = dict(fields(dict(fields(rs[0]))[1])).get(1) if rs else None
                sid += 2
print("deliveries (body, attempt, s):", seen)
check(fwd == 20000, "ForwardMessageToDeadLetterQueue answers OK (%r)" % fwd)
check([a for b, a, _ in seen if b == "to-dlq"] == [1, 2], "to-dlq delivered as attempt 1 and 2, not a third time")
check([a for b, a, _ in seen if b == "forwarded"] == [1], "the forwarded message is not delivered again")
def dlq_count(out):   # topicStatus rows: broker, queue id, min offset, max offset, ...
    rows = [l.split() for l in out.splitlines() if l.startswith("broker-a")]
    return sum(int(r[3]) - int(r[2]) for r in rows if len(r) > 3 and r[2].isdigit() and r[3].isdigit())

deadline, out = time.time() + 10, ""
while time.time() < deadline:
    out = subprocess.run([admin, "topicStatus", "-n", ns, "-t", "%DLQ%GID_dlq"], capture_output=True, text=True,
                         timeout=20).stdout
    if dlq_count(out) >= 2:
        break
    time.sleep(0.3)
print(out)
check(dlq_count(out) == 2, "two messages in %DLQ%GID_dlq (forwarded, and past max attempts)")
# the dead letters keep their key: an operator finds them as RocketMQ's console does
def key_rows(out):   # "#Message ID #QID #Offset", then one row per message found
    return [l for l in out.splitlines() if l.strip() and not l.startswith("#")]

deadline, out = time.time() + 10, ""
while time.time() < deadline:
    out = subprocess.run([admin, "queryMsgByKey", "-n", ns, "-t", "%DLQ%GID_dlq", "-k", "dlqkey"], capture_output=True,
                         text=True, timeout=20).stdout
    if len(key_rows(out)) >= 2:
        break
    time.sleep(0.3)
print(out)
check(len(key_rows(out)) == 2, "queryMsgByKey finds both dead letters in %DLQ%GID_dlq by their key")
PY
kill -0 "$LT_BROKER_PID" || lt_fail "the broker died"
echo "gRPC consumer DLQ: passed"
