"""The dashboard's message/, messageTrace/ and dlqMessage/ requests end to end (spec dashboard.md
§3.6-3.8). Arguments: dashboard URL, name server address, bin dir, broker port, scratch dir.
Messages are sent with the C producer tool and consumed with the C consumer tool; dead letters
are made with CONSUMER_SEND_MSG_BACK (36, delayLevel -1) on a raw connection to the broker."""
import io
import os
import re
import subprocess
import sys
import time
import zipfile

sys.path.insert(0, os.path.dirname(__file__))
from dashboard_http import Dash, check, has_fields  # noqa: E402
from rmq_frames import Conn  # noqa: E402

URL, NS, BIN, BROKER_PORT, TMP = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
d = Dash(URL, timeout=60)
VIEW_FIELDS = ["topic", "flag", "properties", "messageBody", "queueId", "storeSize", "queueOffset", "sysFlag",
               "bornTimestamp", "bornHost", "storeTimestamp", "storeHost", "msgId", "commitLogOffset", "bodyCRC",
               "reconsumeTimes", "preparedTransactionOffset"]
PAGE_FIELDS = ["content", "totalElements", "totalPages", "number", "size", "first", "last", "numberOfElements",
               "empty"]
NODE_FIELDS = ["requestId", "storeHost", "clientHost", "costTime", "beginTimestamp", "endTimestamp", "retryTimes",
               "status", "msgType", "transactionId", "transactionState", "fromTransactionCheck"]
TRACE_VIEW_FIELDS = ["requestId", "msgId", "tags", "keys", "storeHost", "clientHost", "costTime", "msgType",
                     "offSetMsgId", "timeStamp", "topic", "groupName", "retryTimes", "status", "transactionState",
                     "transactionId", "fromTransactionCheck", "traceType"]
started = []


def produce(topic, count, key, *extra):
    """Send with the C producer tool: [(msgId, offsetMsgId)] in send order."""
    out = subprocess.run([BIN + "/producer", "-n", NS, "-t", topic, "-c", str(count), "-k", key, *extra],
                         capture_output=True, text=True, timeout=120)
    check(out.returncode == 0, f"producer failed: {out.stderr[-500:]}")
    sent = re.findall(r"msgId=([0-9A-F]{32}), offsetMsgId=([0-9A-F]{32})", out.stdout)
    check(len(sent) == count, f"producer printed {len(sent)} results, not {count}")
    return sent


def consumer(topic, group, *extra):
    """A C push consumer in the background (stopped at the end, or by stop())."""
    log = open(os.path.join(TMP, f"consumer-{group}.out"), "w")
    p = subprocess.Popen([BIN + "/consumer", "-n", NS, "-t", topic, "-g", group, "-T", "120", *extra],
                         stdout=log, stderr=subprocess.STDOUT)
    started.append(p)
    return p


def stop(p):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def wait_until(what, fn, limit=60):
    """fn() until it returns something true, at most limit seconds of wall clock."""
    deadline = time.time() + limit
    while True:
        v = fn()
        if v:
            return v
        check(time.time() < deadline, f"not within {limit}s: {what}")
        time.sleep(0.2)


def page(topic, begin, end, num=1, size=10, task=None, path="message/queryMessagePageByTopic.query", **more):
    body = {"topic": topic, "begin": begin, "end": end, "pageNum": num, "pageSize": size, "taskId": task, **more}
    return d.ok("POST", path, body=body)


