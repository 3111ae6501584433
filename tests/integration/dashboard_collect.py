"""The Dashboard page's data and the monitor settings over HTTP (test_dashboard_collect.sh).
argv: dashboard URL, its dataPath, the date of a day file older than keepDays, the date of a
recent day file, the topic with traffic. Standard library only."""
import datetime
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dashboard_http import Dash, check, has_fields  # noqa: E402

url, data, old, recent, topic = sys.argv[1:6]
d = Dash(url)
today = datetime.date.today().isoformat()
BROKER_SAMPLE = re.compile(r"^\d{13},\d+\.\d{5}$")
TOPIC_SAMPLE = re.compile(r"^\d{13},\d+\.\d{5},\d+,\d+\.\d{5},\d+$")


def fields(s):
    return [float(x) for x in s.split(",")]


# ---- sampling: with traffic, the broker's TPS is positive and the topic counts messages in and out
deadline = time.monotonic() + 60
while True:
    brokers = d.ok("GET", "dashboard/broker.query", {"date": today})
    series = d.ok("GET", "dashboard/topic.query", {"date": today, "topicName": topic})
    tps_seen = any(fields(s)[1] > 0 for s in brokers.get("broker-a:0", []))
    last = fields(series[-1]) if series else None
    if tps_seen and last and last[2] > 0 and last[4] > 0:
        break
    check(time.monotonic() < deadline, f"no positive broker TPS and topic in/out counts within 60 s: "
          f"brokers={json.dumps(brokers)[:400]} topic={json.dumps(series)[-400:]}")
    time.sleep(0.3)

check(isinstance(brokers, dict) and list(brokers) == ["broker-a:0"], f"broker keys: {list(brokers)}")
day_start = datetime.datetime.combine(datetime.date.today(), datetime.time()).timestamp() * 1000
prev = 0
for s in brokers["broker-a:0"]:
    check(isinstance(s, str) and BROKER_SAMPLE.match(s), f"broker sample {s!r} is not '<epochMs>,<tps 5 decimals>'")
    ms = int(s.split(",")[0])
    check(ms >= prev and day_start <= ms < day_start + 86400000 + 3600000, f"broker sample time {ms} out of order or day")
    prev = ms
prev = None
for s in series:
    check(isinstance(s, str) and TOPIC_SAMPLE.match(s), f"topic sample {s!r} is not the 5 fields")
    f = fields(s)
    if prev:
        check(f[0] >= prev[0] and f[2] >= prev[2] and f[4] >= prev[4], f"counts went back: {prev} -> {f}")
    prev = f
print(f"broker samples {len(brokers['broker-a:0'])}, topic samples {len(series)}, last {series[-1]}")

# every topic: users' topics only (no retry, DLQ or system topics)
alltopics = d.ok("GET", "dashboard/topic.query", {"date": today})
check(isinstance(alltopics, dict) and topic in alltopics, f"topic.query without topicName lacks {topic}: {list(alltopics)}")
for t in alltopics:
    check(not t.startswith(("%RETRY%", "%DLQ%", "rmq_sys_")) and t not in (
        "TBW102", "SCHEDULE_TOPIC_XXXX", "SELF_TEST_TOPIC", "OFFSET_MOVED_EVENT", "DefaultCluster", "broker-a",
        "DefaultCluster_REPLY_TOPIC", "RMQ_SYS_TRACE_TOPIC"), f"topic.query lists a system topic {t}")
check(d.ok("GET", "dashboard/topic.query", {"date": today, "topicName": "NoSuchTopic"}) is None, "unknown topic: not null")

# topicCurrent (and 1.0's path): "<topic>,<outCount>", the largest first
for path in ("dashboard/topicCurrent.query", "dashboard/topicCurrent"):
    cur = d.ok("GET", path)
    check(isinstance(cur, list) and all(isinstance(s, str) and re.match(r"^.+,\d+$", s) for s in cur), f"{path}: {cur}")
    counts = {s.rsplit(",", 1)[0]: int(s.rsplit(",", 1)[1]) for s in cur}
    check(counts.get(topic, 0) > 0, f"{path} does not list {topic} with a positive count: {cur}")
    check([int(s.rsplit(",", 1)[1]) for s in cur] == sorted(counts.values(), reverse=True), f"{path} not sorted: {cur}")

# ---- the day files: today's written (the original's names), the old one deleted, others kept
def wait_file(path, key):
    limit = time.monotonic() + 30
    while time.monotonic() < limit:
        try:
            with open(path) as f:
                obj = json.load(f)
            if key in obj:
                return obj
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    check(False, f"{path} has no {key} within 30 s")


obj = wait_file(f"{data}/dashboard{today}.json", "broker-a:0")
check(all(BROKER_SAMPLE.match(s) for s in obj["broker-a:0"]), "today's broker file: bad samples")
obj = wait_file(f"{data}/dashboard{today}_topic.json", topic)
check(all(TOPIC_SAMPLE.match(s) for s in obj[topic]), "today's topic file: bad samples")
names = os.listdir(data)
for gone in (f"dashboard{old}.json", f"dashboard{old}_topic.json", f"dashboard{old}.json.bak"):
    check(gone not in names, f"{gone} is older than keepDays and still there: {names}")
for kept in (f"dashboard{recent}.json", f"dashboard{recent}_topic.json", "dashboard-notes.txt", "monitor"):
    check(kept in names, f"{kept} was deleted: {names}")

# ---- an earlier day: its file, bad samples left out; a day without file: {} / null
check(d.ok("GET", "dashboard/broker.query", {"date": recent}) == {"broker-a:0": ["1000,2.50000", "3000,3.00000"]},
      f"recent broker file: {d.ok('GET', 'dashboard/broker.query', {'date': recent})}")
