#!/usr/bin/env python3
"""Stall benchmark (issue 12): another client's request latency while each attack of issue 12
runs. Starts its own mqnamesrv + mqbroker (free loopback ports, a temporary data dir removed on
exit), then for each scenario runs a probe in its own process (so the attack's Python threads do
not share its interpreter lock): one small request due every PROBE_PERIOD on its own connection
(GET_MAX_OFFSET to the broker, GET_ROUTEINFO_BY_TOPIC to the name server). A probe's latency
counts from when it was due, and a probe that waited also records the probes that fell due
meanwhile, so a stalled loop shows as all the requests it held back (as namesrv_many_topics.py
does). Prints scenario, probes answered, p50, p99, max, p99 / baseline p99 and attack duration.
The attack generators are the integration tests' own, borrowed from tests/integration.
Scenarios: 0 baseline (broker probe, name server probe), 1 a 40k-subscription HEART_BEAT twice,
2 heartbeats registering 2,000 new groups, 3 2,000 sends auto-creating topics, 4 parked long-poll
pulls while raw_send sends (its rate against its rate alone), 6 REGISTER_BROKER of 40k topics
twice (name server probe), 7 /metrics scraped in a loop with 2,000 consuming groups, 5 twelve
connections pipelining without reading (run last: its leftovers would spill into the others),
8 idle again. After each attack the note says how long until the server answered 5 probes in a
row within 20 ms, if that took over a second (work an attack queued can outlast it).
Timings are reported, never judged: the exit status is non-zero only if something breaks (a
probe unanswered for NO_ANSWER_S, an attack request refused or unanswered, a server gone).
usage: stall_bench.py <bin-dir> [parked pulls=100000]"""
import ast
import contextlib
import io
import json
import multiprocessing as mp
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

INTEG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration")
sys.path.insert(0, INTEG)
from rmq_frames import Conn, frame, send_v2  # noqa: E402
import conn_limits  # noqa: E402
import metrics_probe  # noqa: E402

PROBE_PERIOD = 0.002   # one probe request due every 2 ms
NO_ANSWER_S = 10.0     # a probe unanswered this long means the server broke
BASELINE_S = 3.0
SCRAPE_S = 5.0
NGROUPS = 2000         # new consumer groups (scenario 2) and metrics groups (scenario 7)
NTOPICS_AUTO = 2000    # auto-created topics (scenario 3)
NSUBS = 40000          # subscriptions in one heartbeat (scenario 1)
NS_TOPICS = 40000      # topics in one REGISTER_BROKER (scenario 6)
METRIC_TOPICS = 10     # offset entries per metrics group: 20,000 group/topic pairs
SETTLE_N, SETTLE_MS, SETTLE_LIMIT_S = 5, 20, 60  # after an attack: 5 answers in a row < 20 ms


def borrow(script, names, **globs):
    """The named top-level functions and classes of an integration test driver, with the
    globals they read given here. The drivers are scripts that run when imported, so only their
    definitions (and imports) are executed: the attack generators stay in one place."""
    path = os.path.join(INTEG, script)
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    keep = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))
            or (isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name in names)]
    found = {n.name for n in keep if not isinstance(n, (ast.Import, ast.ImportFrom))}
    if found != set(names):
        raise SystemExit("%s no longer defines %s" % (script, sorted(set(names) - found)))
    ns = dict(globs, __name__="borrowed_" + os.path.splitext(script)[0])
    exec(compile(ast.Module(body=keep, type_ignores=[]), path, "exec"), ns)
    return ns


# ---- servers ----------------------------------------------------------------------------------

def port_free(p):
    s = socket.socket()
    try:
        s.bind(("0.0.0.0", p))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def free_broker_port():
    """P with P-2 (VIP) and P+1 (HA) free too, below the ephemeral range (as tests/lib.sh)."""
    for _ in range(500):
        p = random.randint(20002, 32000)
        if all(port_free(q) for q in (p - 2, p, p + 1)):
            return p
    raise SystemExit("no free broker port")


def wait_until(cond, limit_s, step=0.05):
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return cond()


