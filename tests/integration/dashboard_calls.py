"""The remoting calls a RocketMQ console (rocketmq-dashboard 2.x, Loulan's loulan-dashboard) makes,
sent raw to a running name server and broker, with the answers checked against what RocketMQ
4.9.5 gives (spec dashboard.md §6, remoting-protocol.md). Used by test_dashboard_calls.sh.

  dashboard_calls.py calls <namesrv port> <broker port> <consumer output file> <consumer group>
  dashboard_calls.py day <bin dir> <work dir>

`calls` expects TopicTest with 20+ messages that a C push consumer of the group (still running,
printing to the output file) has consumed. `day` starts a broker of its own in a time zone whose
midnight is a few seconds away and checks the yesterday/today counters across it.
Every wait is bounded; every socket read has a timeout."""
import json
import os
import re
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rmq_frames import Conn, parse_records, pull_all, send_v2  # noqa: E402

checked = []


def ok(what):
    checked.append(what)


def fail(what, detail):
    sys.exit("FAIL %s: %s" % (what, detail))


def expect(cond, what, detail=""):
    if not cond:
        fail(what, detail)


def call(conn, code, ext=None, body=b"", want=0):
    r = conn.call(code, ext, body)
    expect(r is not None, "request %d" % code, "no answer (connection closed?)")
    expect(r[0]["code"] == want, "request %d %s" % (code, ext or ""),
           "code %s remark %r, wanted %d" % (r[0]["code"], r[0].get("remark"), want))
    return r[0], r[1]


def wait_for(what, fn, limit=30.0):
    deadline = time.time() + limit
    while True:
        v = fn()
        if v:
            return v
        if time.time() > deadline:
            fail(what, "not within %.0f s" % limit)
        time.sleep(0.2)


# MessageQueue objects as map keys (fastjson): {"brokerName":..,"queueId":..,"topic":..}:{...}
MQ_ENTRY = re.compile(rb'\{"brokerName":"([^"]*)","queueId":(\d+),"topic":"([^"]*)"\}:(\{[^{}]*\}|-?\d+)')


def mq_table(body):
    return {(m.group(3).decode(), int(m.group(2))): json.loads(m.group(4)) for m in MQ_ENTRY.finditer(body)}


def props(d):
    return "".join("%s\x01%s\x02" % kv for kv in d.items())


# ---- the calls ------------------------------------------------------------------------------

def check_namesrv(N, broker_addr):
    _, b = call(N, 106)
    expect(b'"broker-a"' in b and ('"%s"' % broker_addr).encode() in b and b'"DefaultCluster":["broker-a"]' in b,
           "106 cluster info", b)
    _, b = call(N, 206)
    topics = json.loads(b)["topicList"]
    expect("TopicTest" in topics and "%RETRY%G1" in topics, "206 topic list", topics)
    _, b = call(N, 304)
    st = json.loads(b)
    expect(st.get("brokerAddr") == broker_addr and {"DefaultCluster", "broker-a"} <= set(st["topicList"]),
           "304 system topics", st)
    _, b = call(N, 105, {"topic": "TopicTest"})
    route = json.loads(b)
    expect(route["queueDatas"][0]["readQueueNums"] == 4 and route["brokerDatas"][0]["brokerAddrs"]["0"] == broker_addr,
           "105 route", route)
    # the console's lag and connections of a group go through its retry topic's route
    _, b = call(N, 105, {"topic": "%RETRY%G1"})
    route = json.loads(b)
    expect(route["queueDatas"] and route["queueDatas"][0]["perm"] & 6 == 6, "105 %RETRY%G1 route", route)
    ok("N 105 106 206 304, %RETRY% routed")


