"""POP consumption over remoting (driver of test_pop.sh). Phase "one" runs before a kill -9 of
the broker, phase "two" after its restart; state.json carries what phase one saw.

one: messages are popped once each with handles; acked ones are gone (CHANGE_INVISIBLETIME on
     them answers NO_MESSAGE); unacked ones come back after their invisible time with
     reconsumeTimes 1; one postponed by CHANGE_INVISIBLETIME does not, and its new handle
     works while the old one is refused; a long-polling POP is answered when a message arrives.
two: after kill -9, acked messages never come back, unacked ones do; BATCH_ACK takes them;
     a message whose attempts run out lands in %DLQ%<group>."""
import base64
import json
import struct
import sys
import time

from rmq_frames import Conn, send_v2, pull_all

POP, ACK, CHANGE, BATCH_ACK = 200050, 200051, 200053, 200151
SLOW = float(__import__("os").environ.get("LOULAN_SLOW", "1"))
TOPIC, TOPIC_D = "PopT", "PopT2"
G, GL, GD = "PopG", "PopL", "PopD"


def fail(msg):
    sys.exit("FAIL: " + msg)


def records(body):
    out, p = [], 0
    while p + 4 <= len(body):
        size = struct.unpack(">I", body[p:p + 4])[0]
        rec = body[p:p + size]
        qid = struct.unpack(">i", rec[12:16])[0]
        qoff = struct.unpack(">q", rec[20:28])[0]
        reconsume = struct.unpack(">i", rec[72:76])[0]
        blen = struct.unpack(">I", rec[84:88])[0]
        out.append({"queueId": qid, "queueOffset": qoff, "reconsume": reconsume,
                    "body": rec[88:88 + blen].decode()})
        p += size
    return out


def pop(c, group, topic, n=32, invisible=3000, poll=0, init_mode=0, qid=-1, order=False, exp="*", attempt=None):
    ext = {"consumerGroup": group, "topic": topic, "queueId": qid, "maxMsgNums": n,
           "invisibleTime": invisible, "pollTime": poll, "bornTime": int(time.time() * 1000),
           "initMode": init_mode, "expType": "TAG", "exp": exp, "order": "true" if order else "false"}
    if attempt:
        ext["attemptId"] = attempt
    r = c.call(POP, ext)
    if r is None:
        fail("no answer to POP_MESSAGE")
    h, body = r
    if h["code"] != 0:
        return h["code"], []
    ext = h["extFields"]
    start = {}
    for part in ext["startOffsetInfo"].split(";"):
        f, q, so = part.split(" ")
        start[int(q)] = int(so)
    msgs = records(body)
    for m in msgs:
        m["ext"] = ext
    for m in msgs:  # the extraInfo a 5.x client builds (POP_CK)
        m["handle"] = "%d %s %s %s 0 broker-a %d %d" % (start[m["queueId"]], ext["popTime"], ext["invisibleTime"],
                                                        ext["reviveQid"], m["queueId"], m["queueOffset"])
    offs = ";".join(sorted(ext["msgOffsetInfo"].split(";")))
    want = {}
    for m in msgs:
        want.setdefault(m["queueId"], []).append(str(m["queueOffset"]))
    if offs != ";".join(sorted("0 %d %s" % (q, ",".join(o)) for q, o in want.items())):
        fail("msgOffsetInfo %r does not list the body's messages" % ext["msgOffsetInfo"])
    return 0, msgs


def ack(c, group, topic, m):
    r = c.call(ACK, {"consumerGroup": group, "topic": topic, "queueId": m["queueId"], "extraInfo": m["handle"],
                     "offset": m["queueOffset"]})
    return r[0]["code"] if r else None


def change(c, group, topic, m, invisible):
    r = c.call(CHANGE, {"consumerGroup": group, "topic": topic, "queueId": m["queueId"], "extraInfo": m["handle"],
                        "offset": m["queueOffset"], "invisibleTime": invisible})
    return r


