#!/usr/bin/env bash
# With aclEnable=true the gRPC endpoint refuses what it cannot check yet: QueryRoute and
# SendMessage are answered UNAUTHORIZED (40100) in their Status, nothing is stored, and the
# broker's own credentials never carry a gRPC client's message past access control.
# Usage: bash test_grpc_acl.sh <bin-dir> [vectors-dir]   (ctest passes both)
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
home="$LT_DIR/rmqhome"
mkdir -p "$home/conf"
printf 'accounts:\n  - accessKey: adminKey01\n    secretKey: adminSecret01\n    admin: true\n' >"$home/conf/plain_acl.yml"
printf 'accessKey: adminKey01\nsecretKey: adminSecret01\n' >"$home/conf/tools.yml"
export ROCKETMQ_HOME="$home"
GP=$(lt_free_port)
lt_start_single "aclEnable=true" "rocketmqHome=$home" "enableGrpcServer=true" "grpcServerPort=$GP" \
    'innerClientAuthenticationCredentials={"accessKey":"adminKey01","secretKey":"adminSecret01"}'
lt_wait_port "$GP" 30 || lt_fail "the gRPC port did not open"
"$A" updateTopic -n "$N" -c DefaultCluster -t GrpcAcl >/dev/null || lt_fail "updateTopic"
timeout $((30 * ${LOULAN_SLOW:-1})) python3 - "$GP" <<'PY' || lt_fail "ACL checks failed"
import socket, struct, sys, time
port = int(sys.argv[1])
def frame(t, fl, sid, p): return struct.pack(">I", len(p))[1:] + bytes([t, fl]) + struct.pack(">I", sid) + p
def lit(n, v): n, v = n.encode(), v.encode(); return b"\x00" + bytes([len(n)]) + n + bytes([len(v)]) + v
def headers(sid, m):
    return frame(1, 4, sid, b"".join(lit(k, v) for k, v in [(":method", "POST"), (":scheme", "http"),
        (":path", "/apache.rocketmq.v2.MessagingService/" + m), (":authority", "127.0.0.1"),
        ("content-type", "application/grpc"), ("te", "trailers"), ("x-mq-client-id", "acl@1@0@x")]))
def pb_str(field, b): return bytes([field << 3 | 2, len(b)]) + b
def call(s, sid, m, msg):
    s.sendall(headers(sid, m) + frame(0, 1, sid, b"\x00" + struct.pack(">I", len(msg)) + msg))
    buf, data, end = b"", b"", time.time() + 10
    while time.time() < end:
        d = s.recv(65536)
        if not d: break
        buf += d
        while len(buf) >= 9 and len(buf) >= 9 + int.from_bytes(buf[:3], "big"):
            ln = int.from_bytes(buf[:3], "big"); t, fl = buf[3], buf[4]; sd = int.from_bytes(buf[5:9], "big")
            if t == 4 and not fl & 1: s.sendall(frame(4, 1, 0, b""))
            if sd == sid and t == 0: data += buf[9:9 + ln]
            if sd == sid and t in (0, 1) and fl & 1: return data
            buf = buf[9 + ln:]
    sys.exit("FAIL: no answer to " + m)
s = socket.create_connection(("127.0.0.1", port), timeout=10)
s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0, b""))
UNAUTHORIZED = b"\x08\xa4\xb9\x02"      # Status.code = 40100 (varint)
topic = pb_str(2, b"GrpcAcl")           # Resource{name}
d = call(s, 1, "QueryRoute", pb_str(1, topic))
if UNAUTHORIZED not in d: sys.exit("FAIL: QueryRoute not refused: %r" % d)
print("ok: QueryRoute answered UNAUTHORIZED")
sp = pb_str(3, b"0102FC000000015C3F0B17BAB300000000")      # SystemProperties{message_id}
msg = pb_str(1, topic) + pb_str(3, sp) + pb_str(4, b"hello")  # Message{topic, system_properties, body}
d = call(s, 3, "SendMessage", pb_str(1, msg))
if UNAUTHORIZED not in d: sys.exit("FAIL: SendMessage not refused: %r" % d)
print("ok: SendMessage answered UNAUTHORIZED")
PY
n=$("$A" topicStatus -n "$N" -t GrpcAcl 2>/dev/null | awk 'NR > 1 { s += $4 } END { print s + 0 }')
[ "$n" = 0 ] || lt_fail "a refused gRPC send was stored ($n messages in GrpcAcl)"
echo "gRPC with ACL: passed"
