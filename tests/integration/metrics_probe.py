"""Hostile clients for the broker's /metrics endpoint (test_metrics.sh). Each subcommand exits
non-zero with a message when the broker misbehaves; every socket operation has a timeout and
every wait is a bounded loop.
  inject  BROKER_PORT MPORT            a group name that would add metric lines must stay one label
  parse   MPORT                        NUL byte, garbage, oversize and non-GET requests get 4xx
  flood   BROKER_PORT MPORT PID N      N idle connections must not starve remoting nor /metrics"""
import os
import re
import resource
import socket
import sys
import time

from rmq_frames import Conn, send_v2, pull_all

SAMPLE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*",?)*\})? \S+$')


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def http(mport, raw, timeout=10):
    """Send raw bytes, return (status code or None, whole answer) once the server closes."""
    s = socket.create_connection(("127.0.0.1", mport), timeout=timeout)
    try:
        s.sendall(raw)
        data = b""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    m = re.match(rb"HTTP/1\.[01] (\d{3}) ", data)
    return (int(m.group(1)) if m else None), data


def scrape(mport):
    code, data = http(mport, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    if code != 200:
        return None
    return data.split(b"\r\n\r\n", 1)[1].decode()


def check_lines(text):
    """Every line is a comment or a well-formed sample: nothing a label value could split."""
    for line in text.splitlines():
        if line and not line.startswith("#") and not SAMPLE.match(line):
            fail("malformed metric line: %r" % line)


def pull(c, group, topic):
    r = c.call(11, {"consumerGroup": group, "topic": topic, "queueId": 0, "queueOffset": 0,
                    "maxMsgNums": 32, "sysFlag": 4, "commitOffset": 0, "suspendTimeoutMillis": 0,
                    "subscription": "*", "subVersion": 0})
    return r is not None and r[0]["code"] == 0


def inject(port, mport):
    """Two ways a client's string reaches a label: a consumer group that pulled (group=) and the
    topic of an offset it commits (group_diff's topic=). Either may be refused by validation;
    whatever is accepted must come out as one escaped label."""
    evil = 'Evil"} 1\nrocketmq_injected_total{x="y"} 42\n# \\'
    escaped = 'Evil\\"} 1\\nrocketmq_injected_total{x=\\"y\\"} 42\\n# \\\\'
    c = Conn(port)
    for i in range(3):
        if send_v2(c, "InjectTopic", b"i-%d" % i, queue_id=0)[0]["code"] != 0:
            fail("send to InjectTopic")
    group_ok = pull(c, evil, "InjectTopic")
    if not pull(c, "InjectGroup", "InjectTopic"):
        fail("pull by InjectGroup")
    r = c.call(15, {"consumerGroup": "InjectGroup", "topic": evil, "queueId": 0, "commitOffset": 1})
    topic_ok = r is not None and r[0]["code"] == 0
    # pages are rebuilt at most once a second: wait (bounded) for one that has InjectGroup's lag
    deadline, text = time.time() + 15, None
    while time.time() < deadline and (text is None or 'group="InjectGroup"' not in text):
        if text is not None:
            time.sleep(0.2)
        text = scrape(mport)
    if text is None:
        fail("no 200 from /metrics")
    if re.search(r"^rocketmq_injected_total", text, re.M):
        fail("a client's string injected a metric line:\n" + text)
    check_lines(text)
    for accepted, lab in ((group_ok, 'group="%s"' % escaped), (topic_ok, 'group="InjectGroup",topic="%s"' % escaped)):
        if accepted and lab not in text:
            fail("escaped label %s missing:\n%s" % (lab, text))
    print("inject: hostile group %s, hostile topic in an offset commit %s; no line injected"
          % ("served as one escaped label" if group_ok else "refused",
             "served as one escaped label" if topic_ok else "refused"))


def parse(mport):
    cases = [
        ("NUL byte", b"GET /metrics\x00 HTTP/1.1\r\n\r\n", {400}),
        ("NUL byte, no end of head", b"GET /met\x00rics", {400}),
        ("garbage", b"HELLO\r\n\r\n", {400}),
        ("no version", b"GET /metrics\r\n\r\n", {400}),
        ("control byte", b"GET /me\x01trics HTTP/1.1\r\n\r\n", {400}),
        ("oversize head", b"GET /metrics HTTP/1.1\r\nX-Pad: " + b"a" * 9000 + b"\r\n\r\n", {431}),
        ("POST", b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", {405}),
        ("unknown path", b"GET /other HTTP/1.1\r\n\r\n", {404}),
        ("query string", b"GET /metrics?x=1 HTTP/1.1\r\n\r\n", {200}),
    ]
    for name, raw, want in cases:
        t0 = time.time()
        code, data = http(mport, raw, timeout=15)
        took = time.time() - t0
        if code not in want:
            fail("%s: expected %s, got %s after %.1f s: %r" % (name, sorted(want), code, took, data[:200]))
        if took > 5:
            fail("%s: answer took %.1f s" % (name, took))
        print("parse: %-26s -> %d in %.3f s" % (name, code, took))
    if scrape(mport) is None:
        fail("/metrics does not answer after the bad requests")


def nfds(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return -1


def flood(port, mport, pid, n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, n + 200)), hard))
    socks, refused = [], 0
    t0 = time.time()
    for i in range(n):
        try:
            s = socket.create_connection(("127.0.0.1", mport), timeout=3)
            if i % 2:  # half-open: a request that never ends; the other half say nothing
                s.sendall(b"GET /metrics HTTP/1.1\r\n")
            s.setblocking(False)
            socks.append(s)
        except OSError:
            refused += 1
        if time.time() - t0 > 90:
            fail("opening %d connections took more than 90 s" % n)
    print("flood: %d connections opened (%d refused at connect) in %.1f s; broker holds %d fds"
          % (len(socks), refused, time.time() - t0, nfds(pid)))
    # The remoting port must still take a new client and store a message.
    t1 = time.time()
    try:
        c = Conn(port, timeout=15)
        r = send_v2(c, "FloodTopic", b"still here", queue_id=0)
        c.close()
    except OSError as e:
        fail("remoting connection failed during the flood: %s" % e)
    if r is None or r[0]["code"] != 0:
        fail("send during the metrics flood failed: %r (broker fds %d)" % (r and r[0], nfds(pid)))
    print("flood: send on the remoting port succeeded in %.3f s" % (time.time() - t1))
    # /metrics answers a new client once the idle ones are refused or have timed out.
    t2, text = time.time(), None
    while time.time() - t2 < 60 and text is None:
        try:
            text = scrape(mport)
        except OSError:
            text = None
        if text is None:
            time.sleep(0.5)
    if text is None:
        fail("/metrics did not answer a new client within 60 s of the flood (broker fds %d)" % nfds(pid))
    print("flood: /metrics answered a new client %.1f s after the flood" % (time.time() - t2))
    # Every flood connection must have been closed by the broker (refused or deadline).
    t3, open_ = time.time(), set(socks)
    while open_ and time.time() - t3 < 60:
        for s in list(open_):
            try:
                if s.recv(4096) == b"":
                    open_.discard(s)
            except BlockingIOError:
                pass
            except OSError:
                open_.discard(s)
        time.sleep(0.2)
    if open_:
        fail("%d idle connections still open 60 s after the flood" % len(open_))
    print("flood: all %d idle connections closed by the broker %.1f s after the scrape; broker holds %d fds"
          % (len(socks), time.time() - t3, nfds(pid)))
    for s in socks:
        s.close()


if __name__ == "__main__":
    cmd, args = sys.argv[1], [int(a) for a in sys.argv[2:]]
    {"inject": inject, "parse": parse, "flood": flood}[cmd](*args)