def check_runtime_info(B):
    _, b = call(B, 28)
    t = json.loads(b)["table"]
    counters = ["msgPutTotalYesterdayMorning", "msgPutTotalTodayMorning", "msgPutTotalTodayNow",
                "msgGetTotalYesterdayMorning", "msgGetTotalTodayMorning", "msgGetTotalTodayNow"]
    for k in counters + ["brokerVersionDesc", "putTps", "getTransferedTps", "getTotalTps", "getFoundTps", "getMissTps",
                         "commitLogDiskRatio", "earliestMessageTimeStamp", "bootTimestamp", "runtime"]:
        expect(k in t and isinstance(t[k], str), "28 key " + k, sorted(t))
    for k in counters:
        expect(re.fullmatch(r"\d+", t[k]), "28 %s is a count" % k, t[k])
    expect(int(t["msgPutTotalTodayNow"]) >= 20 and int(t["msgGetTotalTodayNow"]) >= 20, "28 totals", t)
    expect(re.fullmatch(r"V\d+_\d+_\d+", t["brokerVersionDesc"]), "28 brokerVersionDesc", t["brokerVersionDesc"])
    for k in ("putTps", "getTransferedTps", "getTotalTps", "getFoundTps", "getMissTps"):
        parts = t[k].split(" ")
        # three windows (10 s, 1 min, 10 min), each a plain decimal with two decimals at least
        expect(len(parts) == 3 and all(re.fullmatch(r"\d+\.\d{2,}", p) for p in parts), "28 %s format" % k, t[k])
    # the windows come from once-a-second samples: a broker younger than two samples says 0
    deadline = time.time() + 30
    while not (float(t["putTps"].split()[2]) > 0 and float(t["getTotalTps"].split()[2]) > 0) and time.time() < deadline:
        time.sleep(0.2)
        t = json.loads(call(B, 28)[1])["table"]
    expect(float(t["putTps"].split()[2]) > 0 and float(t["getTotalTps"].split()[2]) > 0, "28 tps after traffic", t)
    float(t["commitLogDiskRatio"])
    ok("B 28 runtime info keys and formats")


def check_topics(B, N):
    base = {"readQueueNums": 4, "writeQueueNums": 4, "perm": 6, "topicFilterType": "SINGLE_TAG", "topicSysFlag": 0,
            "order": "false"}

    def config(name):
        _, b = call(B, 21)
        return json.loads(b)["topicConfigTable"].get(name)

    # a 2.x console's create: message.type kept and given back
    call(B, 17, dict(base, topic="DashFifo", attributes="+message.type=FIFO"))
    expect(config("DashFifo").get("attributes") == {"message.type": "FIFO"}, "17/21 attributes", config("DashFifo"))
    call(B, 17, dict(base, topic="DashFifo", writeQueueNums=2))   # an update without attributes keeps them
    c = config("DashFifo")
    expect(c["attributes"] == {"message.type": "FIFO"} and c["writeQueueNums"] == 2, "17 update keeps attributes", c)
    call(B, 17, dict(base, topic="DashFifo", attributes="+message.type=NORMAL,+queue.type=SimpleCQ"))
    expect(config("DashFifo")["attributes"] == {"message.type": "NORMAL", "queue.type": "SimpleCQ"},
           "17 attributes changed", config("DashFifo"))
    call(B, 17, dict(base, topic="DashFifo", attributes="-queue.type"))
    expect(config("DashFifo")["attributes"] == {"message.type": "NORMAL"}, "17 attribute removed", config("DashFifo"))
    call(B, 17, dict(base, topic="DashPlain"))                      # 4.x style: no attributes field
    expect("attributes" not in config("DashPlain"), "21 no attributes for 4.x topics", config("DashPlain"))
    for bad in ("message.type=NORMAL", "+message.type", "+message.type=BOGUS", "+a b=c", "+=x"):
        h, _ = call(B, 17, dict(base, topic="DashBad", attributes=bad), want=1)
        expect(h.get("remark"), "17 bad attributes %r answer" % bad, h)
    h, _ = call(B, 17, dict(base, topic="DashBad", attributes="-message.type"), want=1)
    expect("creating" in h.get("remark", ""), "17 remove while creating", h)
    expect(config("DashBad") is None, "17 bad attributes create nothing", config("DashBad"))
    ok("B 17 + 21 attributes (message.type)")

    # 202 topic stats, 215 + 216 delete
    _, b = call(B, 202, {"topic": "TopicTest"})
    tab = mq_table(b)
    expect(len(tab) == 4 and all(v["maxOffset"] >= 5 and v["minOffset"] == 0 and v["lastUpdateTimestamp"] > 0
                                 for v in tab.values()), "202 topic stats", b)
    call(B, 202, {"topic": "NoSuchTopic"}, want=17)
    wait_for("DashPlain routed", lambda: N.call(105, {"topic": "DashPlain"})[0]["code"] == 0)
    call(B, 215, {"topic": "DashPlain"})
    call(N, 216, {"topic": "DashPlain"})
    call(N, 105, {"topic": "DashPlain"}, want=17)
    expect(config("DashPlain") is None, "215 deleted", config("DashPlain"))
    _, b = call(B, 305)
    expect({"TBW102", "SCHEDULE_TOPIC_XXXX", "RMQ_SYS_TRACE_TOPIC"} <= set(json.loads(b)["topicList"]), "305", b)
    ok("B 202 215 305, N 216")


