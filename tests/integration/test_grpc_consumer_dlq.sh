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
timeout $((50 * ${LOULAN_SLOW:-1})) python3 - "$GP" "$A" "$N" <<'PY' || lt_fail "dlq checks failed"
import socket, struct, subprocess, sys, time
port, admin, ns = int(sys.argv[1]), sys.argv[2], sys.argv[3]
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

def frame(ftype, flags, sid, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) + payload

def lit(name, value):   # HPACK literal without indexing, new name, no Huffman
    n, v = name.encode(), value.encode()
    return b"\x00" + bytes([len(n)]) + n + bytes([len(v)]) + v

def headers(sid, method, timeout="30S"):
    block = b"".join(lit(k, v) for k, v in [(":method", "POST"), (":scheme", "http"),
        (":path", "/apache.rocketmq.v2.MessagingService/" + method), (":authority", "127.0.0.1"),
        ("content-type", "application/grpc"), ("te", "trailers"), ("grpc-timeout", timeout),
        ("x-mq-client-id", "cancel@1@0@x")])
    return frame(1, 0x4, sid, block)

def ld(field, b):       # length-delimited protobuf field
    return bytes([field << 3 | 2, len(b)]) + b

def varint(v):
    out = b""
    while True:
        if v < 0x80:
            return out + bytes([v])
        out += bytes([v & 0x7f | 0x80]); v >>= 7

def receive_req(poll_s, group="GID_cancel", tag=None):
    res = lambda name: ld(2, name.encode())
    filt = ld(3, b"\x08\x01" + ld(2, tag.encode())) if tag else b""      # FilterExpression{TAG, tag}
    return (ld(1, res(group)) + ld(2, ld(1, res("GrpcCancel"))) + filt + bytes([4 << 3]) + varint(16) +
            ld(5, bytes([0x08]) + varint(10)) + ld(7, bytes([0x08]) + varint(poll_s)))

def call(s, sid, method, msg, timeout="30S"):
    s.sendall(headers(sid, method, timeout) + frame(0, 1, sid, b"\x00" + struct.pack(">I", len(msg)) + msg))

def connect():
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(PREFACE + frame(4, 0, 0, b""))
    return s

def read_frames(s, until, limit=10.0):
    buf, out, end = b"", [], time.time() + limit
    while not until(out) and time.time() < end:
        s.settimeout(max(0.05, end - time.time()))
        try:
            d = s.recv(65536)
        except socket.timeout:
            break
        if not d:
            out.append(("closed",))
            break
        buf += d
        while len(buf) >= 9:
            ln = int.from_bytes(buf[:3], "big")
            if len(buf) < 9 + ln:
                break
            out.append((buf[3], buf[4], int.from_bytes(buf[5:9], "big") & 0x7fffffff, buf[9:9 + ln]))
            if buf[3] == 4 and not buf[4] & 1:
                s.sendall(frame(4, 1, 0, b""))
            buf = buf[9 + ln:]
    return out

def ended(sid):
    return lambda fs: any(f[0] != "closed" and f[2] == sid and f[1] & 1 and f[0] in (0, 1) for f in fs)

def messages(fs, sid):
    data = b"".join(f[3] for f in fs if f[0] == 0 and f[2] == sid)
    out = []
    while len(data) >= 5:
        n = struct.unpack(">I", data[1:5])[0]
        out.append(data[5:5 + n]); data = data[5 + n:]
    return out

def read_varint(b, i):
    v = sh = 0
    while True:
        c = b[i]; i += 1
        v |= (c & 0x7f) << sh; sh += 7
        if not c & 0x80:
            return v, i

def fields(b):          # top-level protobuf fields: [(number, value bytes or int)]
    out, i = [], 0
    while i < len(b):
        key, i = read_varint(b, i)
        if key & 7 == 0:
            v, i = read_varint(b, i)
        elif key & 7 == 2:
            n, i = read_varint(b, i); v = b[i:i + n]; i += n
        else:
            raise ValueError("wire type %d" % (key & 7))
        out.append((key >> 3, v))
    return out

def check(cond, what):
    if not cond:
        sys.exit("FAIL: " + what)
    print("ok:", what)

def send_one(body, tag="T"):
    subprocess.run([admin, "sendMessage", "-n", ns, "-t", "GrpcCancel", "-c", tag, "-k", "dlqkey", "-p", body], check=True,
                   stdout=subprocess.DEVNULL, timeout=20)

s = connect()
call(s, 1, "ReceiveMessage", receive_req(5, "GID_dlq"))     # parked: the group starts here
time.sleep(0.5)
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
PY
kill -0 "$LT_BROKER_PID" || lt_fail "the broker died"
echo "gRPC consumer DLQ: passed"
