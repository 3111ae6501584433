"""API test of loulan-dashboard's cluster, topic, producer and OPS/proxy requests (spec
dashboard.md §3.2, §3.3, §3.5, §3.10) against a real name server and broker.

Usage: dashboard_topic.py <dashboard url> <name server addr> <bin dir> <broker addr>

What it proves, section by section: the answers' shapes and field names; errors as
{status:-1, errMsg} for missing and bad parameters; cluster/list.query fans out to the brokers in
parallel and shows a dead broker as an empty map; the topic lists classify, filter and page on the
server and stay fast with 10,000 topics; create/update/delete/send really change the broker;
the OPS switches change what later requests do. Hostile inputs never kill the dashboard."""
import http.client
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dashboard_http import Dash, check, has_fields  # noqa: E402
from rmq_frames import Conn, frame  # noqa: E402

URL, NS, BIN, BROKER = sys.argv[1:5]
NS_PORT = int(NS.rsplit(":", 1)[1])
BROKER_PORT = int(BROKER.rsplit(":", 1)[1])
SLOW = 3.0 if os.environ.get("LOULAN_SLOW") else 1.0
NTOPICS = 10000
d = Dash(URL, timeout=60)
t_start = time.monotonic()


def step(name):
    print("[%5.1fs] %s" % (time.monotonic() - t_start, name), flush=True)


def wait_until(what, fn, limit=60):
    """fn() until truthy, bounded by wall clock; its last value."""
    deadline = time.monotonic() + limit * SLOW
    while True:
        v = fn()
        if v:
            return v
        check(time.monotonic() < deadline, "not within %ds: %s" % (limit, what))
        time.sleep(0.1)


def ns_topics():
    c = Conn(NS_PORT, timeout=30)
    try:
        r = c.call(206)
        return set(json.loads(r[1])["topicList"]) if r and r[0]["code"] == 0 else set()
    finally:
        c.close()


def create_topics_raw(names, typed=(), batch=500):
    """UPDATE_AND_CREATE_TOPIC (17) to the broker, pipelined in batches: 10,000 topics in seconds.
    Topics in `typed` get RocketMQ 5's attribute message.type=NORMAL."""
    c = Conn(BROKER_PORT, timeout=60)

    def ext(t):
        e = {"topic": t, "defaultTopic": "TBW102", "readQueueNums": 1, "writeQueueNums": 1, "perm": 6,
             "topicFilterType": "SINGLE_TAG", "topicSysFlag": 0, "order": "false"}
        if t in typed:
            e["attributes"] = "+message.type=NORMAL"
        return e

    for i in range(0, len(names), batch):
        chunk = names[i:i + batch]
        data = b"".join(frame(17, ext(t), opaque=1000000 + i + k) for k, t in enumerate(chunk))
        c.send_raw(data)
        for _ in chunk:
            r = c.recv_frame()
            check(r is not None and r[0]["code"] == 0, "create topic: %r" % (r and r[0],))
    c.close()


def survive(*args, **kw):
    """A request the server may refuse any way it likes (status, or closing the connection)."""
    try:
        return d.raw(*args, **kw)[0]
    except (OSError, http.client.HTTPException):
        return None


def err_typed(path, body):
    """errMsg of a POST whose raw body claims to be JSON."""
    env = d.call("POST", path, None, body, {"Content-Type": "application/json"})
    check(env["status"] == -1 and env["data"] is None and env["errMsg"], "%s %r: expected an error: %r" % (path, body[:40], env))
    return env["errMsg"]


def alive():
    home = d.ok("GET", "ops/homePage.query")
    check("currentNamesrv" in home, "dashboard answers")


# ---------------------------------------------------------------- cluster
step("cluster/list.query")
cl = d.ok("GET", "cluster/list.query")
has_fields(cl, ["clusterInfo", "brokerServer", "messageTypes"], "cluster/list.query")
has_fields(cl["clusterInfo"], ["brokerAddrTable", "clusterAddrTable"], "clusterInfo")
bd = cl["clusterInfo"]["brokerAddrTable"]["broker-a"]
has_fields(bd, ["cluster", "brokerName", "brokerAddrs"], "brokerData")
check(bd["brokerAddrs"] == {"0": BROKER}, "broker-a's address: %r" % bd["brokerAddrs"])
check(cl["clusterInfo"]["clusterAddrTable"]["DefaultCluster"] == ["broker-a"], "clusterAddrTable")
rt = cl["brokerServer"]["broker-a"]["0"]
has_fields(rt, ["brokerVersionDesc", "putTps", "getTransferedTps", "msgPutTotalTodayNow", "msgGetTotalTodayNow",
                "msgPutTotalTodayMorning", "msgGetTotalYesterdayMorning"], "runtime info")