def test_paging(sent, t0, t1):
    ids = {u for u, _ in sent}
    first = page("MsgT", t0, t1, 1, 10)
    has_fields(first, ["page", "taskId"], "MessagePage answer")
    p = first["page"]
    has_fields(p, PAGE_FIELDS, "page")
    head = {k: v for k, v in p.items() if k != "content"}
    check(p["totalElements"] == 45 and p["totalPages"] == 5 and p["size"] == 10 and p["number"] == 0, f"page 1: {head}")
    check(p["first"] and not p["last"] and p["numberOfElements"] == 10 and not p["empty"], f"page 1 flags: {head}")
    for m in p["content"]:
        has_fields(m, VIEW_FIELDS, "MessageView")
        check(m["topic"] == "MsgT" and m["messageBody"].startswith("Hello RocketMQ "), f"view: {m}")
        check(m["properties"].get("KEYS") == "KeyA" and m["properties"].get("TAGS") == "TagA", f"props: {m}")
        check(t0 <= m["storeTimestamp"] <= t1, f"store time out of range: {m['storeTimestamp']}")
    task = first["taskId"]
    seen = [m["msgId"] for m in p["content"]]
    for num in range(2, 6):
        nxt = page("MsgT", t0, t1, num, 10, task)
        check(nxt["taskId"] == task, f"page {num}: the task changed: {nxt['taskId']} != {task}")
        check(nxt["page"]["number"] == num - 1 and nxt["page"]["last"] == (num == 5),
              f"page {num}: number {nxt['page']['number']}, last {nxt['page']['last']}")
        seen += [m["msgId"] for m in nxt["page"]["content"]]
    check(len(seen) == 45 and set(seen) == ids, f"5 pages: {len(seen)} rows, {len(set(seen))} distinct, "
                                                f"{len(ids - set(seen))} missing")
    after = page("MsgT", t0, t1, 6, 10, task)["page"]
    check(after["empty"] and after["content"] == [] and after["totalElements"] == 45, f"page past the end: {after}")
    # pageSize is clamped to 10..100, a stranger's taskId starts over, other conditions too
    check(page("MsgT", t0, t1, 1, 3)["page"]["size"] == 10, "pageSize 3 is not clamped to 10")
    big = page("MsgT", t0, t1, 1, 100000)["page"]
    check(big["size"] == 100 and big["numberOfElements"] == 45, f"pageSize 100000: {big['size']}, {big['numberOfElements']}")
    other = page("MsgT", t0, t1, 2, 10, "0123456789ABCDEF")
    check(other["taskId"] != "0123456789ABCDEF" and other["page"]["totalElements"] == 45, "unknown taskId")
    return big["content"]