def check_messages(B, N, broker_addr):
    # 10 (v1 header names) and 310 sends, 11 pull, 12 query by key, 33 view by id, 29/30 offsets
    h, _ = call(B, 10, {"producerGroup": "DashPG", "topic": "TopicTest", "defaultTopic": "TBW102",
                        "defaultTopicQueueNums": 4, "queueId": 1, "sysFlag": 0, "bornTimestamp": int(time.time() * 1000),
                        "flag": 0, "properties": props({"TAGS": "V1Tag", "KEYS": "dash-v1-key", "WAIT": "true"}),
                        "reconsumeTimes": 0, "unitMode": "false", "batch": "false"}, b"sent with v1 headers")
    v1_id = h["extFields"]["msgId"]
    r = send_v2(B, "TopicTest", b"sent with v2 headers", queue_id=1,
                extra={"i": props({"TAGS": "V2Tag", "KEYS": "dash-v2-key", "WAIT": "true"})})
    expect(r and r[0]["code"] == 0, "310 send", r and r[0])
    recs = pull_all(B, "TopicTest", 1)
    bodies = [x["body"] for x in recs]
    expect(b"sent with v1 headers" in bodies and b"sent with v2 headers" in bodies, "11 pull", bodies[-3:])
    h, _ = call(B, 30, {"topic": "TopicTest", "queueId": 1})
    expect(int(h["extFields"]["offset"]) == len(recs), "30 max offset", (h, len(recs)))
    h, _ = call(B, 29, {"topic": "TopicTest", "queueId": 1, "timestamp": 0})
    expect(h["extFields"]["offset"] == "0", "29 offset by time", h)

    def by_key():
        r = B.call(12, {"topic": "TopicTest", "key": "dash-v2-key", "maxNum": 32, "beginTimestamp": 0,
                        "endTimestamp": int(time.time() * 1000) + 60000})
        return r[0]["code"] == 0 and [x for x in parse_records(r[1]) if x["body"] == b"sent with v2 headers"]
    wait_for("12 query by key", by_key)
    # a message looked up by its client id (UNIQ_KEY): the console's "message by id"
    uniq = "C0A8000100002A9F0000000000%06X" % (int(time.time()) & 0xFFFFFF)
    r = send_v2(B, "TopicTest", b"found by unique key", queue_id=3,
                extra={"i": props({"TAGS": "UniqTag", "UNIQ_KEY": uniq, "WAIT": "true"})})
    expect(r and r[0]["code"] == 0, "310 send with UNIQ_KEY", r and r[0])

    def by_uniq():
        r = B.call(12, {"topic": "TopicTest", "key": uniq, "maxNum": 32, "beginTimestamp": 0,
                        "endTimestamp": int(time.time() * 1000) + 60000, "_UNIQUE_KEY_QUERY": "true"})
        return r[0]["code"] == 0 and [x for x in parse_records(r[1]) if x["body"] == b"found by unique key"]
    wait_for("12 query by unique key", by_uniq)
    # 33: the offset message id names this broker and the record's commit-log offset
    expect(v1_id[:8] == "7F000001" and int(v1_id[8:16], 16) == int(broker_addr.split(":")[1]), "msgId address", v1_id)
    _, b = call(B, 33, {"offset": int(v1_id[16:], 16)})
    expect(parse_records(b)[0]["body"] == b"sent with v1 headers", "33 view by id", b[:80])
    call(B, 33, {"offset": 3}, want=1)
    ok("B 10 310 11 12 (key, unique key) 29 30 33")