def accepts(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


class Servers:
    """mqnamesrv and one mqbroker (metrics on) in a private temp dir; stop() is bounded."""

    def __init__(self, bindir):
        self.bin = os.path.abspath(bindir)
        self.dir = tempfile.mkdtemp(prefix="loulan-stall.")
        self.procs = []
        self.env = dict(os.environ, HOME=os.path.join(self.dir, "home"),
                        LOULAN_LOG_DIR=os.path.join(self.dir, "logs"))
        os.makedirs(self.env["HOME"])
        self.ns_port, self.port, self.mport = free_port(), free_broker_port(), free_port()
        try:
            self.start()
        except BaseException:  # nothing left running or on disk when a start fails
            self.stop()
            raise

    def start(self):
        self.ns = self.spawn("namesrv", [self.bin + "/mqnamesrv", "-l", str(self.ns_port)])
        if not wait_until(lambda: accepts(self.ns_port), 60):
            raise SystemExit("name server did not open its port within 60 s")
        conf = os.path.join(self.dir, "broker.conf")
        with open(conf, "w") as f:
            f.write("\n".join([
                "brokerClusterName=DefaultCluster", "brokerName=broker-a", "brokerId=0",
                "brokerIP1=127.0.0.1", "listenPort=%d" % self.port, "namesrvAddr=127.0.0.1:%d" % self.ns_port,
                "storePathRootDir=" + os.path.join(self.dir, "store"), "mapedFileSizeCommitLog=67108864",
                "autoCreateTopicEnable=true", "diskSpaceWarningLevelRatio=99", "diskSpaceCleanForciblyRatio=99",
                "metricsExporterType=PROM", "metricsPromExporterPort=%d" % self.mport, "grpcServerPort=0"]) + "\n")
        self.broker = self.spawn("broker", [self.bin + "/mqbroker", "-c", conf])
        if not wait_until(lambda: accepts(self.port), 90):
            raise SystemExit("broker did not open its port within 90 s")
        addr = ('"127.0.0.1:%d"' % self.port).encode()
        if not wait_until(lambda: self.ns_lists(addr), 60, 0.2):
            raise SystemExit("the broker did not register with the name server within 60 s")

    def spawn(self, name, argv):
        out = open(os.path.join(self.dir, name + ".out"), "wb")
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=self.env)
        self.procs.append(p)
        return p

    def ns_lists(self, addr):
        try:
            c = Conn(self.ns_port, timeout=5)
            r = c.call(106)  # GET_BROKER_CLUSTER_INFO
            c.close()
            return bool(r and r[0]["code"] == 0 and addr in r[1])
        except OSError:
            return False

    def alive(self):
        return all(p.poll() is None for p in self.procs)

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        end = time.monotonic() + 15
        for p in self.procs:
            try:
                p.wait(max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)


# ---- the probe ---------------------------------------------------------------------------------

def probe_main(port, code, ext, ready, stop, out):
    """Runs in its own process: one request due every PROBE_PERIOD until stop is set; sends back
    (latencies from due time, requests answered, requests unanswered within NO_ANSWER_S)."""
    lat, answered, lost, c = [], 0, 0, None
    due = time.monotonic()
    while not stop.is_set():
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        try:
            c = c or Conn(port, timeout=NO_ANSWER_S)
            r = c.call(code, ext)
        except OSError:
            r = None
        if r is None:  # no answer in time: counted, and a new connection for the next probe
            lost += 1
            if c:
                c.close()
            c = None
        else:
            answered += 1
        late = time.monotonic() - due
        missed = int(late / PROBE_PERIOD)
        lat.append(late)
        lat.extend(late - k * PROBE_PERIOD for k in range(1, missed + 1))
        due += (missed + 1) * PROBE_PERIOD
        if answered == 20:
            ready.set()
    out.send((lat, answered, lost))
    out.close()


def pct(s, p):
    return s[min(len(s) - 1, int(len(s) * p))] if s else float("nan")