check(all(isinstance(v, str) for v in rt.values()), "runtime values are strings")
check(set(cl["messageTypes"]) >= {"UNSPECIFIED", "NORMAL", "FIFO", "DELAY", "TRANSACTION"} and
      cl["messageTypes"]["NORMAL"] == "MESSAGE_TYPE_NORMAL", "messageTypes: %r" % cl["messageTypes"])

step("cluster/brokerConfig.query")
cfg = d.ok("GET", "cluster/brokerConfig.query", {"brokerAddr": BROKER})
check(cfg.get("brokerName") == "broker-a" and cfg.get("listenPort") == str(BROKER_PORT), "broker config: %r" % cfg)
check("required" in d.err("GET", "cluster/brokerConfig.query"), "brokerAddr required")
for bad in ["10.255.255.1:10911", "x" * 5000, "127.0.0.1:%d" % NS_PORT, "'; DROP"]:
    check("not a broker" in d.err("GET", "cluster/brokerConfig.query", {"brokerAddr": bad}),
          "brokerConfig of an unknown address refused: %s" % bad[:40])


# A name server entry for brokers that are not there: one dead (nothing listens) and three that
# accept and never answer. Registered over one connection: closing it removes them again.
class Silent:
    """A TCP listener that accepts and never answers."""

    def __init__(self):
        self.s = socket.socket()
        self.s.bind(("127.0.0.1", 0))
        self.s.listen(64)
        self.port = self.s.getsockname()[1]
        self.conns = []
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while True:
            try:
                c, _ = self.s.accept()
            except OSError:
                return
            self.conns.append(c)


def free_dead_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def register(conn, name, addr, opaque):
    table = {"FakeTopic": {"order": False, "perm": 6, "readQueueNums": 1, "topicFilterType": "SINGLE_TAG",
                           "topicName": "FakeTopic", "topicSysFlag": 0, "writeQueueNums": 1}}
    body = json.dumps({"filterServerList": [], "topicConfigSerializeWrapper": {
        "dataVersion": {"counter": 1, "timestamp": int(time.time() * 1000)}, "topicConfigTable": table}}).encode()
    ext = {"brokerId": 0, "clusterName": "FakeCluster", "brokerAddr": addr, "haServerAddr": addr,
           "compressed": "false", "brokerName": name}
    conn.send_raw(frame(103, ext, body, opaque=opaque))
    r = conn.recv_frame()
    check(r is not None and r[0]["code"] == 0, "fake broker %s registered: %r" % (name, r and r[0]))


step("cluster/list.query with a dead and three silent brokers")
silent = [Silent() for _ in range(3)]
fake = Conn(NS_PORT, timeout=30)
register(fake, "broker-dead", "127.0.0.1:%d" % free_dead_port(), 1)
for i, s in enumerate(silent):
    register(fake, "broker-silent%d" % i, "127.0.0.1:%d" % s.port, 2 + i)
t0 = time.monotonic()
cl = d.ok("GET", "cluster/list.query")
took = time.monotonic() - t0
print("cluster/list.query with 3 silent brokers (timeoutMillis 3000): %.2f s" % took)
bs = cl["brokerServer"]
check(bs.get("broker-dead") == {"0": {}}, "a dead broker shows as an empty map: %r" % bs.get("broker-dead"))
check(all(bs.get("broker-silent%d" % i) == {"0": {}} for i in range(3)), "silent brokers: empty maps")
check(bs["broker-a"]["0"].get("brokerVersionDesc"), "the live broker still answers in full")
# serially the three silent brokers would cost 3 x 3 s; in parallel one timeout
check(took < 7.0, "runtime info fetched in parallel: %.2f s" % took)
check("FakeCluster" in cl["clusterInfo"]["clusterAddrTable"], "fake cluster listed")
fake.close()
wait_until("the fake brokers leave the name server",
           lambda: "broker-dead" not in d.ok("GET", "cluster/list.query")["brokerServer"])
for s in silent:
    s.s.close()

# ---------------------------------------------------------------- ops / proxy
step("ops")
home = d.ok("GET", "ops/homePage.query")
check(home == {"currentNamesrv": NS, "namesvrAddrList": [NS], "useVIPChannel": False, "useTLS": False},
      "ops/homePage.query: %r" % home)
status, hdrs, body = d.raw("GET", "rocketmq/nsaddr.query")
check(status == 200 and body.decode() == NS and hdrs.get("Content-Type", "").startswith("text/plain"),
      "rocketmq/nsaddr.query raw text: %r" % body[:100])
check(d.ok("GET", "ops/rocketMqStatus.query") == {"CLUSTER_HEALTH_CHECK": None, "TOPIC_ONLY_ONE_BROKER_CHECK": None},
      "rocketMqStatus")