def check_groups(B):
    # 200 / 201 / 207 subscription groups
    call(B, 200, body=json.dumps({"groupName": "DashGroup", "consumeEnable": True, "consumeBroadcastEnable": True,
                                  "retryQueueNums": 1, "retryMaxTimes": 5, "brokerId": 0,
                                  "whichBrokerWhenConsumeSlowly": 1}).encode())
    _, b = call(B, 201)
    g = json.loads(b)["subscriptionGroupTable"].get("DashGroup")
    expect(g and g["retryMaxTimes"] == 5, "201 group", g)
    call(B, 207, {"groupName": "DashGroup", "removeOffset": "true"})
    _, b = call(B, 201)
    expect("DashGroup" not in json.loads(b)["subscriptionGroupTable"], "207 deleted", b[:200])
    # 15 commit and 14 read back an offset; 222 resets an offline group's offsets to a time
    call(B, 15, {"consumerGroup": "DashOffsets", "topic": "TopicTest", "queueId": 2, "commitOffset": 3})
    h, _ = call(B, 14, {"consumerGroup": "DashOffsets", "topic": "TopicTest", "queueId": 2})
    expect(h["extFields"]["offset"] == "3", "15/14 offset", h)
    _, b = call(B, 222, {"topic": "TopicTest", "group": "DashOffsets", "timestamp": 0, "isForce": "true"})
    tab = mq_table(b)
    expect(len(tab) == 4 and all(v == 0 for v in tab.values()), "222 reset", b)
    h, _ = call(B, 14, {"consumerGroup": "DashOffsets", "topic": "TopicTest", "queueId": 2})
    expect(h["extFields"]["offset"] == "0", "222 stored", h)
    call(B, 222, {"topic": "NoSuchTopic", "group": "DashOffsets", "timestamp": 0, "isForce": "true"}, want=17)
    _, b = call(B, 300, {"topic": "TopicTest"})
    expect({"G1", "DashOffsets"} <= set(json.loads(b)["groupList"]), "300 consumed by", b)
    _, b = call(B, 26)
    expect(b"brokerName=broker-a\n" in b and b"brokerClusterName=DefaultCluster\n" in b, "26 config", b[:200])
    ok("B 200 201 207 14 15 222 300 26")


