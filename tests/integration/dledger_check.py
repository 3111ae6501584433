"""Helper of test_dledger_failover.sh: one failover round against a 3-node DLedger group, and the
final check that every node holds every acknowledged message, and the same commit log.

  dledger_check.py master NS_PORT PORTS                 print the index of the listed master
  dledger_check.py listed NS_PORT PORTS I ID            exit 0 if node I is listed as brokerId ID
  dledger_check.py round NS_PORT PORTS PIDS ROUND BURST INFLIGHT OUT
        send BURST messages to the master (each answered SUCCESS, retried with a new body after
        finding the master again otherwise), pipeline INFLIGHT more and kill -9 the master at
        once, wait until the name server lists another master; append the round to OUT (JSON
        lines) and print "killed <index> <seconds from kill to new master listed>"
  dledger_check.py check PORTS STOREDIRS OUT            the final check (after the last round)

PORTS, PIDS and STOREDIRS are comma-separated, node 0 first. Every wait is bounded by the clock;
LOULAN_SLOW=1 (sanitizer builds) stretches the bounds."""
import json
import os
import random
import re
import signal
import statistics
import struct
import sys
import time
import zlib

from rmq_frames import Conn, frame, pull_all, send_v2

SLOW = 4.0 if os.environ.get("LOULAN_SLOW") else 1.0
TOPIC = "DlFailoverTopic"
QUEUES = 4
GROUP = "RaftNode00"


def addr_of(port):
    return "127.0.0.1:%d" % port


def group_addrs(ns_port):
    """{brokerId: address} of the group as the name server lists it, or None if it did not answer."""
    try:
        c = Conn(ns_port, timeout=5)
        try:
            r = c.call(106)
        finally:
            c.close()
    except OSError:
        return None
    if not r or r[0]["code"] != 0:
        return None
    text = r[1].decode(errors="replace")
    at = text.find('"%s"' % GROUP, max(text.find('"brokerAddrTable"'), 0))
    if at < 0:
        return {}
    start = text.find('"brokerAddrs":{', at)
    if start < 0:
        return {}
    inner = text[start + len('"brokerAddrs":{'):text.find("}", start)]
    return {int(k): v for k, v in re.findall(r'"?(\d+)"?\s*:\s*"([^"]*)"', inner)}


def find_master(ns_port, ports, deadline, exclude=None):
    """Index of the node the name server lists as brokerId 0 (other than `exclude`, an address)."""
    while True:
        a = group_addrs(ns_port) or {}
        m = a.get(0)
        if m and m != exclude and m in [addr_of(p) for p in ports]:
            return [addr_of(p) for p in ports].index(m)
        if time.time() > deadline:
            raise SystemExit("no master (other than %s) listed by the name server in time; listed: %r" % (exclude, a))
        time.sleep(0.01)


def decode_msg_id(mid):
    """(host:port, commit-log offset) of an offset msgId (16 bytes in hex: IPv4, port, offset)."""
    raw = bytes.fromhex(mid)
    if len(raw) != 16:
        raise ValueError("msgId %r is not 16 bytes" % mid)
    ip = ".".join(str(x) for x in raw[:4])
    port, off = struct.unpack(">iq", raw[4:])
    return "%s:%d" % (ip, port), off


def body_of(rnd, i, attempt, phase):
    # distinct, of varying length, so records do not all sit at the same distance
    tag = b"r%d-%s%d-t%d-" % (rnd, phase, i, attempt)
    return tag + bytes([97 + (rnd + i) % 26]) * ((rnd * 13 + i * 5 + attempt) % 180)