class Bench:
    def __init__(self, srv):
        self.srv, self.rows, self.broken = srv, [], []
        self.base = {}
        self.ctx = mp.get_context("spawn")

    def probe_of(self, target):
        return ((self.srv.port, 30, {"topic": "TBW102", "queueId": 0}) if target == "broker"
                else (self.srv.ns_port, 105, {"topic": "TBW102"}))

    def settle(self, target):
        """Seconds until the server answers SETTLE_N probes in a row within SETTLE_MS each (work
        an attack queued may outlast it), or None if not within SETTLE_LIMIT_S."""
        port, code, ext = self.probe_of(target)
        t0, fast, c = time.monotonic(), 0, None
        while fast < SETTLE_N:
            if time.monotonic() - t0 > SETTLE_LIMIT_S:
                return None
            t = time.monotonic()
            try:
                c = c or Conn(port, timeout=NO_ANSWER_S)
                r = c.call(code, ext)
            except OSError:
                r = None
            if r is None and c:
                c.close()
                c = None
            fast = fast + 1 if r is not None and time.monotonic() - t < SETTLE_MS / 1e3 else 0
            time.sleep(PROBE_PERIOD)
        c.close()
        return time.monotonic() - t0

    def setup(self, name, fn):
        """Run a scenario's preparation; False (and the scenario reported broken) if it fails."""
        try:
            fn()
            return True
        except Exception as e:
            self.broken.append("%s: setup: %r" % (name, e))
            print("| %s | - | - | - | - | - | - | BROKEN in setup: %r |" % (name, e), flush=True)
            return False

    def run(self, name, target, attack, base_key=None):
        """Probe target ("broker" or "namesrv") while attack() runs; attack returns a note."""
        port, code, ext = self.probe_of(target)
        ready, stop = self.ctx.Event(), self.ctx.Event()
        rx, tx = self.ctx.Pipe(False)
        p = self.ctx.Process(target=probe_main, args=(port, code, ext, ready, stop, tx), daemon=True)
        p.start()
        note, t0 = "", time.monotonic()
        if not ready.wait(60):
            self.broken.append("%s: probe never got going" % name)
        else:
            t0 = time.monotonic()
            try:
                note = attack() or ""
            except Exception as e:  # an attack that broke is reported, the others still run
                note = "BROKEN: %r" % (e,)
                self.broken.append("%s: %r" % (name, e))
        dur = time.monotonic() - t0
        stop.set()
        lat, answered, lost = rx.recv() if rx.poll(NO_ANSWER_S + 30) else ([], 0, -1)
        p.join(10)
        lat.sort()
        if lost:
            self.broken.append("%s: %d probes unanswered within %.0f s" % (name, lost, NO_ANSWER_S))
        if not self.srv.alive():
            self.broken.append("%s: a server process died" % name)
        settled = self.settle(target) if not base_key else 0.0
        if settled is None:
            note += "; not settled within %.0f s" % SETTLE_LIMIT_S
        elif settled > 1.0:
            note += "; settled %.1f s after" % settled
        p99 = pct(lat, 0.99)
        if base_key:
            self.base[base_key] = p99
        ratio = p99 / self.base[target] if target in self.base and not base_key else 1.0
        row = (name, answered, pct(lat, 0.5) * 1e3, p99 * 1e3, (lat[-1] if lat else float("nan")) * 1e3,
               ratio, dur, (note + ("; %d probes LOST" % lost if lost else "")).lstrip("; "))
        self.rows.append(row)
        print("| %s | %d | %.1f | %.1f | %.1f | %.1f | %.2f | %s |" % row, flush=True)


# ---- the attacks -------------------------------------------------------------------------------

def expect_ok(r, what):
    if r is None:
        raise RuntimeError(what + ": no answer")
    if r[0]["code"] != 0:
        raise RuntimeError("%s: code %s %s" % (what, r[0]["code"], r[0].get("remark", "")))
    return r


def call_timed(conn, code, ext, body, what):
    t = time.monotonic()
    expect_ok(conn.call(code, ext, body), what)
    return time.monotonic() - t