def check_consumers(B, group, out_file):
    _, b = call(B, 203, {"consumerGroup": group})
    cc = json.loads(b)
    expect(len(cc["connectionSet"]) == 1 and {"TopicTest", "%RETRY%" + group} <= set(cc["subscriptionTable"])
           and cc["consumeType"] == "CONSUME_PASSIVELY" and cc["messageModel"] == "CLUSTERING", "203", cc)
    client = cc["connectionSet"][0]["clientId"]
    call(B, 203, {"consumerGroup": "NobodyHere"}, want=206)

    # 208: the group's lag, once its offsets are committed (every 5 s)
    def lag():
        _, b = call(B, 208, {"consumerGroup": group})
        tab = mq_table(b)
        return tab and len(tab) == 4 and sum(v["brokerOffset"] - v["consumerOffset"] for v in tab.values()) == 0 and b
    b = wait_for("208 lag 0", lag, 40)
    expect(re.search(rb'"consumeTps":\d+(\.\d+)?(E-?\d+)?[,}]', b), "208 consumeTps", b[:200])
    # one topic: every queue, offset 0 where the group has committed nothing yet (RocketMQ)
    _, b = call(B, 208, {"consumerGroup": "NoOffsetsYet", "topic": "TopicTest"})
    tab = mq_table(b)
    expect(len(tab) == 4 and all(v["consumerOffset"] == 0 and v["brokerOffset"] > 0 for v in tab.values()),
           "208 one topic, no offsets", b)
    _, b = call(B, 317, {"isOrder": "false"})
    expect(('"%s":[{' % group).encode() in b and b'"totalDiff":' in b, "317 broker consume stats", b[:300])

    # 204: a producer's connection (a heartbeat on this very connection)
    hb = {"clientID": "dash-test@1", "producerDataSet": [{"groupName": "DashPG"}], "consumerDataSet": []}
    call(B, 34, body=json.dumps(hb).encode())
    _, b = call(B, 204, {"producerGroup": "DashPG"})
    expect([c["clientId"] for c in json.loads(b)["connectionSet"]] == ["dash-test@1"], "204", b)
    h, _ = call(B, 204, {"producerGroup": "NoSuchProducerGroup"}, want=1)
    expect("not exist" in h["remark"], "204 unknown group", h)

    # 315: the console's per-minute topic sampling (the minute window may be a quiet one on a
    # slow run: its shape only; the hour and day windows hold everything since the start)
    _, b = call(B, 315, {"statsName": "TOPIC_PUT_NUMS", "statsKey": "TopicTest"})
    s = json.loads(b)
    for w in ("statsMinute", "statsHour", "statsDay"):
        expect(set(s[w]) == {"sum", "tps", "avgpt"} and s[w]["sum"] >= 0, "315 put " + w, s)
    for w in ("statsHour", "statsDay"):
        expect(s[w]["sum"] >= 20 and s[w]["tps"] > 0 and s[w]["avgpt"] == 1.0, "315 put " + w, s)
    _, b = call(B, 315, {"statsName": "GROUP_GET_NUMS", "statsKey": "TopicTest@" + group})
    s = json.loads(b)
    expect(s["statsDay"]["sum"] >= 20 and s["statsDay"]["tps"] > 0 and s["statsDay"]["avgpt"] >= 1.0, "315 get", s)
    h, _ = call(B, 315, {"statsName": "TOPIC_PUT_NUMS", "statsKey": "NoTraffic"}, want=1)
    expect("not exist" in h["remark"], "315 unknown key", h)

    # 309: the broker relays the stored message; the C consumer's listener consumes it
    r = send_v2(B, "TopicTest", b"consume me directly", queue_id=2,
                extra={"i": props({"TAGS": "DirectTag", "KEYS": "direct-key"})})
    expect(r and r[0]["code"] == 0, "send for 309", r and r[0])
    msg_id = r[0]["extFields"]["msgId"]
    _, b = call(B, 309, {"consumerGroup": group, "clientId": client, "msgId": msg_id, "brokerName": "broker-a"})
    res = json.loads(b)
    expect(res["consumeResult"] == "CR_SUCCESS" and res["order"] is False and res["autoCommit"] is True
           and res["spentTimeMills"] >= 0, "309 result", res)

    def printed():
        with open(out_file, errors="replace") as f:
            return [l for l in f if l.startswith("ConsumeMessageDirectly Receive New Messages")
                    and "TAGS=DirectTag" in l and msg_id in l]
    wait_for("the listener got the 309 message", printed, 10)

    # 307: running info with the per-topic status table (the 309 message also came the usual
    # way, so the last minute has traffic)
    def running():
        _, b = call(B, 307, {"consumerGroup": group, "clientId": client, "jstackEnable": "false"})
        status = json.loads(b[b.index(b'"statusTable":') + 14:-1])
        st = status.get("TopicTest")
        expect(st and set(st) == {"pullRT", "pullTPS", "consumeRT", "consumeOKTPS", "consumeFailedTPS",
                                  "consumeFailedMsgs"} and st["consumeFailedMsgs"] == 0, "307 statusTable", status)
        expect(("%RETRY%" + group) in status and b'"PROP_CLIENT_VERSION":"' in b, "307 retry, properties", b[:300])
        return st["consumeOKTPS"] > 0 and st["pullTPS"] > 0 and st["consumeRT"] >= 0
    wait_for("307 statusTable shows consumption", running, 20)
    _, b = call(B, 307, {"consumerGroup": group, "clientId": client, "jstackEnable": "true"})
    expect(re.search(rb'"jstack":"Loulan C client, process \d+: threads.*tid=\d+ state=[A-Z]', b), "307 jstack", b[-300:])
    call(B, 307, {"consumerGroup": group, "clientId": "not-a-client", "jstackEnable": "false"}, want=1)
    beyond = msg_id[:16] + "%016X" % (1 << 40)   # this broker, an offset past its commit log
    h, _ = call(B, 309, {"consumerGroup": group, "clientId": client, "msgId": beyond, "brokerName": "x"}, want=1)
    expect("can not find message" in h["remark"], "309 unknown msgId", h)
    h, _ = call(B, 309, {"consumerGroup": group, "clientId": client, "msgId": "not hex", "brokerName": "x"}, want=1)
    h, _ = call(B, 309, {"consumerGroup": group, "clientId": "gone@1", "msgId": msg_id, "brokerName": "x"}, want=1)
    expect("not online" in h["remark"], "309 offline client", h)
    ok("B 203 204 208 317 315 307 309 (C consumer answers CR_SUCCESS)")


def calls(ns_port, br_port, out_file, group):
    N, B = Conn(ns_port, timeout=20), Conn(br_port, timeout=20)
    broker_addr = "127.0.0.1:%d" % br_port
    check_namesrv(N, broker_addr)
    check_runtime_info(B)
    # the console's default isVIPChannel=true sends its admin calls to the port 2 below
    V = Conn(br_port - 2, timeout=20)
    _, b = call(V, 28)
    expect(b'"putTps":"' in b, "28 on the VIP port", b[:100])
    V.close()
    ok("VIP port answers")
    check_topics(B, N)
    check_messages(B, N, broker_addr)
    check_groups(B)
    check_consumers(B, group, out_file)
    print("ok: " + "; ".join(checked))


