"""Driver of test_broker_register_scale.sh: a broker with 10,000 topics auto-creates 1,000 more
from sends while another connection times GET_MAX_OFFSET round trips. Each new topic asks for a
name-server registration (at most one per 50 ms) whose body lists every topic; building that
body on the event loop stalled every client (issue 12, scenario 3). The body is now built on
libuv's thread pool: the prober's p99 must stay under a bound, and the new topics must appear
in the name server's routes (bounded wait).
usage: broker_register_scale.py <namesrv port> <broker port> [p99 bound ms]"""
import os
import sys
import threading
import time

from rmq_frames import Conn, frame

ns_port, port = int(sys.argv[1]), int(sys.argv[2])
SLOW = 4.0 if os.environ.get("LOULAN_SLOW") else 1.0  # sanitizer builds
BOUND_MS = float(sys.argv[3]) if len(sys.argv) > 3 else 80.0 * SLOW
NEW = 1000
BATCH = int(os.environ.get("REG_SCALE_BATCH", "5"))
failed = 0


def check(name, cond, detail=""):
    global failed
    print(("ok    " if cond else "FAIL  ") + name + ("" if cond else "  " + str(detail)[:300]))
    failed += 0 if cond else 1


def send_frame(topic, opaque):
    ext = {"a": "PG", "b": topic, "c": "TBW102", "d": 4, "e": 0, "f": 0, "g": 1700000000000, "h": 0,
           "i": "TAGS\x01TagA\x02WAIT\x01true\x02", "j": 0, "k": "false", "m": "false"}
    return frame(310, ext, b"x", opaque=opaque)


lat, stop = [], threading.Event()


def probe():
    p = Conn(port, timeout=120)
    while not stop.is_set():
        t0 = time.monotonic()
        r = p.call(30, {"topic": "RegScale_00000", "queueId": 0})
        if r is None:
            lat.append(999.0)
            return
        lat.append(time.monotonic() - t0)
        time.sleep(0.002)
    p.close()


# the broker loaded 10,000 topics from topics.json: one of them answers
first = Conn(port, timeout=60).call(30, {"topic": "RegScale_00000", "queueId": 0})
check("a preloaded topic answers GET_MAX_OFFSET", first is not None and first[0]["code"] == 0, first and first[0])

t = threading.Thread(target=probe)
t.start()
while len(lat) < 20 and t.is_alive():  # the prober runs before the sends start
    time.sleep(0.01)
before = len(lat)
sender = Conn(port, timeout=120)
codes, t0 = {}, time.monotonic()
for i in range(0, NEW, BATCH):  # pipelined batches: the sends come as fast as the broker answers
    sender.send_raw(b"".join(send_frame("RegNew_%05d" % j, j + 1) for j in range(i, min(i + BATCH, NEW))))
    for _ in range(min(BATCH, NEW - i)):
        r = sender.recv_frame()
        if r is None:
            break
        codes[r[0]["code"]] = codes.get(r[0]["code"], 0) + 1
sent_s = time.monotonic() - t0
during = sorted(lat[before:])
stop.set()
t.join(150)
p99 = 1000 * during[int(len(during) * 0.99)] if during else -1
print("%d auto-create sends in %.2f s (codes %s); %d probes meanwhile, p50 %.1f ms, p99 %.1f ms, max %.1f ms"
      % (NEW, sent_s, codes, len(during), 1000 * during[len(during) // 2] if during else -1, p99,
         1000 * during[-1] if during else -1))
check("every auto-create send answered SUCCESS", codes.get(0, 0) == NEW, codes)
check("probes answered during the sends", len(during) >= 10, len(during))
check("the prober's p99 during the sends is under %.0f ms" % BOUND_MS, 0 <= p99 < BOUND_MS, "%.1f ms" % p99)


def routed(topic):
    r = Conn(ns_port, timeout=30).call(105, {"topic": topic})
    return r is not None and r[0]["code"] == 0 and b"127.0.0.1:%d" % port in r[1]


# the last registration follows the last change within 50 ms plus its build: bounded wait
for topic in ("RegNew_00000", "RegNew_00500", "RegNew_%05d" % (NEW - 1), "RegScale_09999"):
    deadline, ok = time.monotonic() + 30 * SLOW, False
    while not ok and time.monotonic() < deadline:
        ok = routed(topic)
        if not ok:
            time.sleep(0.2)
    check("the name server routes %s to the broker" % topic, ok)
sys.exit(1 if failed else 0)