dead_ns = "127.0.0.1:%d" % free_dead_port()
check(d.ok("POST", "ops/addNameSvrAddr.do", {"newNamesrvAddr": dead_ns}) is True, "addNameSvrAddr")
home = d.ok("GET", "ops/homePage.query")
check(home["namesvrAddrList"] == [NS, dead_ns] and home["currentNamesrv"] == NS, "added, not current: %r" % home)
check(d.ok("POST", "ops/updateNameSvrAddr.do", {"nameSvrAddrList": dead_ns}) is True, "updateNameSvrAddr")
check(d.ok("GET", "ops/homePage.query")["currentNamesrv"] == dead_ns, "switched")
check(d.raw("GET", "rocketmq/nsaddr.query")[2].decode() == dead_ns, "nsaddr follows the switch")
check("no answer" in d.err("GET", "cluster/list.query"), "requests go to the new (dead) name server")
check(d.ok("POST", "ops/updateNameSvrAddr.do", {"nameSvrAddrList": NS}) is True, "switch back")
check(d.ok("GET", "ops/homePage.query")["namesvrAddrList"] == [NS, dead_ns], "no duplicate entry")
check(d.ok("GET", "cluster/list.query")["brokerServer"]["broker-a"]["0"], "back on the live name server")
for bad in ["", "   ", "nocolon", "host:", ":9876", "a:99999", "a:0", "a:12x", "a:1;", "a:1;;b:2", "x" * 300 + ":1",
            "<script>:1", "a b:1"]:
    d.err("POST", "ops/addNameSvrAddr.do", {"newNamesrvAddr": bad})
    d.err("POST", "ops/updateNameSvrAddr.do", {"nameSvrAddrList": bad})
d.err("POST", "ops/addNameSvrAddr.do")
check(d.ok("GET", "ops/homePage.query")["namesvrAddrList"] == [NS, dead_ns], "bad addresses were not added")
check(d.ok("POST", "ops/addNameSvrAddr.do", {"newNamesrvAddr": "10.0.0.1:9876;10.0.0.2:9876"}) is True,
      "an entry of two name servers")

check(d.ok("POST", "ops/updateIsVIPChannel.do", {"useVIPChannel": "true"}) is True, "VIP on")
check(d.ok("GET", "ops/homePage.query")["useVIPChannel"] is True, "VIP shown on")
# broker requests now go to the VIP port (listen port - 2), which the broker serves
check(d.ok("GET", "cluster/brokerConfig.query", {"brokerAddr": BROKER})["brokerName"] == "broker-a", "config via VIP")
check(d.ok("GET", "cluster/list.query")["brokerServer"]["broker-a"]["0"].get("brokerVersionDesc"), "runtime via VIP")
check(d.ok("POST", "ops/updateIsVIPChannel.do", {"useVIPChannel": "false"}) is True, "VIP off")
check(d.ok("GET", "ops/homePage.query")["useVIPChannel"] is False, "VIP shown off")
check("required" in d.err("POST", "ops/updateIsVIPChannel.do"), "useVIPChannel required")
check("true or false" in d.err("POST", "ops/updateIsVIPChannel.do", {"useVIPChannel": "maybe"}), "bad bool")
check(d.ok("POST", "ops/updateUseTLS.do", {"useTLS": "true"}) is True, "TLS on")
check(d.ok("GET", "ops/homePage.query")["useTLS"] is True, "TLS shown on")
check(d.ok("POST", "ops/updateUseTLS.do", {"useTLS": "false"}) is True, "TLS off")
check(d.ok("GET", "ops/homePage.query")["useTLS"] is False, "TLS shown off")
check(d.ok("GET", "cluster/list.query")["brokerServer"]["broker-a"]["0"], "plain connections again")
d.err("POST", "ops/updateUseTLS.do")
d.err("POST", "ops/updateUseTLS.do", {"useTLS": "1" * 1000})
for path in ["ops/updateNameSvrAddr.do", "ops/updateIsVIPChannel.do", "topic/deleteTopic.do", "topic/createOrUpdate.do"]:
    check(d.raw("GET", path, {"useVIPChannel": "true", "topic": "x"})[0] == 405, "GET %s refused" % path)

step("proxy")
ph = d.ok("GET", "proxy/homePage.query")
has_fields(ph, ["currentProxyAddr", "proxyAddrList"], "proxy/homePage.query")
check(ph["currentProxyAddr"] in ph["proxyAddrList"], "current proxy listed")
check(d.ok("POST", "proxy/addProxyAddr.do", {"newProxyAddr": "127.0.0.1:8081"}) is True, "addProxyAddr")
ph = d.ok("GET", "proxy/homePage.query")
check("127.0.0.1:8081" in ph["proxyAddrList"] and ph["currentProxyAddr"] != "127.0.0.1:8081", "proxy added")
check(d.ok("POST", "proxy/updateProxyAddr.do", {"proxyAddr": "127.0.0.1:8081"}) is True, "updateProxyAddr")
check(d.ok("GET", "proxy/homePage.query")["currentProxyAddr"] == "127.0.0.1:8081", "proxy switched")
d.err("POST", "proxy/addProxyAddr.do")
d.err("POST", "proxy/updateProxyAddr.do", {"proxyAddr": "nope"})