def pop_until(c, group, topic, want, limit, invisible=3000, never=()):
    """Pop until every body in want was seen; returns {body: msg}. Fails on a body in never."""
    seen, deadline = {}, time.time() + limit * SLOW
    while not want <= set(seen) and time.time() < deadline:
        code, msgs = pop(c, group, topic, invisible=invisible, poll=1000)
        for m in msgs:
            if m["body"] in never:
                fail("%s delivered to %s (reconsume %d): acked, or before the group's start" % (m["body"], group,
                                                                                       m["reconsume"]))
            seen[m["body"]] = m
    if not want <= set(seen):
        fail("not within %ds: %s (saw %s)" % (limit, sorted(want - set(seen)), sorted(seen)))
    return seen


def phase_one(port, state):
    c = Conn(port, timeout=30)
    for t, q in ((TOPIC, 2), (TOPIC_D, 1)):
        r = c.call(17, {"topic": t, "readQueueNums": q, "writeQueueNums": q, "perm": 6})
        if not r or r[0]["code"] != 0:
            fail("create topic %s: %s" % (t, r and r[0]))
    r = c.call(200, {}, json.dumps({"groupName": GD, "retryMaxTimes": 1, "consumeEnable": True}).encode())
    if not r or r[0]["code"] != 0:
        fail("create group %s" % GD)
    for i in range(10):
        r = send_v2(c, TOPIC, ("m%d" % i).encode(), queue_id=i % 2)
        if not r or r[0]["code"] != 0:
            fail("send m%d: %s" % (i, r and r[0]))
    # every message popped exactly once, each with a handle
    got = {}
    for _ in range(10):
        code, msgs = pop(c, G, TOPIC, n=4)
        for m in msgs:
            if m["body"] in got:
                fail("%s popped twice while invisible" % m["body"])
            if m["reconsume"] != 0:
                fail("first delivery of %s has reconsumeTimes %d" % (m["body"], m["reconsume"]))
            got[m["body"]] = m
        if len(got) == 10:
            break
    if len(got) != 10:
        fail("popped %d of 10 messages" % len(got))
    code, msgs = pop(c, G, TOPIC)
    if code not in (19, 210) or msgs:
        fail("a POP with everything in flight answered %d with %d messages" % (code, len(msgs)))
    print("ok    10 messages popped once each, then no new message (code %d)" % code)
    t0 = time.time()
    for i in (0, 1, 2, 3):
        if ack(c, G, TOPIC, got["m%d" % i]) != 0:
            fail("ack m%d" % i)
    if ack(c, G, TOPIC, got["m0"]) != 0:
        fail("a second ack of m0 is not SUCCESS (acks are idempotent)")
    r = change(c, G, TOPIC, got["m0"], 1000)
    if r[0]["code"] != 208:
        fail("CHANGE_INVISIBLETIME of an acked message answered %d, not NO_MESSAGE" % r[0]["code"])
    r = change(c, G, TOPIC, got["m4"], 60000)
    if r[0]["code"] != 0:
        fail("CHANGE_INVISIBLETIME of m4: %s" % r[0])
    ext = r[0]["extFields"]
    m4 = dict(got["m4"])
    m4["handle"] = "%d %s %s %s 0 broker-a %d %d" % (m4["queueOffset"], ext["popTime"], ext["invisibleTime"],
                                                     ext["reviveQid"], m4["queueId"], m4["queueOffset"])
    print("ok    4 acked (a repeated ack is SUCCESS), m4 postponed to 60 s")
    # the five unacked come back after 3 s with reconsumeTimes 1; m4 does not, acked ones never
    seen = pop_until(c, G, TOPIC, {"m5", "m6", "m7", "m8", "m9"}, 20, invisible=3000,
                     never={"m0", "m1", "m2", "m3", "m4"})
    took = time.time() - t0
    for b, m in seen.items():
        if m["reconsume"] != 1:
            fail("%s redelivered with reconsumeTimes %d, not 1" % (b, m["reconsume"]))
    if took < 2.5:
        fail("redelivered after %.1f s, before the 3 s invisible time" % took)
    print("ok    m5..m9 redelivered after %.1f s with reconsumeTimes 1; m0..m4 not" % took)
    # the old handle of m4 is outdated, the new one works
    r = change(c, G, TOPIC, got["m4"], 1000)
    if r[0]["code"] != 208:
        fail("CHANGE_INVISIBLETIME with m4's outdated handle answered %d" % r[0]["code"])
    r = change(c, G, TOPIC, m4, 1500)
    if r[0]["code"] != 0:
        fail("CHANGE_INVISIBLETIME with m4's new handle: %s" % r[0])
    for b in ("m5", "m6"):
        if ack(c, G, TOPIC, seen[b]) != 0:
            fail("ack of redelivered %s" % b)
        if change(c, G, TOPIC, seen[b], 1000)[0]["code"] != 208:
            fail("%s still in flight after its ack" % b)
    # an ack with the first (outdated) handle of m7 leaves it in flight
    ack(c, G, TOPIC, got["m7"])
    if change(c, G, TOPIC, seen["m7"], 3000)[0]["code"] != 0:
        fail("an ack with m7's outdated handle took it out of flight")
    print("ok    outdated handles refused by CHANGE and without effect on ACK; new handles work")
    # long polling: a POP of a new group (initMode MAX) parks and is answered when a message comes
    c2 = Conn(port, timeout=30)
    c2.send_raw(__import__("rmq_frames").frame(POP, {"consumerGroup": GL, "topic": TOPIC, "queueId": -1,
                                                     "maxMsgNums": 8, "invisibleTime": 3000, "pollTime": 15000,
                                                     "bornTime": int(time.time() * 1000), "initMode": 1,
                                                     "expType": "TAG", "exp": "*"}, opaque=77))
    # wait until it is parked: a POP of the same group right now finds nothing either
    code, msgs = pop(c, GL, TOPIC, init_mode=1)
    if msgs:
        fail("group %s (initMode MAX) got old messages" % GL)
    t1 = time.time()
    r = send_v2(c, TOPIC, b"m10", queue_id=1)
    if not r or r[0]["code"] != 0:
        fail("send m10")
    resp = c2.recv_frame()
    if resp is None or resp[0]["code"] != 0:
        fail("the parked POP was not answered with a message: %s" % (resp and resp[0]))
    msgs = records(resp[1])
    waited = time.time() - t1
    if [m["body"] for m in msgs] != ["m10"] or waited > 5 * SLOW:
        fail("the parked POP answered %s after %.1f s" % ([m["body"] for m in msgs], waited))
    print("ok    a parked POP answered %.0f ms after the message arrived" % (waited * 1000))
    # a POP nobody feeds times out with POLLING_TIMEOUT near its pollTime
    t2 = time.time()
    code, msgs = pop(c2, "PopIdle", TOPIC_D, poll=1000, init_mode=1)
    if code != 210 or msgs or not 0.8 < time.time() - t2 < 5 * SLOW:
        fail("an idle long poll answered %d after %.1f s" % (code, time.time() - t2))
    print("ok    an idle long poll answered POLLING_TIMEOUT after %.1f s" % (time.time() - t2))
    json.dump({"acked": ["m0", "m1", "m2", "m3", "m5", "m6"], "unacked": ["m4", "m7", "m8", "m9"],
               "handles": {b: m for b, m in list(got.items()) + list(seen.items())}}, open(state, "w"))