check(d.ok("GET", "dashboard/topic.query", {"date": recent, "topicName": "OldTopic"}) == ["1000,1.00000,5,2.00000,3"],
      "recent topic file")
check(d.ok("GET", "dashboard/topic.query", {"date": recent, "topicName": topic}) is None, "recent: unknown topic not null")
check(d.ok("GET", "dashboard/broker.query", {"date": old}) == {}, "a deleted day is not {}")
check(d.ok("GET", "dashboard/topic.query", {"date": "1999-02-03"}) == {}, "a day without file is not {}")
check(d.ok("GET", "dashboard/topic.query", {"date": "1999-02-03", "topicName": topic}) is None, "no file: not null")

# ---- bad dates and hostile parameters: errors, never a crash
bad_dates = ["", "2024-13-01", "2024-00-10", "2024-02-30", "2023-02-29", "2024-1-01", "2024-01-1", "20240101",
             "2024/01/01", "2024-01-01x", " 2024-01-01", "1969-12-31", "../../../etc/passwd", "..%2f..%2fx",
             "2024-01-01/../../x", "-001-01-01", "9" * 5000, "２０２４-01-01", "2024-01-0\n"]
for path in ("dashboard/broker.query", "dashboard/topic.query"):
    d.err("GET", path)  # no date at all
    for bad in bad_dates:
        msg = d.err("GET", path, {"date": bad})
        check("date" in msg, f"{path} date={bad[:40]!r}: message does not name the date: {msg}")
d.err("GET", "dashboard/topic.query", {"date": today, "topicName": "T" * 300})
check(d.ok("GET", "dashboard/topic.query", {"date": today, "topicName": "%00\"'<>"}) is None, "odd topic name")
status, _, _ = d.raw("POST", "dashboard/broker.query", {"date": today})
check(status == 405, f"POST broker.query: HTTP {status}")

# ---- monitor/: the damaged file's .bak was read; create, read, delete; the file follows
mon = d.ok("GET", "monitor/consumerMonitorConfig.query")
check(mon == {"BakGroup": {"minCount": 2, "maxDiffTotal": 30}}, f"the .bak of a damaged monitor file was not read: {mon}")
check(d.ok("POST", "monitor/createOrUpdateConsumerMonitor.do",
           {"consumeGroupName": "G_mon-1", "minCount": 1, "maxDiffTotal": 1000}) is True, "create")
check(d.ok("POST", "monitor/createOrUpdateConsumerMonitor.do",
           {"consumeGroupName": "G_mon-1", "minCount": 3, "maxDiffTotal": 9000000000}) is True, "update")
one = d.ok("GET", "monitor/consumerMonitorConfigByGroupName.query", {"consumeGroupName": "G_mon-1"})
has_fields(one, ["minCount", "maxDiffTotal"], "monitor entry")
check(one == {"minCount": 3, "maxDiffTotal": 9000000000}, f"updated entry: {one}")
mon = d.ok("GET", "monitor/consumerMonitorConfig.query")
check(set(mon) == {"BakGroup", "G_mon-1"}, f"all entries: {mon}")
with open(f"{data}/monitor/consumerMonitorConfig.json") as f:
    check(json.load(f) == mon, "the monitor file does not hold what the API shows")
check(d.ok("GET", "monitor/consumerMonitorConfigByGroupName.query", {"consumeGroupName": "Nobody"}) is None, "unknown group")
check(d.ok("POST", "monitor/deleteConsumerMonitor.do", {"consumeGroupName": "G_mon-1"}) is True, "delete")
check(d.ok("POST", "monitor/deleteConsumerMonitor.do", {"consumeGroupName": "Nobody"}) is True, "delete unknown")
check(d.ok("GET", "monitor/consumerMonitorConfigByGroupName.query", {"consumeGroupName": "G_mon-1"}) is None, "deleted")
with open(f"{data}/monitor/consumerMonitorConfig.json") as f:
    check(json.load(f) == {"BakGroup": {"minCount": 2, "maxDiffTotal": 30}}, "the file after delete")

create = "monitor/createOrUpdateConsumerMonitor.do"
good = {"consumeGroupName": "G", "minCount": 1, "maxDiffTotal": 2}
for bad in ({"minCount": 1, "maxDiffTotal": 2}, dict(good, consumeGroupName=""), dict(good, consumeGroupName="a/b"),
            dict(good, consumeGroupName="../../x"), dict(good, consumeGroupName="G" * 256),
            dict(good, consumeGroupName="g\"}"), {"consumeGroupName": "G", "maxDiffTotal": 2},
            {"consumeGroupName": "G", "minCount": 1}, dict(good, minCount=-1), dict(good, minCount="abc"),
            dict(good, minCount="1e3"), dict(good, minCount=2**31), dict(good, minCount="9" * 40),
            dict(good, maxDiffTotal=-5), dict(good, maxDiffTotal="0x10"), dict(good, maxDiffTotal=2**63)):
    d.err("POST", create, bad)
for path in ("monitor/consumerMonitorConfigByGroupName.query", "monitor/deleteConsumerMonitor.do"):
    method = "GET" if path.endswith(".query") else "POST"
    d.err(method, path)
    d.err(method, path, {"consumeGroupName": "x" * 5000})
# a JSON body instead of parameters is not taken for them
d.err("POST", create, body={"consumeGroupName": "G", "minCount": 1, "maxDiffTotal": 2})
check(set(d.ok("GET", "monitor/consumerMonitorConfig.query")) == {"BakGroup"}, "a refused request changed the settings")

# still alive and still sampling
n = len(d.ok("GET", "dashboard/broker.query", {"date": today})["broker-a:0"])
check(n >= 1, "the dashboard stopped answering")
print("dashboard collect checks passed")