# ---------------------------------------------------------------- topic create / config / route / stats
step("topic/createOrUpdate.do")
check(d.ok("POST", "topic/createOrUpdate.do", body={"clusterNameList": ["DefaultCluster"], "brokerNameList": [],
                                                   "topicName": "DashFifo", "writeQueueNums": 4, "readQueueNums": 4,
                                                   "perm": 6, "order": False, "messageType": "FIFO"}) is True, "create FIFO")
for name, mt in [("DashDelay", "DELAY"), ("DashTx", "TRANSACTION"), ("DashNormal", "NORMAL"), ("DashDefault", None)]:
    b = {"brokerNameList": ["broker-a"], "topicName": name}
    if mt:
        b["messageType"] = mt
    check(d.ok("POST", "topic/createOrUpdate.do", body=b) is True, "create %s" % name)
cfgs = d.ok("GET", "topic/examineTopicConfig.query", {"topic": "DashFifo"})
check(isinstance(cfgs, list) and len(cfgs) == 1, "examineTopicConfig: one per broker: %r" % cfgs)
has_fields(cfgs[0], ["clusterNameList", "brokerNameList", "topicName", "writeQueueNums", "readQueueNums", "perm",
                     "order", "messageType"], "TopicConfigInfo")
check(cfgs[0]["brokerNameList"] == ["broker-a"] and cfgs[0]["writeQueueNums"] == 4 and cfgs[0]["readQueueNums"] == 4
      and cfgs[0]["perm"] == 6 and cfgs[0]["messageType"] == "FIFO" and cfgs[0]["clusterNameList"] is None,
      "DashFifo's config: %r" % cfgs[0])
check(d.ok("GET", "topic/examineTopicConfig.query", {"topic": "DashDefault"})[0]["messageType"] == "NORMAL",
      "the default message type is NORMAL")
# update: queues and perm change, the type stays
check(d.ok("POST", "topic/createOrUpdate.do", body={"brokerNameList": ["broker-a"], "topicName": "DashFifo",
                                                   "writeQueueNums": "2", "readQueueNums": 2, "perm": 4,
                                                   "messageType": "UNSPECIFIED"}) is True, "update")
c = d.ok("GET", "topic/examineTopicConfig.query", {"topic": "DashFifo"})[0]
check(c["writeQueueNums"] == 2 and c["readQueueNums"] == 2 and c["perm"] == 4 and c["messageType"] == "FIFO",
      "updated config: %r" % c)
check("all blank" in d.err("POST", "topic/createOrUpdate.do", body={"topicName": "X1", "clusterNameList": [],
                                                                    "brokerNameList": []}), "no cluster nor broker")
bad_bodies = [
    ({"brokerNameList": ["broker-a"]}, "topicName"),
    ({"brokerNameList": ["broker-a"], "topicName": "bad name!"}, "topicName"),
    ({"brokerNameList": ["broker-a"], "topicName": "T" * 200}, "topicName"),
    ({"brokerNameList": ["broker-a"], "topicName": 42}, "topicName"),
    ({"brokerNameList": ["broker-a"], "topicName": "X1", "writeQueueNums": 99999999999999999999999}, "writeQueueNums"),
    ({"brokerNameList": ["broker-a"], "topicName": "X1", "writeQueueNums": 1e30}, "writeQueueNums"),
    ({"brokerNameList": ["broker-a"], "topicName": "X1", "readQueueNums": -1}, "readQueueNums"),
    ({"brokerNameList": ["broker-a"], "topicName": "X1", "readQueueNums": "abc"}, "readQueueNums"),
    ({"brokerNameList": ["broker-a"], "topicName": "X1", "perm": 99}, "perm"),
    ({"brokerNameList": ["broker-a"], "topicName": "X1", "messageType": "BOGUS"}, "messageType"),
    ({"brokerNameList": ["broker-zz"], "topicName": "X1"}, "not found"),
    ({"clusterNameList": ["NoCluster"], "topicName": "X1"}, "not found"),
    ({"clusterNameList": "DefaultCluster", "topicName": "X1"}, "arrays"),
    ({"clusterNameList": [17], "topicName": "X1"}, "not found"),
    ({"brokerNameList": ["broker-a"], "topicName": "TBW102"}, "conflict"),
]
for b, word in bad_bodies:
    msg = d.err("POST", "topic/createOrUpdate.do", body=b)
    check(word in msg, "createOrUpdate %r: %s" % (b, msg))