def test_time_edges(views, t0):
    """A range that starts or ends on a stored time counts exactly the messages stored in it."""
    times = sorted({m["storeTimestamp"] for m in views})
    all_times = [m["storeTimestamp"] for m in page("MsgT", t0, times[-1], 1, 100)["page"]["content"]]
    check(len(all_times) == 45, f"all 45 by time: {len(all_times)}")
    for lo, hi in [(times[len(times) // 3], times[2 * len(times) // 3]), (times[1], times[1]), (times[0], times[-2])]:
        want = sum(1 for t in all_times if lo <= t <= hi)
        got = page("MsgT", lo, hi, 1, 100)["page"]
        check(got["totalElements"] == want and len(got["content"]) == want,
              f"[{lo}, {hi}]: {got['totalElements']} / {len(got['content'])} messages, want {want}")
    none = page("MsgT", t0 - 10 * 86400000, t0 - 9 * 86400000)["page"]
    check(none["totalElements"] == 0 and none["empty"], f"a range before everything: {none['totalElements']}")


def test_paging_errors(t0, t1):
    path = "message/queryMessagePageByTopic.query"
    e = d.err("POST", path, body={"topic": "MsgT", "begin": t1, "end": t0, "pageNum": 1, "pageSize": 10})
    check("end" in e, f"end < begin: {e}")
    for body in [{"begin": t0, "end": t1}, {"topic": "a b", "begin": t0, "end": t1}, {"topic": "MsgT"},
                 {"topic": "MsgT", "begin": "soon", "end": t1}, {"topic": "MsgT", "begin": 1e30, "end": 2e30},
                 {"topic": "MsgT", "begin": t0, "end": t1, "pageNum": 0},
                 {"topic": "MsgT", "begin": t0, "end": t1, "pageNum": -5},
                 {"topic": "MsgT", "begin": t0, "end": t1, "pageNum": [1]},
                 {"topic": "T" * 300, "begin": t0, "end": t1}, [1, 2, 3]]:
        d.err("POST", path, body=body)
    d.err("POST", path, body=b"{not json")
    d.err("POST", path)
    e = d.err("POST", path, body={"topic": "NoSuchTopicXyz", "begin": t0, "end": t1})
    check("17" in e or "route" in e.lower(), f"unknown topic: {e}")
    huge = page("MsgT", t0, t1, 99999999, 100)["page"]
    check(huge["empty"] and huge["totalElements"] == 45, "a huge pageNum is an empty page")
    status, _, _ = d.raw("GET", path)
    check(status == 405, f"GET on a POST request: HTTP {status}")


def test_by_key():
    got = d.ok("GET", "message/queryMessageByTopicAndKey.query", {"topic": "MsgT", "key": "KeyA"})
    check(len(got) == 45 and all(m["properties"]["KEYS"] == "KeyA" for m in got), f"by key: {len(got)} messages")
    for m in got:
        has_fields(m, VIEW_FIELDS, "MessageView by key")
    stamps = [m["storeTimestamp"] for m in got]
    check(stamps == sorted(stamps, reverse=True), "by key: newest first")
    produce("MsgT", 70, "KeyB")
    got = d.ok("GET", "message/queryMessageByTopicAndKey.query", {"topic": "MsgT", "key": "KeyB"})
    check(len(got) == 64, f"70 messages with one key: {len(got)} returned, want the 64 cap")
    check(d.ok("GET", "message/queryMessageByTopicAndKey.query", {"topic": "MsgT", "key": "NoSuchKey"}) == [],
          "an unknown key finds nothing")
    d.err("GET", "message/queryMessageByTopicAndKey.query", {"topic": "MsgT"})
    d.err("GET", "message/queryMessageByTopicAndKey.query", {"key": "KeyA"})
    d.err("GET", "message/queryMessageByTopicAndKey.query", {"topic": "NoSuchTopicXyz", "key": "KeyA"})
    d.err("GET", "message/queryMessageByTopicAndKey.query", {"topic": "MsgT", "key": "k" * 5000})


def test_by_id(sent):
    uniq, off = sent[7]
    for params in [{"msgId": off}, {"msgId": off, "topic": "MsgT"}, {"msgId": uniq, "topic": "MsgT"}]:
        v = d.ok("GET", "message/viewMessage.query", params)
        has_fields(v, ["messageView", "messageTrackList"], "viewMessage")
        mv = v["messageView"]
        has_fields(mv, VIEW_FIELDS, "viewMessage's MessageView")
        check(mv["msgId"] == uniq and mv["messageBody"] == "Hello RocketMQ 7", f"{params}: {mv['msgId']} {mv['messageBody']}")
        check(isinstance(v["messageTrackList"], list), "messageTrackList is a list")
        t = d.ok("GET", "messageTrace/viewMessage.query", params)
        check(set(t) == {"messageView"} and t["messageView"]["msgId"] == uniq, f"messageTrace/viewMessage: {t}")
    fail = "Failed to query message by Id: "
    e = d.err("GET", "message/viewMessage.query", {"msgId": uniq})
    check(e == fail + uniq, f"a unique id without its topic: {e}")
    # an offset id of an address that is no broker of ours is never dialled: an error at once
    stranger = "0A0000FE" + "00000016" + "0000000000000000"
    t = time.time()
    e = d.err("GET", "message/viewMessage.query", {"msgId": stranger, "topic": "MsgT"})
    check(e == fail + stranger and time.time() - t < 3, f"offset id of a stranger: {e}")
    inside = off[:16] + "%016X" % (int(off[16:], 16) + 5)   # our broker, but no record starts there
    e = d.err("GET", "message/viewMessage.query", {"msgId": inside, "topic": "MsgT"})
    check(e == fail + inside, f"offset id into the middle of a record: {e}")
    for bad in ["zz", "0" * 5000, "", "../../etc"]:
        d.err("GET", "message/viewMessage.query", {"msgId": bad, "topic": "MsgT"})
    d.err("GET", "message/viewMessage.query", {"topic": "MsgT"})
    d.err("GET", "message/viewMessage.query", {"msgId": uniq, "topic": "bad topic!"})


def test_legacy_list(t0, t1):
    got = d.ok("GET", "message/queryMessageByTopic.query", {"topic": "MsgT", "begin": t0, "end": t1})
    check(len(got) == 45 and all(m["messageBody"] is None for m in got), f"legacy list: {len(got)} messages with bodies?")
    stamps = [m["storeTimestamp"] for m in got]
    check(stamps == sorted(stamps, reverse=True), "legacy list: newest first")
    d.err("GET", "message/queryMessageByTopic.query", {"topic": "MsgT", "begin": t1, "end": t0})
    d.err("GET", "message/queryMessageByTopic.query", {"topic": "MsgT", "begin": "x", "end": t0})
    d.err("GET", "message/queryMessageByTopic.query", {"topic": "MsgT"})


def track_of(msg_id, group):
    v = d.ok("GET", "message/viewMessage.query", {"msgId": msg_id, "topic": "MsgT"})
    for t in v["messageTrackList"]:
        has_fields(t, ["consumerGroup", "trackType", "exceptionDesc"], "MessageTrack")
    return next((t for t in v["messageTrackList"] if t["consumerGroup"] == group), None)


def test_track_and_resend(sent):
    uniq, off = sent[3]
    e = d.err("POST", "message/consumeMessageDirectly.do",
              {"topic": "MsgT", "consumerGroup": "NobodyGroup", "msgId": uniq})
    check("NO CONSUMER" in e, f"resend to a group with nobody online: {e}")
    c = consumer("MsgT", "TrackGroup")
    f = consumer("MsgT", "FilterGroup", "-s", "TagZ")   # its subscription leaves TagA out
    t = wait_until("TrackGroup's track says CONSUMED",
                   lambda: (lambda x: x if x and x["trackType"] == "CONSUMED" else None)(track_of(uniq, "TrackGroup")))
    check(t["exceptionDesc"] is None, f"a consumed track has no exception: {t}")
    wait_until("FilterGroup's track says CONSUMED_BUT_FILTERED",
               lambda: (lambda x: x and x["trackType"] == "CONSUMED_BUT_FILTERED")(track_of(uniq, "FilterGroup")))
    stop(f)
    # consume-directly goes to the online client through the broker (309)
    res = d.call("POST", "message/consumeMessageDirectly.do", {"topic": "MsgT", "consumerGroup": "TrackGroup", "msgId": uniq})
    if res["status"] == 0:
        has_fields(res["data"], ["consumeResult"], "ConsumeMessageDirectlyResult")
        check(res["data"]["consumeResult"] == "CR_SUCCESS", f"consume directly: {res['data']}")
        print("consumeMessageDirectly: the client answered", res["data"])
    else:
        # a client without CONSUME_MESSAGE_DIRECTLY: the broker relayed, the client refused
        check("CODE:" in res["errMsg"] and "NO CONSUMER" not in res["errMsg"], f"consume directly: {res['errMsg']}")
        print("consumeMessageDirectly: the client does not take 309 yet:", res["errMsg"])
    for params in [{"consumerGroup": "TrackGroup", "msgId": uniq}, {"topic": "MsgT", "msgId": uniq},
                   {"topic": "MsgT", "consumerGroup": "TrackGroup"},
                   {"topic": "MsgT", "consumerGroup": "TrackGroup", "msgId": "F" * 32}]:
        d.err("POST", "message/consumeMessageDirectly.do", params)
    stop(c)
    wait_until("TrackGroup's track says NOT_ONLINE once its consumer stopped",
               lambda: (lambda x: x and x["trackType"] == "NOT_ONLINE" and x["exceptionDesc"])(track_of(uniq, "TrackGroup")))


def test_trace():
    (uniq, off), = produce("TraceT", 1, "TraceKey", "--trace", "-g", "TraceProducerGroup")
    c = consumer("TraceT", "TraceConsumerGroup", "--trace", "-c", "1")

    def graph():
        g = d.ok("GET", "messageTrace/viewMessageTraceGraph.query", {"msgId": uniq})
        subs = [s for s in g["subscriptionNodeList"] if s["subscriptionGroup"] == "TraceConsumerGroup"]
        done = subs and any(n["status"] == "success" for n in subs[0]["consumeNodeList"])
        return g if g["producerNode"] and done else None
    g = wait_until("the trace graph has the Pub and the consume nodes", graph)
    stop(c)
    has_fields(g, ["producerNode", "subscriptionNodeList", "messageTraceViews"], "MessageTraceGraph")
    p = g["producerNode"]
    has_fields(p, ["msgId", "tags", "keys", "offSetMsgId", "topic", "groupName", "traceNode", "transactionNodeList"],
               "producerNode")
    check(p["msgId"] == uniq and p["topic"] == "TraceT" and p["groupName"] == "TraceProducerGroup", f"producer: {p}")
    check(p["offSetMsgId"] == off and p["keys"] == "TraceKey" and p["tags"] == "TagA", f"producer: {p}")
    has_fields(p["traceNode"], NODE_FIELDS, "producer traceNode")
    tn = p["traceNode"]
    check(tn["status"] == "success" and tn["endTimestamp"] - tn["beginTimestamp"] == tn["costTime"] >= 0, f"Pub node: {tn}")
    check(tn["msgType"] == "Normal_Msg", f"Pub msgType: {tn}")
    sub = next(s for s in g["subscriptionNodeList"] if s["subscriptionGroup"] == "TraceConsumerGroup")
    node = sub["consumeNodeList"][0]
    has_fields(node, NODE_FIELDS, "consume node")
    check(node["beginTimestamp"] >= tn["beginTimestamp"] and node["costTime"] >= 0 and node["requestId"], f"consume node: {node}")
    types = sorted({v["traceType"] for v in g["messageTraceViews"]})
    check(types == ["Pub", "SubAfter", "SubBefore"], f"trace record types: {types}")
    for v in g["messageTraceViews"]:
        has_fields(v, TRACE_VIEW_FIELDS, "MessageTraceView")
        check(v["msgId"] == uniq, f"a view of another message: {v}")
    detail = d.ok("GET", "messageTrace/viewMessageTraceDetail.query", {"msgId": uniq})
    check(sorted(v["traceType"] for v in detail) == sorted(v["traceType"] for v in g["messageTraceViews"]),
          "detail and graph list the same records")
    pub = next(v for v in detail if v["traceType"] == "Pub")
    check(pub["groupName"] == "TraceProducerGroup" and pub["status"] == "success" and pub["topic"] == "TraceT", f"Pub: {pub}")
    same = d.ok("GET", "messageTrace/viewMessageTraceGraph.query", {"msgId": uniq, "traceTopic": "RMQ_SYS_TRACE_TOPIC"})
    check(len(same["messageTraceViews"]) == len(g["messageTraceViews"]), "traceTopic named = the default")
    empty = d.ok("GET", "messageTrace/viewMessageTraceGraph.query", {"msgId": "0123456789ABCDEF0123456789ABCDEF"})
    check(empty["producerNode"] is None and empty["subscriptionNodeList"] == [] and empty["messageTraceViews"] == [],
          f"an untraced id: {empty}")
    check(d.ok("GET", "messageTrace/viewMessageTraceDetail.query", {"msgId": "0123456789ABCDEF0123456789ABCDEF"}) == [],
          "an untraced id has no records")
    for params in [{}, {"msgId": "not-hex"}, {"msgId": uniq, "traceTopic": "no such topic!"},
                   {"msgId": uniq, "traceTopic": "NoSuchTraceTopic"}]:
        d.err("GET", "messageTrace/viewMessageTraceGraph.query", params)
        d.err("GET", "messageTrace/viewMessageTraceDetail.query", params)


def xlsx_sheet(data):
    z = zipfile.ZipFile(io.BytesIO(data))
    check(z.testzip() is None, "the .xlsx zip has a bad entry")
    names = set(z.namelist())
    for part in ["[Content_Types].xml", "_rels/.rels", "xl/workbook.xml", "xl/worksheets/sheet1.xml"]:
        check(part in names, f".xlsx lacks {part}: {sorted(names)}")
    return z.read("xl/worksheets/sheet1.xml").decode()


def test_dlq(t0):
    sent = produce("DlqSrcT", 3, "DlqKey")
    c = Conn(BROKER_PORT)
    for uniq, off in sent:
        r = c.call(36, {"offset": int(off[16:], 16), "group": "DlqGroup", "delayLevel": -1, "originMsgId": uniq,
                        "maxReconsumeTimes": 16})
        check(r and r[0]["code"] == 0, f"send back to the DLQ: {r and r[0]}")
    c.close()
    ids = {u for u, _ in sent}
    path = "dlqMessage/queryDlqMessageByConsumerGroup.query"
    end = int(time.time() * 1000) + 60000
    got = wait_until("3 dead letters in %DLQ%DlqGroup",
                     lambda: (lambda p: p if p["page"]["totalElements"] == 3 else None)(page("%DLQ%DlqGroup", t0, end, path=path)))
    rows = got["page"]["content"]
    check({m["msgId"] for m in rows} == ids and all(m["topic"] == "%DLQ%DlqGroup" for m in rows), f"DLQ rows: {rows}")
    check(all(m["properties"].get("RETRY_TOPIC") == "DlqSrcT" for m in rows), "dead letters keep RETRY_TOPIC")
    by_group = d.ok("POST", path, body={"consumerGroup": "DlqGroup", "begin": t0, "end": end, "pageNum": 1, "pageSize": 10})
    check(by_group["page"]["totalElements"] == 3, "consumerGroup alone names the DLQ")
    none = page("%DLQ%NoDeadGroup", t0, end, path=path)["page"]
    check(none["totalElements"] == 0 and none["empty"], f"a group with no DLQ topic: an empty page, got {none}")
    for body in [{"topic": "MsgT", "begin": t0, "end": end}, {"begin": t0, "end": end}, [1],
                 {"topic": "%DLQ%DlqGroup", "begin": end, "end": t0}]:
        d.err("POST", path, body=body)
    # export of one, and of a batch with one unknown id
    one = sorted(ids)[0]
    status, hdrs, data = d.raw("GET", "dlqMessage/exportDlqMessage.do", {"consumerGroup": "DlqGroup", "msgId": one})
    check(status == 200 and "spreadsheetml" in hdrs.get("Content-Type", ""), f"export: HTTP {status} {hdrs.get('Content-Type')}")
    check("attachment" in hdrs.get("Content-Disposition", "") and ".xlsx" in hdrs.get("Content-Disposition", ""),
          f"export disposition: {hdrs.get('Content-Disposition')}")
    sheet = xlsx_sheet(data)
    check(one in sheet and "%DLQ%DlqGroup" in sheet and "Hello RocketMQ" in sheet and "RETRY_TOPIC=DlqSrcT" in sheet,
          f"export sheet lacks the message: {sheet[:600]}")
    e = d.err("GET", "dlqMessage/exportDlqMessage.do", {"consumerGroup": "DlqGroup", "msgId": "F" * 32})
    check(e.startswith("Failed to query message by Id"), f"export of an unknown id: {e}")
    d.err("GET", "dlqMessage/exportDlqMessage.do", {"consumerGroup": "DlqGroup"})
    d.err("GET", "dlqMessage/exportDlqMessage.do", {"msgId": one})
    batch = [{"consumerGroup": "DlqGroup", "msgId": u} for u in sorted(ids)] + [{"consumerGroup": "DlqGroup", "msgId": "E" * 32}]
    status, hdrs, data = d.raw("POST", "dlqMessage/batchExportDlqMessage.do", body=batch)
    check(status == 200 and "spreadsheetml" in hdrs.get("Content-Type", ""), f"batch export: HTTP {status}")
    sheet = xlsx_sheet(data)
    check(all(u in sheet for u in ids) and "E" * 32 in sheet and "Failed to query message by Id" in sheet,
          "batch export: every row, the unknown one with its reason")
    check(sheet.count("<row ") == 5, f"batch export: header + 4 rows, got {sheet.count('<row ')}")
    for body in [[], {"consumerGroup": "DlqGroup"}, [{"msgId": one}], [{"consumerGroup": "DlqGroup", "msgId": one}] * 501]:
        d.err("POST", "dlqMessage/batchExportDlqMessage.do", body=body)
    # batch resend: nobody online, then a consumer of the group
    items = [{"topic": "%DLQ%DlqGroup", "consumerGroup": "DlqGroup", "msgId": u} for u in sorted(ids)]
    items[1] = {"topicName": "%DLQ%DlqGroup", "consumerGroup": "DlqGroup", "msgId": items[1]["msgId"]}
    res = d.ok("POST", "dlqMessage/batchResendDlqMessage.do", body=items)
    check([r["msgId"] for r in res] == sorted(ids), f"resend answers in order: {res}")
    for r in res:
        has_fields(r, ["consumeResult", "remark", "msgId"], "resend result")
        check(r["consumeResult"] is None and "NO CONSUMER" in r["remark"], f"resend with nobody online: {r}")
    p = consumer("DlqSrcT", "DlqGroup")
    def online():
        r = d.ok("POST", "dlqMessage/batchResendDlqMessage.do", body=items[:1])[0]
        return "NO CONSUMER" not in (r["remark"] or "")
    wait_until("DlqGroup's consumer is online", online)
    res = d.ok("POST", "dlqMessage/batchResendDlqMessage.do", body=items)
    check(len(res) == 3 and all("NO CONSUMER" not in (r["remark"] or "") for r in res), f"resend reached the client: {res}")
    ok = all(r["consumeResult"] == "CR_SUCCESS" for r in res)
    print("batchResendDlqMessage:", "the client consumed them" if ok else f"the client refused: {res[0]['remark']}")
    stop(p)
    for body in [[], {"msgId": one}, [{"consumerGroup": "DlqGroup"}], [{"msgId": one}], items * 200]:
        d.err("POST", "dlqMessage/batchResendDlqMessage.do", body=body)


def test_hostile():
    """Odd requests get errors, not a dead server."""
    for path in ["message/viewMessage.query", "message/queryMessageByTopicAndKey.query",
                 "message/queryMessageByTopic.query", "messageTrace/viewMessageTraceGraph.query"]:
        d.err("GET", path, {"msgId": "\u00e9\u0001" * 100, "topic": "%" * 2000, "key": "x", "begin": "-1", "end": "9" * 40})
    deep = b"[" * 5000 + b"]" * 5000
    for path in ["message/queryMessagePageByTopic.query", "dlqMessage/batchResendDlqMessage.do",
                 "dlqMessage/batchExportDlqMessage.do", "dlqMessage/queryDlqMessageByConsumerGroup.query"]:
        d.err("POST", path, body=deep)
        d.err("POST", path, body=b"\xff\xfe{\"topic\":")
        d.err("POST", path, body={"topic": None, "begin": {"a": 1}, "end": [], "pageNum": "x"})


try:
    t0 = int(time.time() * 1000) - 2000
    sent = produce("MsgT", 45, "KeyA")
    t1 = int(time.time() * 1000) + 2000
    t = time.time()
    views = test_paging(sent, t0, t1)
    test_time_edges(views, t0)
    test_paging_errors(t0, t1)
    print(f"paging: {time.time() - t:.1f}s")
    test_by_id(sent)
    test_legacy_list(t0, t1)
    test_by_key()
    test_track_and_resend(sent)
    test_trace()
    test_dlq(t0)
    test_hostile()
    still = d.ok("GET", "message/queryMessageByTopicAndKey.query", {"topic": "MsgT", "key": "KeyA"})
    check(len(still) == 45, "the dashboard still answers after the hostile requests")
finally:
    for proc in started:
        stop(proc)
print("dashboard_message: all checks passed")
