"""Replay the recorded broker requests of real clients (Java 4.9.5 with JSON and with the
ROCKETMQ binary header, ali-ons 3.12, the C++ client) against mqbroker, session by session in
recorded order over one connection each, and check every answer against the real 4.9.5
broker's: same serialization and opaque, the same response code where the code does not depend
on what the recording's store held (sends, heartbeats, offsets, consumer lists, unregister), and
a valid pull outcome (found / not found / retry / moved) for pulls. Send answers must carry the
fields clients read (msgId, queueId, queueOffset, MSG_REGION, TRACE_ON)."""
import glob
import json
import os
import socket
import struct
import sys

port, vec = int(sys.argv[1]), sys.argv[2]
passed = failed = 0


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL", name, detail)


def read_frame(s):
    def rd(n):
        b = b""
        while len(b) < n:
            c = s.recv(n - len(b))
            if not c:
                return None
            b += c
        return b
    h = rd(4)
    return None if h is None else h + (rd(struct.unpack(">I", h)[0]) or b"")


def header(frame):
    word = struct.unpack(">I", frame[4:8])[0]
    ser, hl = word >> 24, word & 0xFFFFFF
    h = frame[8:8 + hl]
    if ser == 0:
        d = json.loads(h)
        return ser, d.get("code"), d.get("opaque"), d.get("flag", 0), {k: str(v) for k, v in d.get("extFields", {}).items()}
    code, lang, ver, opaque, flag, rl = struct.unpack(">hbhiii", h[:17])
    ext, p = {}, 17 + rl
    xl = struct.unpack(">i", h[p:p + 4])[0]
    p += 4
    end = p + xl
    while p < end:
        kl = struct.unpack(">H", h[p:p + 2])[0]
        k = h[p + 2:p + 2 + kl].decode()
        p += 2 + kl
        vl = struct.unpack(">i", h[p:p + 4])[0]
        ext[k] = h[p + 4:p + 4 + vl].decode()
        p += 4 + vl
    return ser, code, opaque, flag, ext


STATE_FREE = {"SEND_MESSAGE_V2", "HEART_BEAT", "UNREGISTER_CLIENT", "GET_CONSUMER_LIST_BY_GROUP",
              "UPDATE_CONSUMER_OFFSET", "QUERY_CONSUMER_OFFSET"}
SESSIONS = ["java-client-4.9.5/real-producer", "java-client-4.9.5/real-consumer",
            "java-client-4.9.5-rocketmq-serializer/real-producer", "ali-ons-3.12.0/real-producer",
            "ali-ons-3.12.0/real-consumer", "cpp-client-2.2.x-master/real-producer", "cpp-client-2.2.x-master/real-consumer"]
for session in SESSIONS:
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    recorded = sorted(glob.glob("%s/%s-*-broker-req-*.bin" % (vec, session)))
    # no recording found must fail, not pass with nothing replayed (tests/vectors travels with us)
    check(session + " has recorded requests in " + vec, recorded)
    for f in recorded:
        name = os.path.relpath(f, vec)
        kind = f.rsplit("-req-", 1)[1][:-4]
        req = open(f, "rb").read()
        rser, rcode, ropaque, rflag, rext = header(req)
        s.sendall(req)
        if rflag & 2:
            continue  # oneway: nothing comes back
        # Skip requests the broker sends us (NOTIFY_CONSUMER_IDS_CHANGED) while waiting.
        while True:
            got = read_frame(s)
            if got is None or header(got)[3] & 1:
                break
        want_f = f.replace("-req-", "-resp-")
        if got is None:
            check(name, False, "no answer")
            continue
        ser, code, opaque, flag, ext = header(got)
        check(name + " serialization", ser == rser, (ser, rser))
        check(name + " opaque", opaque == ropaque, (opaque, ropaque))
        if os.path.exists(want_f):
            wser, wcode, _, _, wext = header(open(want_f, "rb").read())
            if kind in STATE_FREE:
                check(name + " code", code == wcode, (code, wcode, ext))
            if kind == "SEND_MESSAGE_V2":
                missing = [k for k in ("msgId", "queueId", "queueOffset", "MSG_REGION", "TRACE_ON") if k not in ext]
                check(name + " send answer fields", not missing and ext.get("queueId") == rext.get("e", ext.get("queueId")), (missing, ext))
        if kind == "PULL_MESSAGE":
            check(name + " pull outcome", code in (0, 19, 20, 21) and "nextBeginOffset" in ext, (code, ext))
    s.close()
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