def do_round(ns_port, ports, pids, rnd, burst, inflight, out):
    deadline = time.time() + 60 * SLOW
    acks, uncertain = [], []
    conn, cur, i, attempt = None, None, 0, 0
    while i < burst:
        if conn is None:
            cur = find_master(ns_port, ports, deadline)
            try:
                conn = Conn(ports[cur], timeout=10 * SLOW)
            except OSError:
                conn = None
                if time.time() > deadline:
                    raise SystemExit("round %d: cannot connect to the listed master %d" % (rnd, cur))
                time.sleep(0.05)
                continue
        q = i % QUEUES
        body = body_of(rnd, i, attempt, b"m")
        try:
            r = send_v2(conn, TOPIC, body, queue_id=q)
        except OSError:
            r = None
        if r and r[0]["code"] == 0:
            ext = r[0].get("extFields", {})
            acks.append({"body": body.decode(), "queueId": int(ext["queueId"]), "queueOffset": int(ext["queueOffset"]),
                         "msgId": ext["msgId"], "by": cur, "asked": q})
            i, attempt = i + 1, 0
            continue
        code = r[0]["code"] if r else None
        remark = r[0].get("remark") if r else "no answer (connection closed or timed out)"
        uncertain.append({"body": body.decode(), "queueId": q, "code": code, "remark": remark, "by": cur})
        print("round %d: send to node %d answered %s (%s): finding the master again" % (rnd, cur, code, remark))
        conn.close()
        conn, attempt = None, attempt + 1
        if time.time() > deadline:
            raise SystemExit("round %d: no SUCCESS for message %d in time" % (rnd, i))

    # Sends in flight when the master dies: pipelined, then kill -9 at once. Those answered SUCCESS
    # before it died are acknowledged like any other; the rest may or may not be stored.
    sent = {}
    for k in range(inflight):
        conn.opaque += 1
        body = body_of(rnd, k, 0, b"f")
        q = k % QUEUES
        ext = {"a": "PG", "b": TOPIC, "c": "TBW102", "d": QUEUES, "e": q, "f": 0, "g": 1700000000000, "h": 0,
               "i": "TAGS\x01TagA\x02WAIT\x01true\x02", "j": 0, "k": "false", "m": "false"}
        sent[conn.opaque] = (body, q)
        conn.send_raw(frame(310, ext, body, opaque=conn.opaque))
    old = addr_of(ports[cur])
    # the kill lands anywhere from before the first of them is read to after some are answered
    # (a chosen moment of the crash, not a wait for anything)
    time.sleep(random.Random(rnd).choice([0, 0, 0.001, 0.003, 0.01]))
    t_kill = time.time()
    os.kill(pids[cur], signal.SIGKILL)
    while sent:
        r = conn.recv_frame()
        if r is None:
            break
        if not r[0].get("flag", 0) & 1 or r[0].get("opaque") not in sent:
            continue
        body, q = sent.pop(r[0]["opaque"])
        if r[0]["code"] == 0:
            ext = r[0].get("extFields", {})
            acks.append({"body": body.decode(), "queueId": int(ext["queueId"]), "queueOffset": int(ext["queueOffset"]),
                         "msgId": ext["msgId"], "by": cur, "asked": q, "inflight": True})
        else:
            uncertain.append({"body": body.decode(), "queueId": q, "code": r[0]["code"], "remark": r[0].get("remark"),
                              "by": cur})
    for body, q in sent.values():
        uncertain.append({"body": body.decode(), "queueId": q, "code": None, "remark": "no answer: master killed",
                          "by": cur})
    conn.close()

    new = find_master(ns_port, ports, t_kill + 60 * SLOW, exclude=old)
    failover = time.time() - t_kill
    with open(out, "a") as f:
        f.write(json.dumps({"round": rnd, "killed": cur, "new": new, "failover": failover, "acks": acks,
                            "uncertain": uncertain}) + "\n")
    print("killed %d %.3f" % (cur, failover))


def max_offsets(port):
    try:
        c = Conn(port, timeout=5)
    except OSError:
        return None
    try:
        out = []
        for q in range(QUEUES):
            r = c.call(30, {"topic": TOPIC, "queueId": q})
            out.append(int(r[0]["extFields"]["offset"]) if r and r[0]["code"] == 0 else None)
        return out
    finally:
        c.close()


def commit_log_bytes(store, end):
    """The first `end` bytes of a node's commit log (its files in offset order)."""
    d = os.path.join(store, "commitlog")
    data = b""
    for name in sorted(os.listdir(d)):
        if len(data) >= end:
            break
        if int(name) != len(data):
            raise SystemExit("%s: file %s where offset %d was expected" % (d, name, len(data)))
        with open(os.path.join(d, name), "rb") as f:
            data += f.read(end - len(data))
    return data


