"""A raw gRPC-over-h2c client for the tests that must do what no real client does (cancel a
stream mid-call, read every frame): HTTP/2 frames, HPACK literals without Huffman, the 5-byte
gRPC message prefix and just enough protobuf to build a ReceiveMessage request and read the
answers' top-level fields. Used by test_grpc_consumer_cancel.sh, test_grpc_consumer_dlq.sh and test_grpc_bad_input.sh."""
import socket
import struct
import sys
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

def frame(ftype, flags, sid, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) + payload

def lit(name, value):   # HPACK literal without indexing, new name, no Huffman
    n, v = name.encode(), value.encode()
    return b"\x00" + bytes([len(n)]) + n + bytes([len(v)]) + v

def headers(sid, method, timeout="30S", client="raw@1@0@x", end=False):
    """A request's HEADERS frame; timeout None sends no grpc-timeout, end also ends the stream."""
    fields_ = [(":method", "POST"), (":scheme", "http"),
               (":path", "/apache.rocketmq.v2.MessagingService/" + method), (":authority", "127.0.0.1"),
               ("content-type", "application/grpc"), ("te", "trailers")]
    if timeout is not None:
        fields_.append(("grpc-timeout", timeout))
    fields_.append(("x-mq-client-id", client))
    return frame(1, 0x4 | (0x1 if end else 0), sid, b"".join(lit(k, v) for k, v in fields_))

def ld(field, b):       # length-delimited protobuf field
    return bytes([field << 3 | 2, len(b)]) + b

def varint(v):
    out = b""
    while True:
        if v < 0x80:
            return out + bytes([v])
        out += bytes([v & 0x7f | 0x80]); v >>= 7

def receive_req(poll_s, group="GID_cancel", tag=None, topic="GrpcCancel"):
    res = lambda name: ld(2, name.encode())
    filt = ld(3, b"\x08\x01" + ld(2, tag.encode())) if tag else b""      # FilterExpression{TAG, tag}
    return (ld(1, res(group)) + ld(2, ld(1, res(topic))) + filt + bytes([4 << 3]) + varint(16) +
            ld(5, bytes([0x08]) + varint(10)) + ld(7, bytes([0x08]) + varint(poll_s)))

def call(s, sid, method, msg, timeout="30S"):
    s.sendall(headers(sid, method, timeout) + frame(0, 1, sid, b"\x00" + struct.pack(">I", len(msg)) + msg))

def connect(port):
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



def wait_parked(broker_port, group, topic, n, limit=20.0):
    """Until n receives of group on topic are parked in the broker's POP (POLLING_INFO over
    remoting), bounded: a receive sent before a message must be parked before that message."""
    from rmq_frames import Conn
    c, end = Conn(broker_port), time.time() + limit
    try:
        while True:
            r = c.call(200055, {"consumerGroup": group, "topic": topic, "queueId": -1})
            if r and r[0]["code"] == 0 and int(r[0]["extFields"]["pollingNum"]) >= n:
                return
            if time.time() > end:
                sys.exit("FAIL: %d receive(s) of %s not parked within %.0f s" % (n, group, limit))
            time.sleep(0.05)
    finally:
        c.close()
