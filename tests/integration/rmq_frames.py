"""Minimal RocketMQ remoting frames for tests that must speak raw bytes (bad input, exact
codes). JSON headers only, as the Java client writes them. Every socket read has a timeout."""
import json
import socket
import struct


def frame(code, ext=None, body=b"", opaque=1, flag=0, version=409, language="JAVA"):
    hdr = {"code": code, "flag": flag, "language": language, "opaque": opaque, "version": version}
    if ext:
        hdr["extFields"] = {k: str(v) for k, v in ext.items()}
    h = json.dumps(hdr).encode()
    return struct.pack(">II", 4 + len(h) + len(body), len(h)) + h + body


class Conn:
    def __init__(self, port, timeout=10):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.opaque = 0

    def send_raw(self, data):
        self.s.sendall(data)

    def recv_frame(self):
        """Return (header dict, body bytes), or None if the peer closed the connection."""
        head = self._read(4)
        if head is None:
            return None
        (n,) = struct.unpack(">I", head)
        data = self._read(n)
        if data is None:
            return None
        hl = struct.unpack(">I", data[:4])[0] & 0xFFFFFF
        return json.loads(data[4:4 + hl]), data[4 + hl:]

    def _read(self, n):
        buf = b""
        while len(buf) < n:
            try:
                chunk = self.s.recv(n - len(buf))
            except (ConnectionResetError, socket.timeout):
                return None
            if not chunk:
                return None
            buf += chunk
        return buf

    def call(self, code, ext=None, body=b""):
        self.opaque += 1
        self.send_raw(frame(code, ext, body, opaque=self.opaque))
        while True:
            r = self.recv_frame()
            if r is None:
                return None
            if r[0].get("flag", 0) & 1 and r[0].get("opaque") == self.opaque:
                return r

    def close(self):
        self.s.close()


def send_v2(conn, topic, body, tags="TagA", queue_id=0, extra=None):
    ext = {"a": "PG", "b": topic, "c": "TBW102", "d": 4, "e": queue_id, "f": 0,
           "g": 1700000000000, "h": 0, "i": "TAGS\x01%s\x02WAIT\x01true\x02" % tags, "j": 0,
           "k": "false", "m": "false"}
    if extra:
        ext.update(extra)
    return conn.call(310, ext, body)


def parse_records(body):
    """Split a pull/query body into records: dicts with queueOffset, physicOffset, body,
    properties (raw str) and crc_ok (the stored body CRC matches the body)."""
    import zlib
    out, p = [], 0
    while p + 4 <= len(body):
        size = struct.unpack(">I", body[p:p + 4])[0]
        rec = body[p:p + size]
        if size < 92 or len(rec) < size:
            break
        crc = struct.unpack(">I", rec[8:12])[0]
        qid = struct.unpack(">i", rec[12:16])[0]
        qoff, phy = struct.unpack(">qq", rec[20:36])
        store_ts = struct.unpack(">q", rec[56:64])[0]
        blen = struct.unpack(">I", rec[84:88])[0]
        b = rec[88:88 + blen]
        tlen = rec[88 + blen]
        topic = rec[89 + blen:89 + blen + tlen].decode()
        plen = struct.unpack(">H", rec[89 + blen + tlen:91 + blen + tlen])[0]
        props = rec[91 + blen + tlen:91 + blen + tlen + plen].decode(errors="replace")
        out.append({"queueId": qid, "queueOffset": qoff, "physicOffset": phy, "body": b, "topic": topic,
                    "storeTimestamp": store_ts,
                    "properties": props, "crc_ok": zlib.crc32(b) & 0x7FFFFFFF == crc & 0x7FFFFFFF})
        p += size
    return out


def pull_all(conn, topic, queue_id, group="CHECK", limit=1000000):
    """Every record of one queue from offset 0, with plain (non-suspending) pulls."""
    recs, off = [], 0
    while len(recs) < limit:
        r = conn.call(11, {"consumerGroup": group, "topic": topic, "queueId": queue_id, "queueOffset": off,
                           "maxMsgNums": 32, "sysFlag": 4, "commitOffset": 0, "suspendTimeoutMillis": 0,
                           "subscription": "*", "subVersion": 0})
        if r is None or r[0]["code"] != 0:
            break
        recs.extend(parse_records(r[1]))
        off = int(r[0]["extFields"]["nextBeginOffset"])
    return recs
