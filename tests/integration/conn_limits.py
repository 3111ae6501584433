"""Driver for test_conn_limits.sh: hostile connection patterns against a running broker or
name server, judged by the server's resident memory (VmRSS) and by a well-behaved client's
answers. Every wait is bounded. Usage: conn_limits.py <phase> <port> <server pid> [args]."""
import os
import socket
import sys
import threading
import time

from rmq_frames import Conn, frame


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise SystemExit("no VmRSS for pid %d" % pid)


def wait_until(cond, limit_s, step=0.05):
    end = time.time() + limit_s
    while time.time() < end:
        if cond():
            return True
        time.sleep(step)
    return cond()


def check(name, cond, detail=""):
    print(("ok    " if cond else "FAIL  ") + name + ("" if cond else "  " + str(detail)), flush=True)
    return bool(cond)


def pipeline(port, pid, conns, requests, topics, bound_mb, answer_s):
    """Clients that pipeline GET_ALL_TOPIC_CONFIG (a large answer for a tiny request) and never
    read: the broker's memory must stay bounded and another client must still be served."""
    setup = Conn(port, timeout=30)
    for i in range(topics):  # a big topic table makes every answer ~100 bytes per topic
        r = setup.call(17, {"topic": "ConnLimitTopicWithALongName%04d" % i, "readQueueNums": 8,
                            "writeQueueNums": 8, "perm": 6})
        if not r or r[0]["code"] != 0:
            return check("create topic %d" % i, False, r)
    r = setup.call(21)
    check("answer size of GET_ALL_TOPIC_CONFIG > 20 KB", r and len(r[1]) > 20000, r and len(r[1]))
    setup.close()
    base = rss_kb(pid)
    req = b"".join(frame(21, opaque=i + 1) for i in range(requests))
    socks, stop = [], threading.Event()

    def flood():
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # small: the broker queues
        socks.append(s)
        view = memoryview(req)
        while view and not stop.is_set():
            try:
                view = view[s.send(view):]
            except socket.timeout:
                continue  # the broker stopped reading us: that is the point
            except OSError:
                return

    threads = [threading.Thread(target=flood, daemon=True) for _ in range(conns)]
    for t in threads:
        t.start()
    peak = [base]

    def grown_or_settled():
        peak[0] = max(peak[0], rss_kb(pid))
        return (peak[0] - base) > bound_mb * 1024
    # Old behaviour: RSS grows by hundreds of MB within seconds; stop as soon as the bound is
    # crossed (the machine is shared). New behaviour: it never is; watch for 8 s.
    blew = wait_until(grown_or_settled, 8, 0.1)
    ok = check("RSS growth with %d non-reading pipelining clients < %d MB" % (conns, bound_mb), not blew,
               "grew %d MB" % ((peak[0] - base) // 1024))
    print("measure: rss_base_mb=%d peak_growth_mb=%d" % (base // 1024, (peak[0] - base) // 1024), flush=True)
    if ok:  # only meaningful when the broker survived the flood
        t0 = time.time()
        c = Conn(port, timeout=answer_s + 10)
        r = c.call(21)
        dt = time.time() - t0
        ok = check("another client is answered within %d s while they are paused" % answer_s,
                   r and r[0]["code"] == 0 and dt < answer_s,
                   "%s after %.1fs" % (r and r[0].get("code"), dt)) and ok
        print("measure: other_client_answer_ms=%d" % (dt * 1000), flush=True)
        c.close()
    stop.set()
    for s in socks:
        s.close()
    return ok


def idle(port, pid, n, bound_mb):
    """n connections that send one request each (so the server reads from them) and stay open;
    after they close, the server's RSS must come back near where it started."""
    base = rss_kb(pid)
    socks = []
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(frame(12345, opaque=1))  # unknown code: a small error answer
        socks.append(s)
    for s in socks:  # every request answered: the server has read from every connection
        s.settimeout(10)
        if not s.recv(1):
            return check("answer on an idle connection", False)
    during = rss_kb(pid)
    for s in socks:
        s.close()
    after = [during]

    def back():
        after[0] = rss_kb(pid)
        return after[0] - base < bound_mb * 1024
    # the server frees the connections as it sees them close; trimming runs from a 1 s timer
    wait_until(back, 10, 0.2)
    print("measure: %d idle connections: rss_before_kb=%d rss_open_kb=%d rss_after_close_kb=%d"
          % (n, base, during, after[0]), flush=True)
    return check("RSS after %d connections closed is within %d MB of the start" % (n, bound_mb),
                 after[0] - base < bound_mb * 1024, "before %d kB, after %d kB" % (base, after[0]))


def limit(port, pid, max_conns):
    """maxConnections=max_conns: that many stay open and are served, the next one is closed."""
    socks = []
    for i in range(max_conns):
        c = Conn(port, timeout=10)
        r = c.call(12345)
        if not (r and r[0]["code"] == 3):
            return check("connection %d within the limit is served" % (i + 1), False, r and r[0])
        socks.append(c)
    check("%d connections within the limit are served" % max_conns, True)
    extra = Conn(port, timeout=10)
    try:
        r = extra.call(12345)
    except OSError:
        r = None
    ok = check("connection %d is refused (closed without an answer)" % (max_conns + 1), r is None, r and r[0])
    extra.close()
    socks.pop().close()  # one leaves: a new one is served again

    def served():
        c = Conn(port, timeout=10)
        try:
            r = c.call(12345)
        except OSError:
            r = None
        c.close()
        return r is not None and r[0]["code"] == 3
    ok = check("after one closes, a new connection is served", wait_until(served, 10, 0.2)) and ok
    for c in socks:
        c.close()
    return ok


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fds(port, pid, n, log):
    """The server runs with a tiny fd limit and n clients connect, more than it has descriptors
    for: its log must say "out of file descriptors", it must not spin, and it must serve again
    once they leave."""
    socks = []
    for _ in range(n):
        try:
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=10))
        except OSError:
            break

    def logged():
        with open(log, errors="replace") as f:
            return "out of file descriptors (limit" in f.read()
    ok = check("the log says out of file descriptors", wait_until(logged, 15, 0.1))
    cpu0 = cpu_s(pid)
    time.sleep(2)  # measuring CPU use over a fixed window, not waiting for an event
    spent = cpu_s(pid) - cpu0
    ok = check("no spinning while out of descriptors (%.2f s CPU in 2 s)" % spent, spent < 1.0) and ok
    for s in socks:
        s.close()

    def served():
        c = None
        try:
            c = Conn(port, timeout=5)
            r = c.call(12345)
        except OSError:
            r = None
        finally:
            if c:
                c.close()
        return r is not None and r[0]["code"] == 3
    return check("served again once the connections are gone", wait_until(served, 15, 0.2)) and ok


def pct(samples, p):
    s = sorted(samples)
    return s[min(len(s) - 1, int(len(s) * p / 100))] if s else float("inf")


def probe_for(port, seconds, out, result=None):
    """A well-behaved client: one cheap request (an unsupported code, answered by the remoting
    layer itself) every 10 ms for `seconds`; appends each round trip (s) to out. False if one
    went unanswered."""
    c = Conn(port, timeout=30)
    end = time.time() + seconds
    ok = True
    while time.time() < end:
        t0 = time.time()
        r = c.call(12345)
        if not r:
            ok = False
            break
        out.append(time.time() - t0)
        time.sleep(max(0.0, 0.01 - (time.time() - t0)))  # paced, as a client that is not flooding
    c.close()
    if result is not None:
        result.append(ok)
    return ok


def fairness(port, pid, conns, topics, bound_ms, settle_s):
    """conns clients pipeline GET_ALL_TOPIC_CONFIG (each answer lists `topics` topics: ms of CPU)
    and never read. Another client's p99 must stay under bound_ms while they do, and once they
    close their sockets the broker must drop what it read from them: within settle_s it is idle
    (under 0.25 s of CPU in a 1 s window) and the other client's p99 is under the bound again.
    Before the fix every buffered request was answered, one read chunk per connection at a time,
    and the broker stayed busy for a minute after they left."""
    setup = Conn(port, timeout=60)
    for b in range(0, topics, 250):  # pipelined in batches, every answer read
        n = min(250, topics - b)
        setup.send_raw(b"".join(frame(17, {"topic": "FairTopicWithALongishName%05d" % (b + i), "readQueueNums": 8,
                                           "writeQueueNums": 8, "perm": 6}, opaque=b + i + 1)
                                for i in range(n)))
        for _ in range(n):
            r = setup.recv_frame()
            if not r or r[0]["code"] != 0:
                return check("create topics %d.." % b, False, r and r[0])
    r = setup.call(21)
    ok = check("GET_ALL_TOPIC_CONFIG lists %d topics or more" % topics,
               r and r[1].count(b"FairTopicWithALongishName") >= topics, r and len(r[1]))
    setup.close()
    if not ok:
        return False
    base = []
    probe_for(port, 1, base)
    req = b"".join(frame(21, opaque=i + 1) for i in range(3000))
    socks, stop = [], threading.Event()

    def flood():
        s = socket.create_connection(("127.0.0.1", port), timeout=1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # never read: the broker queues
        socks.append(s)
        view = memoryview(req)
        while view and not stop.is_set():
            try:
                view = view[s.send(view):]
            except socket.timeout:
                continue
            except OSError:
                return

    during, res = [], []
    prober = threading.Thread(target=probe_for, args=(port, 6, during, res), daemon=True)
    prober.start()  # from before the flood starts: its first burst is what stalls the loop
    threads = [threading.Thread(target=flood, daemon=True) for _ in range(conns)]
    for t in threads:
        t.start()
    prober.join(60)
    answered = res == [True]
    p99 = pct(during, 99) * 1000
    print("measure: probe baseline p99_ms=%.1f; during the attack n=%d p50_ms=%.1f p99_ms=%.1f max_ms=%.1f"
          % (pct(base, 99) * 1000, len(during), pct(during, 50) * 1000, p99, max(during or [0]) * 1000), flush=True)
    # a machine busy with other work slows every answer, the baseline's too: the bound is the
    # larger of bound_ms and 8x what the probe saw before the flood (what the fix changed most is
    # checked below: a broker still busy for seconds after the flood)
    bound_ms = max(bound_ms, 8 * pct(base, 99) * 1000)
    ok = check("another client's p99 < %d ms while %d clients pipeline without reading" % (bound_ms, conns),
               answered and p99 < bound_ms, "p99 %.1f ms, answered=%s" % (p99, answered))
    stop.set()
    for s in socks:
        s.close()
    t0 = time.time()
    state = {}

    def idle_again():
        c0 = cpu_s(pid)
        after = []
        answered = probe_for(port, 1, after)
        state["cpu"], state["p99"] = cpu_s(pid) - c0, pct(after, 99) * 1000
        return answered and state["cpu"] < 0.25 and state["p99"] < bound_ms
    settled = wait_until(idle_again, settle_s, 0)
    print("measure: after the attackers closed: settled=%s in %.1f s (last window: cpu %.2f s, probe p99 %.1f ms)"
          % (settled, time.time() - t0, state["cpu"], state["p99"]), flush=True)
    return check("the broker is idle within %d s after they close" % settle_s, settled,
                 "cpu %.2f s per s, p99 %.1f ms" % (state["cpu"], state["p99"])) and ok


def main():
    phase, port, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    args = [int(a) if a.isdigit() else a for a in sys.argv[4:]]
    ok = {"pipeline": pipeline, "idle": idle, "limit": limit, "fds": fds,
          "fairness": fairness}[phase](port, pid, *args)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
