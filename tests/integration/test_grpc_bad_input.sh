#!/usr/bin/env bash
# Bad input on the broker's gRPC port (raw sockets, python3): garbage instead of the HTTP/2
# preface is closed; a truncated gRPC message, an oversized one (length prefix over the limit)
# and an unknown method are each answered on their stream (HEADERS with END_STREAM, no DATA
# for the errors) while the connection goes on serving; after all of it the broker answers a
# well-formed Heartbeat on a new connection and its remoting port still works.
# Usage: bash test_grpc_bad_input.sh <bin-dir> [vectors-dir]   (ctest passes both)
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
GP=$(lt_free_port)
lt_start_single "enableGrpcServer=true" "grpcServerPort=$GP"
lt_wait_port "$GP" 30 || lt_fail "the gRPC port did not open"
"$A" updateTopic -n "$N" -c DefaultCluster -t GrpcBad >/dev/null || lt_fail "updateTopic"
PYTHONPATH="$here" timeout $((40 * ${LOULAN_SLOW:-1})) python3 - "$GP" <<'PY' || lt_fail "bad input checks failed"
import socket, struct, sys, time
port = int(sys.argv[1])
import grpc_raw
from grpc_raw import PREFACE, check, ended, frame, lit, read_frames  # noqa: F401


def headers(sid, method, end=False):
    return grpc_raw.headers(sid, method, timeout=None, client="bad@1@0@x", end=end)


def connect():
    return grpc_raw.connect(port)


# 1. garbage instead of the preface: the connection is closed
s = socket.create_connection(("127.0.0.1", port), timeout=10)
s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + b"\x00" * 64)
fs = read_frames(s, lambda fs: False, 10)
check(("closed",) in fs, "garbage instead of the HTTP/2 preface closes the connection")

# 2-4 on one connection: each stream is answered, none gets DATA
s = connect()
hb = bytes([0x10, 0x01])                                  # HeartbeatRequest{client_type PRODUCER}
s.sendall(headers(1, "Heartbeat") + frame(0, 1, 1, b"\x00\x00\x00\x00\x64" + hb))  # says 100 B, has 2
fs = read_frames(s, ended(1))
check(ended(1)(fs) and not any(f[0] == 0 and f[2] == 1 and f[3] for f in fs if f[0] != "closed"),
      "a truncated gRPC message is answered with an error (trailers only)")
s.sendall(headers(3, "SendMessage") + frame(0, 0, 3, b"\x00" + struct.pack(">I", 200 << 20) + b"x" * 1000))
fs = read_frames(s, ended(3))
check(ended(3)(fs), "a message over the size limit is answered with an error at once")
s.sendall(headers(5, "NoSuchMethod", end=True))
fs = read_frames(s, ended(5))
check(ended(5)(fs) and not any(f[0] == 0 and f[2] == 5 and f[3] for f in fs if f[0] != "closed"),
      "an unknown method is answered (UNIMPLEMENTED, trailers only)")
s.sendall(headers(7, "Heartbeat") + frame(0, 1, 7, b"\x00\x00\x00\x00\x02" + hb))
fs = read_frames(s, ended(7))
check(any(f[0] == 0 and f[2] == 7 and len(f[3]) > 5 for f in fs if f[0] != "closed") and ended(7)(fs),
      "the same connection then answers a Heartbeat with a message")
s.close()

# 5. a new connection is served
s = connect()
s.sendall(headers(1, "Heartbeat") + frame(0, 1, 1, b"\x00\x00\x00\x00\x02" + hb))
fs = read_frames(s, ended(1))
check(any(f[0] == 0 and f[2] == 1 and len(f[3]) > 5 for f in fs if f[0] != "closed"), "a new connection is served")
PY
kill -0 "$LT_BROKER_PID" || lt_fail "the broker died"
"$A" topicList -n "$N" | grep -q GrpcBad || lt_fail "the broker's remoting side stopped answering"
echo "gRPC bad input: passed"