for raw in [b"{", b"[1,2]", b"null", b"\x00\xff" * 100, b'{"topicName":' * 200]:
    err_typed("topic/createOrUpdate.do", raw)
check("X1" not in ns_topics(), "no bad request created a topic")

step("topic/route.query, stats.query")
route = wait_until("DashDefault routed", lambda: "DashDefault" in ns_topics() and
                   d.ok("GET", "topic/route.query", {"topic": "DashDefault"}))
has_fields(route, ["orderTopicConf", "queueDatas", "brokerDatas", "filterServerTable"], "TopicRouteData")
has_fields(route["queueDatas"][0], ["brokerName", "readQueueNums", "writeQueueNums", "perm", "topicSysFlag"], "queueData")
check(route["brokerDatas"][0]["brokerAddrs"] == {"0": BROKER}, "route's broker")
st = d.ok("GET", "topic/stats.query", {"topic": "DashDefault"})
keys = sorted(st["offsetTable"])
check(len(keys) == 8 and keys[0] == "MessageQueue [topic=DashDefault, brokerName=broker-a, queueId=0]",
      "stats keys: %r" % keys[:2])
has_fields(st["offsetTable"][keys[0]], ["minOffset", "maxOffset", "lastUpdateTimestamp"], "TopicOffset")
for p in ["topic/route.query", "topic/stats.query", "topic/examineTopicConfig.query"]:
    check("required" in d.err("GET", p), p + " without topic")
    check("CODE: 17" in d.err("GET", p, {"topic": "NoSuchTopic"}), p + " unknown topic")
    check("bad topic" in d.err("GET", p, {"topic": "a b/../c"}), p + " bad name")
    check("bad topic" in d.err("GET", p, {"topic": "Z" * 1000}), p + " long name")
    survive("GET", p, {"topic": "Z" * 100000})  # beyond the server's request size: refused, not a crash

# ---------------------------------------------------------------- send / producer
step("topic/sendTopicMessage.do")
subprocess.run([BIN + "/producer", "-n", NS, "-t", "TopicTest", "-c", "10"], check=True, stdout=subprocess.DEVNULL,
               timeout=120 * SLOW)


def total_max(topic):
    return sum(v["maxOffset"] for v in d.ok("GET", "topic/stats.query", {"topic": topic})["offsetTable"].values())


wait_until("the C producer's 10 messages", lambda: "TopicTest" in ns_topics() and total_max("TopicTest") == 10)
res = d.ok("POST", "topic/sendTopicMessage.do",
           body={"topic": "TopicTest", "key": "dash-key", "tag": "dash-tag", "messageBody": "hello from the dashboard",
                 "traceEnabled": False})
has_fields(res, ["sendStatus", "msgId", "offsetMsgId", "messageQueue", "queueOffset", "transactionId", "regionId",
                 "traceOn"], "SendResult")
check(res["sendStatus"] == "SEND_OK" and len(res["msgId"]) == 32 and len(res["offsetMsgId"]) == 32 and
      res["traceOn"] is False and res["transactionId"] is None, "send result: %r" % res)
has_fields(res["messageQueue"], ["topic", "brokerName", "queueId"], "messageQueue")
check(res["messageQueue"]["topic"] == "TopicTest" and res["messageQueue"]["brokerName"] == "broker-a", "queue")
check(total_max("TopicTest") == 11, "the test message is stored")
# the message really carries the key and tag: find it by key on the broker (QUERY_MESSAGE, 12)


def by_key(key):
    qc = Conn(BROKER_PORT)
    try:
        r = qc.call(12, {"topic": "TopicTest", "key": key, "maxNum": 32, "beginTimestamp": 0,
                         "endTimestamp": int(time.time() * 1000) + 60000})
        return r[1] if r is not None and r[0]["code"] == 0 else None
    finally:
        qc.close()


qr = wait_until("the test message is indexed by its key", lambda: by_key("dash-key"))
check(b"hello from the dashboard" in qr and b"dash-tag" in qr, "message found by its key with its tag and body")
res2 = d.ok("POST", "topic/sendTopicMessage.do", body={"topic": "TopicTest", "key": "k", "tag": "t",
                                                        "messageBody": "traced", "traceEnabled": True})