def phase_two(port, state):
    st = json.load(open(state))
    c = Conn(port, timeout=30)
    for b in st["acked"]:  # not in flight any more, before anything could come back
        if change(c, G, TOPIC, st["handles"][b], 1000)[0]["code"] != 208:
            fail("%s is in flight again after the restart" % b)
    seen = pop_until(c, G, TOPIC, set(st["unacked"]), 25, invisible=1500, never=set(st["acked"]))
    for b in st["unacked"]:  # (m10, sent after them, is new to this group)
        m = seen[b]
        if m["reconsume"] < 1:
            fail("%s came back with reconsumeTimes %d" % (b, m["reconsume"]))
    print("ok    after kill -9: %s came back, %s did not" % (sorted(seen), st["acked"]))
    # group PopL began at the queues' end (initMode MAX) before the crash: still so after it, even
    # when asked with initMode MIN now
    gl = pop_until(c, GL, TOPIC, {"m10"}, 15, invisible=1500, never={"m%d" % i for i in range(10)})
    # BATCH_ACK takes all of them (bitmap relative to the lowest offset per queue)
    acks = []
    for group, msgs in ((G, list(seen.values())), (GL, list(gl.values()))):
        for q in {m["queueId"] for m in msgs}:
            inq = [m for m in msgs if m["queueId"] == q]
            so = min(m["queueOffset"] for m in inq)
            for pt in {m["handle"].split(" ")[1] for m in inq}:
                bits = 0
                for m in inq:
                    if m["handle"].split(" ")[1] == pt:
                        bits |= 1 << (m["queueOffset"] - so)
                raw = bits.to_bytes((bits.bit_length() + 7) // 8, "little")
                acks.append({"c": group, "t": TOPIC, "r": "0", "so": so, "q": q, "rq": 0, "pt": int(pt),
                             "it": 1500, "b": base64.b64encode(raw).decode()})
    r = c.call(BATCH_ACK, {}, json.dumps({"brokerName": "broker-a", "acks": acks}).encode())
    if not r or r[0]["code"] != 0:
        fail("BATCH_ACK: %s" % (r and r[0]))
    for group, msgs in ((G, seen), (GL, gl)):
        for b, m in msgs.items():
            if change(c, group, TOPIC, m, 1000)[0]["code"] != 208:
                fail("%s of %s still in flight after BATCH_ACK" % (b, group))
    print("ok    BATCH_ACK took %d messages out of flight (%s of %s, %s of %s)" % (len(seen) + len(gl), sorted(seen), G, sorted(gl), GL))
    # dead letters: group PopD allows 1 retry, so the third delivery never happens
    r = send_v2(c, TOPIC_D, b"dead", queue_id=0)
    if not r or r[0]["code"] != 0:
        fail("send to %s" % TOPIC_D)
    d = pop_until(c, GD, TOPIC_D, {"dead"}, 10, invisible=1000)
    if d["dead"]["reconsume"] != 0:
        fail("first delivery of 'dead' has reconsumeTimes %d" % d["dead"]["reconsume"])
    d = pop_until(c, GD, TOPIC_D, {"dead"}, 10, invisible=1000)
    if d["dead"]["reconsume"] != 1:
        fail("second delivery of 'dead' has reconsumeTimes %d" % d["dead"]["reconsume"])
    deadline, dlq = time.time() + 10 * SLOW, []
    while time.time() < deadline and not dlq:
        code, msgs = pop(c, GD, TOPIC_D, invisible=1000, poll=300)
        if msgs:
            fail("'dead' delivered a third time (reconsumeTimes %d)" % msgs[0]["reconsume"])
        dlq = pull_all(c, "%DLQ%" + GD, 0)
    if [x["body"] for x in dlq] != [b"dead"] or "DLQ_ORIGIN_TOPIC\x01" + TOPIC_D not in dlq[0]["properties"]:
        fail("%%DLQ%%%s holds %s" % (GD, dlq))
    print("ok    after retryMaxTimes=1 the message is in %%DLQ%%%s (DLQ_ORIGIN_TOPIC=%s)" % (GD, TOPIC_D))


def orderly(port):
    """Orderly POP: one batch of a queue in flight per group; the unacked part of it comes back
    first, lowest offset first, with its delivery count in orderCountInfo."""
    c = Conn(port, timeout=30)
    r = c.call(17, {"topic": "PopO", "readQueueNums": 1, "writeQueueNums": 1, "perm": 6})
    if not r or r[0]["code"] != 0:
        fail("create topic PopO")
    for i in range(4):
        if send_v2(c, "PopO", ("o%d" % i).encode(), queue_id=0)[0]["code"] != 0:
            fail("send o%d" % i)
    code, msgs = pop(c, "PopOG", "PopO", n=2, invisible=1500, order=True, attempt="A1")
    if [m["body"] for m in msgs] != ["o0", "o1"] or msgs[0]["ext"]["reviveQid"] != "999":
        fail("orderly POP gave %s (%s)" % ([m["body"] for m in msgs], msgs and msgs[0]["ext"]))
    first = {m["body"]: m for m in msgs}
    code, again = pop(c, "PopOG", "PopO", n=2, invisible=1500, order=True, attempt="A1")
    if [(m["body"], m["handle"]) for m in again] != [(m["body"], m["handle"]) for m in msgs]:
        fail("a repeated orderly POP (same attemptId) gave %s, not the same batch" % [m["body"] for m in again])
    code, other = pop(c, "PopOG", "PopO", n=2, order=True, attempt="A2")
    if other:
        fail("an orderly POP with another attemptId got %s" % [m["body"] for m in other])
    code, msgs = pop(c, "PopOG", "PopO", n=2, order=True)
    if msgs:
        fail("orderly POP handed out %s while o0, o1 are in flight" % [m["body"] for m in msgs])
    if ack(c, "PopOG", "PopO", first["o0"]) != 0:
        fail("ack o0")
    code, msgs = pop(c, "PopOG", "PopO", n=2, order=True)
    if msgs:
        fail("orderly POP handed out %s while o1 is in flight" % [m["body"] for m in msgs])
    code, other = pop(c, "PopOther", "PopO", n=8)  # a group that is not orderly is not blocked
    if len(other) != 4:
        fail("a non-orderly group got %d of 4" % len(other))
    deadline, msgs = time.time() + 10 * SLOW, []
    while not msgs and time.time() < deadline:
        code, msgs = pop(c, "PopOG", "PopO", n=2, invisible=1500, poll=500, order=True)
    got = [(m["body"], m["reconsume"]) for m in msgs]
    if got != [("o1", 1), ("o2", 0)]:
        fail("after o1's invisible time the orderly POP gave %s, not o1 (again) then o2" % got)
    oc = msgs[0]["ext"].get("orderCountInfo", "")
    if "0 qo0%%%d 1" % msgs[0]["queueOffset"] not in oc.split(";"):
        fail("orderCountInfo %r does not count o1's second delivery" % oc)
    for m in msgs:
        if ack(c, "PopOG", "PopO", m) != 0:
            fail("ack %s" % m["body"])
    code, msgs = pop(c, "PopOG", "PopO", n=2, order=True)
    if [m["body"] for m in msgs] != ["o3"]:
        fail("after the acks the orderly POP gave %s, not o3" % [m["body"] for m in msgs])
    print("ok    orderly POP: a queue is blocked while its batch is in flight (its attemptId gets it again);"
          " o1 came back before o2")


def extras(port):
    """PEEK_MESSAGE, NOTIFICATION, POLLING_INFO, and POLLING_FULL at popPollingSize (2 here)."""
    from rmq_frames import frame
    c = Conn(port, timeout=30)
    for t in ("PopX", "PopY"):
        r = c.call(17, {"topic": t, "readQueueNums": 1, "writeQueueNums": 1, "perm": 6})
        if not r or r[0]["code"] != 0:
            fail("create topic " + t)
    note = {"consumerGroup": "PopXG", "topic": "PopX", "queueId": -1, "pollTime": 0,
            "bornTime": int(time.time() * 1000), "order": "false"}
    r = c.call(200054, note)
    if r[0]["code"] != 0 or r[0]["extFields"].get("hasMsg") != "false":
        fail("NOTIFICATION on an empty topic: %s" % r[0])
    c2 = Conn(port, timeout=30)
    c2.send_raw(frame(200054, dict(note, pollTime=10000), opaque=5))

    def polling(group, topic):
        r = c.call(200055, {"consumerGroup": group, "topic": topic, "queueId": -1})
        return int(r[0]["extFields"]["pollingNum"]) if r and r[0]["code"] == 0 else -1
    deadline = time.time() + 10 * SLOW
    while polling("PopXG", "PopX") != 1 and time.time() < deadline:
        time.sleep(0.05)
    if polling("PopXG", "PopX") != 1:
        fail("POLLING_INFO does not show the parked NOTIFICATION")
    if send_v2(c, "PopX", b"x0", queue_id=0)[0]["code"] != 0:
        fail("send x0")
    r = c2.recv_frame()
    if not r or r[0]["code"] != 0 or r[0]["extFields"].get("hasMsg") != "true":
        fail("the parked NOTIFICATION answered %s" % (r and r[0]))
    peek = {"consumerGroup": "PopXG", "topic": "PopX", "queueId": -1, "maxMsgNums": 4}
    r = c.call(200052, peek)
    if not r or r[0]["code"] != 0 or [m["body"] for m in records(r[1])] != ["x0"]:
        fail("PEEK_MESSAGE: %s" % (r and r[0]))
    code, msgs = pop(c, "PopXG", "PopX")
    if [m["body"] for m in msgs] != ["x0"]:
        fail("POP after PEEK gave %s" % [m["body"] for m in msgs])
    r = c.call(200052, peek)
    if not r or r[0]["code"] != 19:
        fail("PEEK after the POP answered %s" % (r and r[0]))
    print("ok    NOTIFICATION (parked, then hasMsg), POLLING_INFO, PEEK without taking")
    for body, tag in ((b"y0", "TagA"), (b"y1", "TagB"), (b"y2", "TagA")):
        if send_v2(c, "PopX", body, tags=tag, queue_id=0)[0]["code"] != 0:
            fail("send %s" % body)
    code, msgs = pop(c, "PopTagG", "PopX", exp="TagB || TagC")
    if [m["body"] for m in msgs] != ["y1"]:
        fail("POP with exp 'TagB || TagC' gave %s" % [m["body"] for m in msgs])
    code, msgs = pop(c, "PopTagG", "PopX", exp="TagB")
    if msgs:
        fail("the filtered-out messages came to the group later: %s" % [m["body"] for m in msgs])
    print("ok    tag filter: only TagB popped, the others passed by")
    conns = [Conn(port, timeout=30) for _ in range(3)]
    req = {"consumerGroup": "PopFull", "topic": "PopY", "queueId": -1, "maxMsgNums": 1, "invisibleTime": 1000,
           "pollTime": 10000, "bornTime": int(time.time() * 1000), "initMode": 1}
    for k in range(2):
        conns[k].send_raw(frame(POP, req, opaque=9))
    deadline = time.time() + 10 * SLOW
    while polling("PopFull", "PopY") != 2 and time.time() < deadline:
        time.sleep(0.05)
    if polling("PopFull", "PopY") != 2:
        fail("two parked POPs not counted")
    r = conns[2].call(POP, dict(req, bornTime=int(time.time() * 1000)))
    if not r or r[0]["code"] != 209:
        fail("a third parked POP over popPollingSize=2 answered %s, not POLLING_FULL" % (r and r[0]))
    print("ok    POLLING_FULL over popPollingSize")


if __name__ == "__main__":
    if sys.argv[1] == "one":
        phase_one(int(sys.argv[2]), sys.argv[3])
    else:
        phase_two(int(sys.argv[2]), sys.argv[3])
        orderly(int(sys.argv[2]))
        extras(int(sys.argv[2]))