# ---- the day roll-over ----------------------------------------------------------------------

def free_port():
    for _ in range(200):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", 0))
            p = s.getsockname()[1]
        finally:
            s.close()
        if p > 1024 and all(_free(q) for q in (p - 2, p + 1)):
            return p
    fail("day", "no free port")


def _free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
        return True
    except OSError:
        return False
    finally:
        s.close()


def runtime(B):
    _, b = call(B, 28)
    t = json.loads(b)["table"]
    return {d + w: int(t["msg%sTotal%s" % (d, w)]) for d in ("Put", "Get")
            for w in ("YesterdayMorning", "TodayMorning", "TodayNow")}


def traffic(B, n, tag):
    for i in range(n):
        r = send_v2(B, "DayTopic", b"%s %d" % (tag.encode(), i))
        expect(r and r[0]["code"] == 0, "day send", r and r[0])


def day(bin_dir, work):
    """A broker whose local midnight is `lead` seconds after its start (TZ with a seconds offset):
    3 messages before midnight, 2 after; RocketMQ's counters must split them as yesterday/today."""
    for lead in (15, 30, 60):   # a slow start (sanitizers, busy machine) gets a later midnight
        port = free_port()
        midnight = int(time.time()) + lead
        off = midnight % 86400
        tz = "LTZ+%d:%02d:%02d" % (off // 3600, off % 3600 // 60, off % 60)   # local = UTC - off
        conf = os.path.join(work, "day.conf")
        with open(conf, "w") as f:
            f.write("brokerClusterName=DayCluster\nbrokerName=broker-day\nbrokerId=0\nbrokerIP1=127.0.0.1\n"
                    "listenPort=%d\nstorePathRootDir=%s\nautoCreateTopicEnable=true\n"
                    "mapedFileSizeCommitLog=67108864\ndiskSpaceWarningLevelRatio=99\n"
                    "diskSpaceCleanForciblyRatio=99\ngrpcServerPort=0\n" % (port, os.path.join(work, "day-store-%d" % lead)))
        out = open(os.path.join(work, "day.out"), "a")
        proc = subprocess.Popen([os.path.join(bin_dir, "mqbroker"), "-c", conf], stdout=out, stderr=out,
                                env=dict(os.environ, TZ=tz))
        try:
            deadline = time.time() + 60
            while not _connects(port):
                expect(proc.poll() is None and time.time() < deadline, "day broker start", "see day.out")
                time.sleep(0.1)
            B = Conn(port, timeout=20)
            if time.time() > midnight - 5:
                continue     # too close to midnight to do the first half safely: again, later
            traffic(B, 3, "before")
            expect(len(pull_all(B, "DayTopic", 0)) == 3, "day pull", "")
            before = runtime(B)
            if time.time() > midnight - 1:
                continue     # the first half may have crossed midnight: again, with more room
            expect(before == {"PutYesterdayMorning": 0, "PutTodayMorning": 0, "PutTodayNow": 3,
                              "GetYesterdayMorning": 0, "GetTodayMorning": 0, "GetTodayNow": 3},
                   "day: counters before midnight", before)
            # the broker samples every second: it rolls over at the first sample after midnight
            wait_for("the day rolls over", lambda: runtime(B)["PutTodayMorning"] == 3, (midnight - time.time()) + 20)
            traffic(B, 2, "after")
            expect(len(pull_all(B, "DayTopic", 0, group="OTHER")) == 5, "day pull after", "")
            after = runtime(B)
            expect(after == {"PutYesterdayMorning": 0, "PutTodayMorning": 3, "PutTodayNow": 5,
                             "GetYesterdayMorning": 0, "GetTodayMorning": 3, "GetTodayNow": 8},
                   "day: counters after midnight", after)
            print("ok: day roll-over at local midnight (yesterday 3 put / 3 got, today 2 put / 5 got)")
            return
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            out.close()
    fail("day", "the broker never started early enough before its midnight")


def _connects(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


if __name__ == "__main__":
    if sys.argv[1] == "calls":
        calls(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5])
    elif sys.argv[1] == "day":
        day(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