check(res2["traceOn"] is True and res2["msgId"] != res["msgId"], "traced send: %r" % res2)
rtx = d.ok("POST", "topic/sendTopicMessage.do", body={"topic": "DashTx", "key": "k", "tag": "t", "messageBody": "tx"})
check(rtx["transactionId"] == rtx["msgId"], "a TRANSACTION topic is sent in a transaction: %r" % rtx)
wait_until("the transactional message is committed", lambda: total_max("DashTx") == 1)
check("CODE: 17" in d.err("POST", "topic/sendTopicMessage.do", body={"topic": "NoSuchTopic", "messageBody": "x"}),
      "unknown topic: not auto-created")
check("NoSuchTopic" not in ns_topics(), "unknown topic not created")
d.err("POST", "topic/sendTopicMessage.do", body={"messageBody": "x"})
d.err("POST", "topic/sendTopicMessage.do", body={"topic": "TopicTest", "messageBody": {"a": 1}})
err_typed("topic/sendTopicMessage.do", b"not json")
d.err("POST", "topic/sendTopicMessage.do", body=[{"topic": "TopicTest"}])
d.err("POST", "topic/sendTopicMessage.do", {"topic": "TopicTest", "messageBody": "x"})  # form, not JSON
check(d.raw("POST", "topic/sendTopicMessage.do", body={"topic": "TopicTest", "messageBody": "x" * (5 << 20)})[0] == 413,
      "a body over 4 MiB is refused")
check(total_max("TopicTest") == 12, "no bad request sent a message")

step("producer/producerConnection.query")
pc = d.ok("GET", "producer/producerConnection.query", {"producerGroup": "SELF_TEST_P_GROUP", "topic": "TopicTest"})
check(isinstance(pc["connectionSet"], list) and len(pc["connectionSet"]) >= 1, "the dashboard's producer: %r" % pc)
for conn in pc["connectionSet"]:
    has_fields(conn, ["clientId", "clientAddr", "language", "version", "versionDesc"], "connection")
    check(conn["versionDesc"].startswith("V") and conn["clientAddr"].startswith("127.0.0.1:"), "connection %r" % conn)
check("not exist" in d.err("GET", "producer/producerConnection.query",
                           {"producerGroup": "NoSuchGroup", "topic": "TopicTest"}), "unknown group")
check("required" in d.err("GET", "producer/producerConnection.query", {"topic": "TopicTest"}), "group required")
check("required" in d.err("GET", "producer/producerConnection.query", {"producerGroup": "G"}), "topic required")
check("CODE: 17" in d.err("GET", "producer/producerConnection.query", {"producerGroup": "G", "topic": "NoSuch"}),
      "unknown topic")