def walk_records(log, end):
    """(offset, size, topic) of every record in log[0:end], which must be whole records."""
    out, p = [], 0
    while p < end:
        size, magic = struct.unpack(">iI", log[p:p + 8])
        if size < 92 or p + size > end or magic != 0xDAA320A7:
            raise SystemExit("commit log: no record at %d (size %d, magic %08x) before its end %d" % (p, size, magic, end))
        blen = struct.unpack(">i", log[p + 84:p + 88])[0]
        tlen = log[p + 88 + blen]
        out.append((p, size, log[p + 89 + blen:p + 89 + blen + tlen].decode(errors="replace")))
        p += size
    return out


def check(ports, stores, results):
    rounds = [json.loads(line) for line in open(results)]
    acks = [a for r in rounds for a in r["acks"]]
    uncertain = {u["body"]: u for r in rounds for u in r["uncertain"]}
    failures = []

    def fail(msg):
        failures.append(msg)
        print("FAIL:", msg)

    # every node caught up: the same GET_MAX_OFFSET for every queue, at least what was acknowledged
    want = [0] * QUEUES
    for a in acks:
        want[a["queueId"]] = max(want[a["queueId"]], a["queueOffset"] + 1)
    deadline = time.time() + 60 * SLOW
    while True:
        maxes = [max_offsets(p) for p in ports]
        if all(m is not None and None not in m for m in maxes) and all(m == maxes[0] for m in maxes) and \
                all(x >= w for x, w in zip(maxes[0], want)):
            break
        if time.time() > deadline:
            raise SystemExit("the nodes did not catch up within %ds: max offsets per node %r, acknowledged up to %r"
                             % (60 * SLOW, maxes, want))
        time.sleep(0.1)
    print("caught up: max offsets", maxes[0])

    per_node = []
    for n, port in enumerate(ports):
        c = Conn(port, timeout=10 * SLOW)
        recs = []
        for q in range(QUEUES):
            got = pull_all(c, TOPIC, q)
            if len(got) != maxes[n][q]:
                fail("node %d queue %d: pulled %d records, its max offset is %d" % (n, q, len(got), maxes[n][q]))
            for k, x in enumerate(got):
                if x["queueOffset"] != k or x["queueId"] != q:
                    fail("node %d queue %d: record %d has queue %d offset %d" % (n, q, k, x["queueId"], x["queueOffset"]))
                    break
            recs.extend(got)
        c.close()
        per_node.append(recs)

        bad_crc = [x["physicOffset"] for x in recs if not x["crc_ok"]]
        if bad_crc:
            fail("node %d: body CRC mismatch at commit-log offsets %r" % (n, bad_crc[:10]))
        at = {(x["queueId"], x["queueOffset"]): x for x in recs}
        count = {}
        for x in recs:
            count[x["body"]] = count.get(x["body"], 0) + 1
        dup = [b for b, k in count.items() if k > 1]
        if dup:
            fail("node %d: %d bodies stored more than once, e.g. %r" % (n, len(dup), dup[:3]))
        for a in acks:
            x = at.get((a["queueId"], a["queueOffset"]))
            host, off = decode_msg_id(a["msgId"])
            if x is None:
                fail("node %d: acknowledged %s (queue %d offset %d) is missing" % (n, a["body"][:24], a["queueId"],
                                                                                  a["queueOffset"]))
            elif x["body"] != a["body"].encode():
                fail("node %d: queue %d offset %d holds %r, %r was acknowledged there" % (
                    n, a["queueId"], a["queueOffset"], x["body"][:24], a["body"][:24]))
            elif off != x["physicOffset"] or host != addr_of(ports[a["by"]]):
                fail("node %d: msgId %s of %s says %s@%d, the record is at %d and node %d answered" % (
                    n, a["msgId"], a["body"][:24], host, off, x["physicOffset"], a["by"]))
            if a["queueId"] != a["asked"]:
                fail("%s was asked for queue %d and stored in %d" % (a["body"][:24], a["asked"], a["queueId"]))
        acked = {a["body"].encode() for a in acks}
        extra = [x for x in recs if x["body"] not in acked]
        strange = [x for x in extra if x["body"].decode(errors="replace") not in uncertain]
        if strange:
            fail("node %d: %d records nobody sent or acknowledged, e.g. %r" % (n, len(strange),
                                                                            [x["body"][:24] for x in strange[:3]]))
        if n == 0:
            for x in extra:
                u = uncertain.get(x["body"].decode(errors="replace"))
                if u:
                    print("stored without SUCCESS (allowed): %s queue %d offset %d (answer %s: %s)" % (
                        u["body"][:24], x["queueId"], x["queueOffset"], u["code"], u["remark"]))
            n_extra = len(extra)

    # every node holds the same records: offsets, body CRC, store time, properties, msgId
    def digest(recs):
        return sorted((x["physicOffset"], x["queueId"], x["queueOffset"], zlib.crc32(x["body"]), x["storeTimestamp"],
                       x["properties"]) for x in recs)
    d0 = digest(per_node[0])
    for n in range(1, len(ports)):
        dn = digest(per_node[n])
        if dn != d0:
            diff = sorted(set(d0) ^ set(dn))[:3]
            fail("node %d's records differ from node 0's (%d vs %d records), e.g. %r" % (n, len(dn), len(d0), diff))

    # ... and the same commit-log bytes up to the end of the last record; no record outside the queues
    if d0:
        top = max(x["physicOffset"] for x in per_node[0])
        log0 = commit_log_bytes(stores[0], top + 4)
        end = top + struct.unpack(">i", log0[top:top + 4])[0]
        logs = [commit_log_bytes(s, end) for s in stores]
        for n in range(len(ports)):
            if len(logs[n]) != end:
                fail("node %d's commit log holds %d bytes, %d expected" % (n, len(logs[n]), end))
            elif logs[n] != logs[0]:
                first = next(k for k in range(end) if logs[n][k] != logs[0][k])
                fail("node %d's commit log differs from node 0's at byte %d (of %d)" % (n, first, end))
        walked = walk_records(logs[0], end)
        ours = sorted(x["physicOffset"] for x in per_node[0])
        if [p for p, _, t in walked if t == TOPIC] != ours:
            fail("the commit log holds %d records of %s, the queues %d" % (
                len([1 for w in walked if w[2] == TOPIC]), TOPIC, len(ours)))
        other = sorted({t for _, _, t in walked if t != TOPIC})
        print("commit logs identical over %d bytes, %d records (other topics: %s)" % (end, len(walked), other or "none"))

    times = [r["failover"] for r in rounds]
    print("SUMMARY rounds=%d acknowledged=%d (in flight at the kill: %d) not acknowledged=%d (stored anyway: %d) "
          "failover median=%.2fs max=%.2fs" % (len(rounds), len(acks), sum(1 for a in acks if a.get("inflight")),
                                              len(uncertain), n_extra, statistics.median(times), max(times)))
    if failures:
        raise SystemExit("%d check(s) failed" % len(failures))


def main(argv):
    cmd = argv[1]
    if cmd == "master":
        ports = [int(p) for p in argv[3].split(",")]
        print(find_master(int(argv[2]), ports, time.time() + float(os.environ.get("WAIT", "0"))))
    elif cmd == "listed":
        ports = [int(p) for p in argv[3].split(",")]
        a = group_addrs(int(argv[2])) or {}
        sys.exit(0 if a.get(int(argv[5])) == addr_of(ports[int(argv[4])]) else 1)
    elif cmd == "round":
        do_round(int(argv[2]), [int(p) for p in argv[3].split(",")], [int(p) for p in argv[4].split(",")],
                 int(argv[5]), int(argv[6]), int(argv[7]), argv[8])
    elif cmd == "check":
        check([int(p) for p in argv[2].split(",")], argv[3].split(","), argv[4])
    else:
        raise SystemExit("unknown command " + cmd)


if __name__ == "__main__":
    main(sys.argv)