def pipelined(port, frames, timeout=120, batch=500):
    """Send frames on one connection, batch by batch (a broker that stops reading a client whose
    answers pile up must not deadlock us), reading every answer."""
    c = Conn(port, timeout=timeout)
    for i in range(0, len(frames), batch):
        part = frames[i:i + batch]
        c.send_raw(b"".join(part))
        for _ in part:
            r = c.recv_frame()
            if r is None:
                raise RuntimeError("pipelined answers stopped after %d of %d" % (i, len(frames)))
    c.close()


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__.rsplit("usage: ", 1)[1])
    bindir = sys.argv[1]
    npark = int(sys.argv[2]) if len(sys.argv) > 2 else 100000
    for prog in ("mqnamesrv", "mqbroker", "raw_send"):
        if not os.access(os.path.join(bindir, prog), os.X_OK):
            raise SystemExit("stall_bench: no %s in %s (give the build's bin folder)" % (prog, bindir))
    t_all = time.monotonic()
    srv = Servers(bindir)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        broken = bench(srv, bindir, npark)
    finally:
        srv.stop()
    for what in broken:
        print("BROKEN: " + what)
    print("total %.0f s" % (time.monotonic() - t_all))
    sys.exit(1 if broken else 0)


def bench(srv, bindir, npark):
    port = srv.port
    hb = borrow("broker_heartbeat_scale.py", ["hb_body"])["hb_body"]
    pp = borrow("broker_parked_pulls.py", ["Parker", "pull_ext", "send_rate"], port=port,
                raw_send=os.path.join(os.path.abspath(bindir), "raw_send"), NPARK=npark, TOPICS=100, QUEUES=16)
    register_frame = borrow("namesrv_many_topics.py", ["register_frame"], NTOPICS=NS_TOPICS)["register_frame"]
    b = Bench(srv)
    print("| scenario | probes | p50 ms | p99 ms | max ms | p99 / baseline p99 | attack s | note |")
    print("|---|---|---|---|---|---|---|---|", flush=True)

    # 0. nothing running: the probes' own latency on this machine, now
    b.run("0 baseline (broker probe)", "broker", lambda: time.sleep(BASELINE_S), base_key="broker")
    b.run("0 baseline (name server probe)", "namesrv", lambda: time.sleep(BASELINE_S), base_key="namesrv")

    # 1. a 40k-subscription HEART_BEAT, twice (the second compared every subscription with every
    #    old one before the hashed table)
    big = hb("stall@1", "GStallHb", NSUBS)

    def heartbeats():
        c = Conn(port, timeout=180)
        d = [call_timed(c, 34, None, big, "heartbeat %d" % i) for i in (1, 2)]
        return "%.1f MB body; answered in %.2f s, %.2f s" % (len(big) / 1e6, d[0], d[1])
    b.run("1 HEART_BEAT 40k subscriptions x2", "broker", heartbeats)

    # 2. 2,000 new consumer groups (two heartbeats of 1,000: the limit is 1,024 per heartbeat);
    #    each new group also gets its %RETRY% topic
    bodies = [hb("stall-g%s@1" % h, "PG" + h, 0, ngroups=NGROUPS // 2) for h in ("a", "b")]

    def groups():
        c = Conn(port, timeout=180)
        d = [call_timed(c, 34, None, body, "groups heartbeat") for body in bodies]
        return "answered in %.2f s, %.2f s" % tuple(d)
    b.run("2 heartbeat of 2,000 new groups", "broker", groups)

    # 3. 2,000 sends, each auto-creating a topic from TBW102
    def autocreate():
        c = Conn(port, timeout=180)
        for i in range(NTOPICS_AUTO):
            expect_ok(send_v2(c, "AUTO_%04d" % i, b"x"), "auto-create send %d" % i)
        return ""
    b.run("3 2,000 sends auto-creating topics", "broker", autocreate)

    # 4. parked long-poll pulls (on 100 topics x 16 queues) while raw_send sends to other topics
    base_rate = [0.0]

    def park_setup():
        admin = Conn(port, timeout=120)
        for t in range(100):
            expect_ok(admin.call(17, {"topic": "Park_%d" % t, "readQueueNums": 16, "writeQueueNums": 16,
                                      "perm": 6}), "create Park_%d" % t)
        with contextlib.redirect_stdout(io.StringIO()):
            base_rate[0] = pp["send_rate"]()

    def parked():
        t0 = time.monotonic()
        with contextlib.redirect_stdout(io.StringIO()):
            p = pp["Parker"]()
        try:
            if not p.marker_seen.wait(180):
                raise RuntimeError("%d pulls not parked within 180 s" % npark)
            park_s = time.monotonic() - t0
            with contextlib.redirect_stdout(io.StringIO()):
                rate = pp["send_rate"]()
        finally:
            p.stop = True
            with contextlib.suppress(OSError):
                p.c.s.shutdown(socket.SHUT_RDWR)  # wakes its reader, which then sees stop
            p.t.join(30)
            p.c.close()
        return "parking took %.1f s; raw_send %.0f/s vs %.0f/s alone (%.2f)" % (
            park_s, rate, base_rate[0], rate / max(base_rate[0], 1))
    name = "4 %dk parked pulls + raw_send" % (npark // 1000)
    if b.setup(name, park_setup):
        b.run(name, "broker", parked)

    # 6. REGISTER_BROKER with 40k topics, twice, at the name server
    regs = [register_frame("stall-b", "127.0.0.1:10999", n, 100 + n) for n in (1, 2)]

    def register():
        nsc, d = Conn(srv.ns_port, timeout=180), []
        for f in regs:
            t = time.monotonic()
            nsc.send_raw(f)
            expect_ok(nsc.recv_frame(), "REGISTER_BROKER")
            d.append(time.monotonic() - t)
        return "%.1f MB body; answered in %.2f s, %.2f s" % (len(regs[0]) / 1e6, d[0], d[1])
    b.run("6 REGISTER_BROKER 40k topics x2", "namesrv", register)

    # 7. /metrics scraped in a loop; 2,000 groups that consumed, 10 offset entries each
    def consumed():  # each group pulls once (so it counts as consuming) and commits 10 offsets
        names = ["PG%s_%d" % (h, i) for h in ("a", "b") for i in range(NGROUPS // 2)]
        frames = []
        for i, g in enumerate(names):
            frames.append(frame(11, {"consumerGroup": g, "topic": "AUTO_%04d" % (i % METRIC_TOPICS), "queueId": 0,
                                     "queueOffset": 0, "maxMsgNums": 32, "sysFlag": 4, "commitOffset": 0,
                                     "suspendTimeoutMillis": 0, "subscription": "*", "subVersion": 0},
                                opaque=len(frames) + 1))
            for t in range(METRIC_TOPICS):
                frames.append(frame(15, {"consumerGroup": g, "topic": "AUTO_%04d" % t, "queueId": 0, "commitOffset": 0},
                                    opaque=len(frames) + 1))
        pipelined(port, frames)
    name = "7 /metrics scraped in a loop"
    if accepts(srv.mport) and b.setup(name, consumed):

        def scrapes():
            n, size, diff, end = 0, 0, 0, time.monotonic() + SCRAPE_S
            while time.monotonic() < end:
                text = metrics_probe.scrape(srv.mport)
                if text is None:
                    raise RuntimeError("scrape %d failed" % n)
                n, size = n + 1, len(text)
                diff = text.count("\nrocketmq_group_diff{")
            return "%d scrapes (%.0f/s), page %.1f MB, %d group_diff lines" % (n, n / SCRAPE_S, size / 1e6, diff)
        b.run(name, "broker", scrapes)
    elif not accepts(srv.mport):
        print("| %s | - | - | - | - | - | - | metrics port not open: not measured |" % name)

    # 5. (run last: what it leaves behind would spill into the others) 12 connections pipelining
    #    GET_ALL_TOPIC_CONFIG without reading (conn_limits.py's flood: 8 s, or until the broker
    #    grew 300 MB)
    ntopics = [0]

    def count_topics():
        r = expect_ok(Conn(port, timeout=120).call(21), "topic list")
        ntopics[0] = len(json.loads(r[1])["topicConfigTable"])

    def flood():
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            conn_limits.pipeline(port, srv.broker.pid, 12, 6000, 0, 300, 30)
        m = [ln.split("measure: ", 1)[1] for ln in out.getvalue().splitlines() if ln.startswith("measure: ")]
        return "%d topics in each answer; %s" % (ntopics[0], "; ".join(m))
    name = "5 12 non-reading pipelining clients"
    if b.setup(name, count_topics):
        b.run(name, "broker", flood)


    # 8. nothing running again: whatever the attacks left behind (groups, topics, routes) stays
    b.run("8 idle after the attacks (broker probe)", "broker", lambda: time.sleep(BASELINE_S))

    return b.broken


if __name__ == "__main__":
    main()