# ---------------------------------------------------------------- the lists, with 10,000 topics
step("create %d topics" % NTOPICS)
many = ["Bulk%05d" % i for i in range(NTOPICS)]
# half of them typed as a RocketMQ 5 console makes them, half bare as a 4.x one
create_topics_raw(many + ["%RETRY%DashGroup", "%DLQ%DashGroup"], typed=set(many[NTOPICS // 2:]))
wanted = set(many) | {"%RETRY%DashGroup", "%DLQ%DashGroup"}
wait_until("the name server lists every topic", lambda: wanted <= ns_topics(), limit=120)
step("topic lists")
t0 = time.monotonic()
full = d.ok("GET", "topic/list.queryTopicType")
t_cold = time.monotonic() - t0
names, kinds = full["topicNameList"], full["messageTypeList"]
check(set(full) == {"topicNameList", "messageTypeList"}, "no paging fields without pageNum: %r" % list(full))
check(len(names) == len(kinds) >= NTOPICS + 10 and names == sorted(names), "full type list, sorted: %d" % len(names))
kind = dict(zip(names, kinds))
expect = {"DashFifo": "FIFO", "DashDelay": "DELAY", "DashTx": "TRANSACTION", "DashNormal": "NORMAL",
          "Bulk00042": "UNSPECIFIED", "Bulk09999": "NORMAL", "%RETRY%DashGroup": "RETRY", "%DLQ%DashGroup": "DLQ", "%SYS%TBW102": "SYSTEM",
          "%SYS%SCHEDULE_TOPIC_XXXX": "SYSTEM", "%SYS%DefaultCluster": "SYSTEM", "%SYS%broker-a": "SYSTEM"}
for n, k in expect.items():
    check(kind.get(n) == k, "%s is %s, got %s" % (n, k, kind.get(n)))
check("TBW102" not in kind, "system topics only with the %SYS% prefix")
check(sum(1 for n in many if kind.get(n) == "NORMAL") == NTOPICS // 2, "every typed bulk topic is NORMAL")

timings = []
for _ in range(3):
    t0 = time.monotonic()
    d.ok("GET", "topic/list.queryTopicType")
    timings.append(time.monotonic() - t0)
t0 = time.monotonic()
page = d.ok("GET", "topic/list.queryTopicType", {"pageNum": 2, "pageSize": 20, "filter": "bulk00", "types": "NORMAL"})
t_page = time.monotonic() - t0
t0 = time.monotonic()
lq = d.ok("GET", "topic/list.query")
t_list = time.monotonic() - t0
print("with %d topics: list.queryTopicType first %.0f ms (reads every table), then %.0f/%.0f/%.0f ms (whole list), "
      "paged+filtered %.0f ms, list.query %.0f ms" % (len(names), t_cold * 1e3, timings[0] * 1e3, timings[1] * 1e3, timings[2] * 1e3, t_page * 1e3, t_list * 1e3))
check(t_cold < 3.0 * SLOW and max(timings) < 3.0 * SLOW and t_page < 3.0 * SLOW and t_list < 3.0 * SLOW, "lists answer within 3 s")

check(page["total"] == 1000 and page["pageNum"] == 2 and page["pageSize"] == 20, "paging info: %r" %
      {k: page[k] for k in ("total", "pageNum", "pageSize")})
check(page["topicNameList"] == ["Bulk%05d" % i for i in range(20, 40)] and
      page["messageTypeList"] == ["UNSPECIFIED"] * 20, "page 2 of the filtered list: %r" % page["topicNameList"][:3])
last = d.ok("GET", "topic/list.queryTopicType", {"pageNum": 50, "pageSize": 20, "filter": "BULK00"})
check(last["topicNameList"][-1] == "Bulk00999" and len(last["topicNameList"]) == 20, "the last page")
beyond = d.ok("GET", "topic/list.queryTopicType", {"pageNum": 999999, "pageSize": 1000})
check(beyond["topicNameList"] == [] and beyond["total"] == len(names), "a page beyond the end is empty")
t = d.ok("GET", "topic/list.queryTopicType", {"types": "FIFO,DELAY,TRANSACTION"})
check(t["topicNameList"] == ["DashDelay", "DashFifo", "DashTx"], "types filter: %r" % t["topicNameList"])
t = d.ok("GET", "topic/list.queryTopicType", {"types": "retry, dlq", "filter": "dashgroup"})
check(t == {"topicNameList": ["%DLQ%DashGroup", "%RETRY%DashGroup"], "messageTypeList": ["DLQ", "RETRY"]},
      "RETRY and DLQ filters: %r" % t)
t = d.ok("GET", "topic/list.queryTopicType", {"types": "SYSTEM", "filter": "tbw"})
check(t["topicNameList"] == ["%SYS%TBW102"], "SYSTEM filter matches the name without its prefix: %r" % t)
t = d.ok("GET", "topic/list.queryTopicType", {"types": "NORMAL", "filter": "dash"})
check(t["topicNameList"] == ["DashDefault", "DashNormal"] and "UNSPECIFIED" not in t["messageTypeList"],
      "NORMAL: %r" % t)
t = d.ok("GET", "topic/list.queryTopicType", {"types": "NORMAL", "filter": "topictest"})
check(t["topicNameList"] == ["TopicTest"] and t["messageTypeList"] == ["UNSPECIFIED"], "NORMAL takes in UNSPECIFIED")
check(d.ok("GET", "topic/list.queryTopicType", {"types": ""})["topicNameList"] == [], "no type ticked: nothing")
check("bad types" in d.err("GET", "topic/list.queryTopicType", {"types": "NORMAL,BOGUS"}), "unknown type")
check("pageSize" in d.err("GET", "topic/list.queryTopicType", {"pageNum": 1, "pageSize": 100000}), "huge pageSize")
check("pageNum" in d.err("GET", "topic/list.queryTopicType", {"pageNum": 0}), "pageNum 0")
d.err("GET", "topic/list.queryTopicType", {"pageNum": "99999999999999999999999"})
d.err("GET", "topic/list.queryTopicType", {"pageNum": "x"})

lst = lq["topicList"]
check(set(lq) == {"topicList", "brokerAddr"} and lq["brokerAddr"] is None, "list.query shape: %r" % list(lq))
check("%SYS%TBW102" in lst and "TBW102" not in lst and "%RETRY%DashGroup" in lst and "Bulk09999" in lst,
      "list.query marks system topics")
check(set(lst) == set(names), "list.query and list.queryTopicType list the same topics")
plain = d.ok("GET", "topic/list.query", {"skipSysProcess": "true", "skipRetryAndDlq": "true"})["topicList"]
check("TBW102" in plain and "%SYS%TBW102" not in plain and "%RETRY%DashGroup" not in plain and
      "%DLQ%DashGroup" not in plain and "TopicTest" in plain, "skipSysProcess/skipRetryAndDlq")
pl = d.ok("GET", "topic/list.query", {"pageNum": 1, "pageSize": 5, "filter": "dash", "types": "FIFO,RETRY"})
check(pl["topicList"] == ["%RETRY%DashGroup", "DashFifo"] and pl["total"] == 2, "list.query filtered: %r" % pl)
check("true or false" in d.err("GET", "topic/list.query", {"skipSysProcess": "yes"}), "bad bool")
# types are cached per broker by its table's data version: a change shows once the name server has it
check(d.ok("POST", "topic/createOrUpdate.do", body={"brokerNameList": ["broker-a"], "topicName": "DashDefault",
                                                   "messageType": "DELAY"}) is True, "DashDefault becomes DELAY")
wait_until("the new type is listed", lambda: d.ok("GET", "topic/list.queryTopicType", {"filter": "DashDefault"})
           == {"topicNameList": ["DashDefault"], "messageTypeList": ["DELAY"]}, limit=30)

# ---------------------------------------------------------------- delete
step("topic/deleteTopicByBroker.do, deleteTopic.do")
check(d.ok("POST", "topic/deleteTopicByBroker.do", {"brokerName": "broker-a", "topic": "DashDelay"}) is True,
      "deleteTopicByBroker")
check(d.ok("GET", "topic/examineTopicConfig.query", {"topic": "DashDelay"}) == [], "DashDelay gone from broker-a")
# The broker's next registration carries its whole table (topicTableComplete), so the name server
# drops the route too; RocketMQ's kept it until a deleteTopic.do, and a registration built before
# that and applied after it brought the route back for good.
wait_until("DashDelay's route dropped with broker-a's registration", lambda: "DashDelay" not in ns_topics())
check("not found" in d.err("POST", "topic/deleteTopicByBroker.do", {"brokerName": "broker-zz", "topic": "DashFifo"}),
      "unknown broker")
check("required" in d.err("POST", "topic/deleteTopicByBroker.do", {"topic": "DashFifo"}), "brokerName required")
check(d.ok("POST", "topic/deleteTopic.do", {"topic": "DashNormal", "clusterName": "DefaultCluster"}) is True,
      "deleteTopic in a cluster")
# Gone from the name server, for good: a registration built before the broker's delete may bring
# the route back for a moment, the one after it drops it again.
def route_gone(topic):
    env = d.call("GET", "topic/route.query", {"topic": topic})
    return env["status"] == -1 and "CODE: 17" in (env["errMsg"] or "")


wait_until("DashNormal's route gone", lambda: route_gone("DashNormal"))
check(d.ok("POST", "topic/deleteTopic.do", {"topic": "DashFifo"}) is True, "deleteTopic everywhere")
wait_until("DashFifo's route gone", lambda: route_gone("DashFifo"))
check("DashFifo" not in d.ok("GET", "topic/list.query", {"filter": "DashFifo"})["topicList"], "not listed")
check("not found" in d.err("POST", "topic/deleteTopic.do", {"topic": "DashTx", "clusterName": "NoCluster"}),
      "unknown cluster")
check("conflict" in d.err("POST", "topic/deleteTopic.do", {"topic": "TBW102"}), "system topic refused by the broker")
check("required" in d.err("POST", "topic/deleteTopic.do"), "topic required")
check("bad topic" in d.err("POST", "topic/deleteTopic.do", {"topic": "x" * 1000}), "huge topic")
check("DashTx" in ns_topics(), "refused deletes deleted nothing")
# a later registration of broker-a (a new topic changes its data version) does not bring them back
check(d.ok("POST", "topic/createOrUpdate.do", body={"brokerNameList": ["broker-a"], "topicName": "DashAfter"}) is True,
      "DashAfter created")
wait_until("DashAfter routed", lambda: "DashAfter" in ns_topics())
check(not {"DashNormal", "DashFifo", "DashDelay"} & ns_topics(), "deleted topics stay deleted")

# ---------------------------------------------------------------- hostile leftovers
step("hostile requests")
for path in ["cluster/list.query", "topic/list.queryTopicType", "topic/stats.query", "ops/homePage.query"]:
    st, _, _ = d.raw("GET", path, {"k%d" % i: "v" * 50 for i in range(300)})
    check(st in (200, 400), "%s with 300 parameters answered: HTTP %d" % (path, st))
for path in ["topic/createOrUpdate.do", "topic/sendTopicMessage.do", "topic/deleteTopic.do", "ops/updateNameSvrAddr.do"]:
    d.raw("POST", path, body=b"\xff" * 100000, headers={"Content-Type": "application/json"})
    d.raw("POST", path, body=b"nameSvrAddrList=%zz&topic=%00", headers={"Content-Type": "application/x-www-form-urlencoded"})
alive()
check(d.ok("GET", "ops/homePage.query")["currentNamesrv"] == NS, "still on the live name server")
print("dashboard_topic: all checks passed in %.1f s" % (time.monotonic() - t_start))
