"""Replay the recorded requests of the real Java mqadmin 4.9.5 (tests/vectors/java-mqadmin-4.9.5)
in recorded order against mqnamesrv / mqbroker, and check each answer has the shape of the real
4.9.5 answer: the same response code, and for JSON bodies the same member names at each of the
first three nesting levels (fastjson's object-keyed maps included); for GET_BROKER_CONFIG,
.properties lines whose keys are all RocketMQ's and the dataVersion in extFields. QUERY_MESSAGE
(12) is compared only when the broker implements it (else reported as skipped).
Usage: replay_mqadmin.py ns_port broker_port vectors_dir"""
import glob
import json
import os
import socket
import struct
import sys


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
    """(serialization, code, opaque, flag, extFields) of a frame; mqadmin's are all JSON."""
    word = struct.unpack(">I", frame[4:8])[0]
    d = json.loads(frame[8:8 + (word & 0xFFFFFF)])
    return word >> 24, d.get("code"), d.get("opaque"), d.get("flag", 0), {k: str(v) for k, v in d.get("extFields", {}).items()}

ns_port, br_port, vec = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
passed = failed = skipped = 0


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL", name, detail)


def body(frame):
    return frame[8 + (struct.unpack(">I", frame[4:8])[0] & 0xFFFFFF):]


def keys_by_depth(text):
    """Member names per nesting depth of a JSON/fastjson text (object keys may be objects)."""
    out, depth, i, n = {}, 0, 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            k = j + 1
            while k < n and text[k] in " \t\r\n":
                k += 1
            if k < n and text[k] == ":":
                out.setdefault(depth, set()).add(text[i + 1:j])
            i = j + 1
            continue
        if c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
        i += 1
    return out


conns = {}


def conn(port):
    if port not in conns:
        conns[port] = socket.create_connection(("127.0.0.1", port), timeout=20)
    return conns[port]


recorded = sorted(glob.glob(vec + "/java-mqadmin-4.9.5/real-*-req-*.bin"))
# no recording found must fail, not pass with nothing replayed (tests/vectors travels with us)
check("mqadmin requests recorded in " + vec, len(recorded) >= 15)
for f in recorded:
    name = os.path.basename(f)[:-4]
    kind = f.rsplit("-req-", 1)[1][:-4]
    s = conn(ns_port if "-ns-req-" in f else br_port)
    req = open(f, "rb").read()
    _, _, ropaque, rflag, _ = header(req)
    s.sendall(req)
    while True:
        got = read_frame(s)
        if got is None or header(got)[3] & 1:
            break
    if got is None:
        check(name, False, "no answer")
        continue
    want = open(f.replace("-req-", "-resp-"), "rb").read()
    _, code, opaque, _, ext = header(got)
    _, wcode, _, _, wext = header(want)
    if kind == "QUERY_MESSAGE" and code == 3:
        skipped += 1
        print("SKIP", name, "(broker has no QUERY_MESSAGE yet)")
        continue
    check(name + " opaque", opaque == ropaque, (opaque, ropaque))
    check(name + " code", code == wcode, (code, wcode, ext.get("remark")))
    gb, wb = body(got).decode(errors="replace"), body(want).decode(errors="replace")
    if kind == "GET_BROKER_CONFIG":
        # plus RocketMQ 5's metrics keys, which Loulan uses for its Prometheus endpoint
        wkeys = {l.split("=", 1)[0] for l in wb.splitlines() if "=" in l} | {
            "metricsExporterType", "metricsPromExporterPort", "metricsPromExporterHost"}
        gkeys = {l.split("=", 1)[0] for l in gb.splitlines() if "=" in l}
        # besides 4.9.5's keys, RocketMQ 5.x's store keys Loulan also takes (timer wheel, disk
        # ratios), the lock expiry that 4.x reads from a system property, DLedger's enableBatchPush,
        # and Loulan's keys of its own (maxConnections, the connection limit RocketMQ does not
        # have; the DLedger group's election timeout, compaction and peer bind address; whether
        # the ACL admin requests need an admin account)
        extra = {"timerWheelEnable", "timerMaxDelaySec", "diskSpaceWarningLevelRatio",
                 "diskSpaceCleanForciblyRatio", "rebalanceLockMaxLiveTime", "metricsExporterType",
                 "metricsPromExporterPort", "maxConnections", "enableBatchPush", "dLegerElectionTimeoutMs",
                 "dLegerSnapshotEntries", "dLegerBindAddress", "aclAdminRequired"}
        # the gRPC endpoint's (docs/grpc.md): grpcServerPort is RocketMQ 5's proxy key, the switch Loulan's
        extra |= {"enableGrpcServer", "grpcServerPort"}
        # POP's (docs/pop.md): RocketMQ 5's popPollingSize, maxPopPollingSize, reviveInterval;
        # popJournalSnapshotMessages is Loulan's
        extra |= {"popPollingSize", "maxPopPollingSize", "reviveInterval", "popJournalSnapshotMessages"}
        # the slow loop iteration log's threshold (docs/benchmarks.md, issue 17) is Loulan's
        extra |= {"slowLoopThresholdMs"}
        check(name + " keys are RocketMQ's", gkeys and gkeys <= wkeys | extra, sorted(gkeys - wkeys - extra))
        check(name + " version ext", "version" in ext and '"counter"' in ext["version"], ext)
    elif wb.startswith("{"):
        wk, gk = keys_by_depth(wb), keys_by_depth(gb)
        for d in (1, 2, 3):
            if kind == "GET_BROKER_RUNTIME_INFO" and d == 2:
                # the table: Loulan gives the figures it has; each must be one of RocketMQ's, or
                # one of Loulan's latency breakdown (loop iterations, store phases: issue 17)
                mine = {"loopIterationUs", "loopIterationMaxMs", "loopSlowIterations", "storeAppendUs",
                        "storeConsumeQueueUs", "storeIndexUs", "storeFlushCommitLogUs", "storeFlushConsumeQueueUs",
                        "storeFlushIndexUs", "storeConsumeQueueFiles"}
                want = wk.get(2, set()) | mine
                check(name + " table keys", gk.get(2) and gk[2] <= want, sorted(gk.get(2, set()) - want))
                continue
            check("%s keys at depth %d" % (name, d), gk.get(d, set()) == wk.get(d, set()),
                  (sorted(gk.get(d, set()) - wk.get(d, set())), sorted(wk.get(d, set()) - gk.get(d, set()))))
    else:
        check(name + " empty body", len(gb) == len(wb) == 0, gb[:80])
print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
sys.exit(1 if failed else 0)
