"""Driver of test_broker_heartbeat_scale.sh: a HEART_BEAT with 40k subscriptions, sent twice,
must not stall the broker's loop. Another connection times GET_MAX_OFFSET round trips the whole
time. Before the hashed subscription table the second heartbeat compared every subscription
with every old one (O(N^2): 28 s at 40k, the broker answering nobody meanwhile).
Also: the heartbeat limits (groups, subscriptions) answer a clear remark; a consumer list of
40k subscriptions is built without a quadratic search; UNREGISTER_CLIENT and a closed
connection take the membership away. usage: broker_heartbeat_scale.py <broker port>"""
import json
import os
import sys
import threading
import time

from rmq_frames import Conn

port = int(sys.argv[1])
SLOW = 2.0 if os.environ.get("LOULAN_SLOW") else 1.0  # sanitizer builds
N = 40000
failed = 0


def check(name, cond, detail=""):
    global failed
    print(("ok    " if cond else "FAIL  ") + name + ("" if cond else "  " + str(detail)[:300]))
    failed += 0 if cond else 1


def hb_body(client, group, nsubs, expr="*", ngroups=1):
    subs = [{"classFilterMode": False, "codeSet": [], "expressionType": "TAG", "subString": expr,
             "subVersion": 1700000000000, "tagsSet": [], "topic": "HbTopic_%d" % i} for i in range(nsubs)]
    groups = [{"consumeFromWhere": "CONSUME_FROM_LAST_OFFSET", "consumeType": "CONSUME_PASSIVELY",
               "groupName": group if ngroups == 1 else "%s_%d" % (group, g), "messageModel": "CLUSTERING",
               "subscriptionDataSet": subs if g == 0 else [], "unitMode": False} for g in range(ngroups)]
    return json.dumps({"clientID": client, "consumerDataSet": groups, "producerDataSet": []}).encode()


def timed_call(conn, code, ext=None, body=b""):
    t0 = time.monotonic()
    r = conn.call(code, ext, body)
    return r, time.monotonic() - t0


# The prober: GET_MAX_OFFSET round trips on its own connection until told to stop.
lat, stop = [], threading.Event()


def probe():
    p = Conn(port, timeout=120)
    while not stop.is_set():
        r, dt = timed_call(p, 30, {"topic": "HbProbe", "queueId": 0})
        if r is None:
            lat.append(999.0)
            return
        lat.append(dt)
        time.sleep(0.002)
    p.close()


big = hb_body("hb-scale@1", "GHbScale", N)
big2 = hb_body("hb-scale@1", "GHbScale", N, expr="TagA || TagB")  # every expression changed
hb = Conn(port, timeout=120)
t = threading.Thread(target=probe)
t.start()
while len(lat) < 20:  # the prober is running before the heartbeats go
    time.sleep(0.01)
before = len(lat)
r1, d1 = timed_call(hb, 34, None, big)
r2, d2 = timed_call(hb, 34, None, big)
r3, d3 = timed_call(hb, 34, None, big2)
during = sorted(lat[before:])
stop.set()
t.join(150)
print("heartbeat %d subs (%.1f MB): first %.3f s, same again %.3f s, all changed %.3f s; "
      "%d probes meanwhile, p50 %.1f ms, p99 %.1f ms, max %.1f ms" %
      (N, len(big) / 1e6, d1, d2, d3, len(during), 1000 * during[len(during) // 2] if during else -1,
       1000 * during[int(len(during) * 0.99)] if during else -1, 1000 * during[-1] if during else -1))
for name, r, d in (("first", r1, d1), ("second (same)", r2, d2), ("third (changed)", r3, d3)):
    check("%s 40k-subscription heartbeat answered SUCCESS within %.0f s" % (name, 5 * SLOW),
          r is not None and r[0]["code"] == 0 and d < 5 * SLOW, (r and r[0], d))
check("probes answered during the heartbeats", len(during) >= 3, len(during))
p99 = during[int(len(during) * 0.99)] if during else 999
check("probe p99 under %.0f ms while the heartbeats ran" % (500 * SLOW), p99 < 0.5 * SLOW, p99)

# The consumer's view: 40k subscriptions with the last expression, built in bounded time.
r, d = timed_call(hb, 203, {"consumerGroup": "GHbScale"})
table = json.loads(r[1]).get("subscriptionTable", {}) if r and r[0]["code"] == 0 else {}
print("GET_CONSUMER_CONNECTION_LIST with %d subscriptions: %.3f s" % (len(table), d))
check("connection list has all 40k subscriptions, latest expression, within %.0f s" % (5 * SLOW),
      len(table) == N and table.get("HbTopic_7", {}).get("subString") == "TagA || TagB" and d < 5 * SLOW, (len(table), d))

# Limits: answered with a remark, nothing applied, the connection still usable.
r = hb.call(34, None, hb_body("hb-scale@1", "GHbTooMany", 65537))
check("65537 subscriptions refused with a remark naming the limit",
      r and r[0]["code"] == 1 and "65536" in r[0].get("remark", ""), r and r[0])
r = hb.call(34, None, hb_body("hb-scale@1", "GHbGroups", 0, ngroups=1025))
check("1025 consumer groups refused with a remark naming the limit",
      r and r[0]["code"] == 1 and "1024" in r[0].get("remark", ""), r and r[0])
r = hb.call(38, {"consumerGroup": "GHbTooMany"})
check("a refused heartbeat registers nothing", r and r[0]["code"] != 0, r and r[0])
r = hb.call(34, None, b"{not json")
check("a heartbeat that is not JSON -> SYSTEM_ERROR with a remark", r and r[0]["code"] == 1 and r[0].get("remark"), r and r[0])

# Leaving: UNREGISTER_CLIENT from the member's connection, and a closed connection.
small = hb_body("hb-small@1", "GHbLeave", 3)
other = Conn(port)
r1, r2 = hb.call(34, None, small), other.call(34, None, hb_body("hb-other@1", "GHbLeave", 3))
r = hb.call(38, {"consumerGroup": "GHbLeave"})
ids = json.loads(r[1]).get("consumerIdList", []) if r and r[0]["code"] == 0 else []
check("two members registered", sorted(ids) == ["hb-other@1", "hb-small@1"], ids)
r = hb.call(35, {"clientID": "hb-small@1", "consumerGroup": "GHbLeave"})
r = hb.call(38, {"consumerGroup": "GHbLeave"})
ids = json.loads(r[1]).get("consumerIdList", []) if r and r[0]["code"] == 0 else []
check("UNREGISTER_CLIENT removes the caller's membership only", ids == ["hb-other@1"], ids)
other.close()
deadline, gone = time.monotonic() + 10 * SLOW, False
while time.monotonic() < deadline and not gone:
    r = hb.call(38, {"consumerGroup": "GHbLeave"})
    gone = r is not None and r[0]["code"] != 0
    time.sleep(0.05)
check("a closed connection leaves its group (empty group dropped)", gone)
r = hb.call(38, {"consumerGroup": "GHbScale"})
check("the 40k-subscription member is still there", r and r[0]["code"] == 0, r and r[0])
hb.close()
sys.exit(1 if failed else 0)
