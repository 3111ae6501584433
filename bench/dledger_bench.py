#!/usr/bin/env python3
"""DLedger benchmark: election, failover and replicated send throughput of a 3-node DLedger
group (enableDLegerCommitLog), all in one run. Starts its own mqnamesrv and mqbrokers on free
127.0.0.1 ports in a temporary dir (removed on exit, kept and named if something broke).
 1. cold start: the 3 nodes of a fresh group started at once; time until the name server lists
    a brokerId 0 for the group. COLD_RUNS times, each group new (fresh stores, new name).
 2. failover: on a running 3-node group, FAILOVERS times: kill -9 the node the name server
    lists as brokerId 0, time until it lists a brokerId 0 at another node's address; then
    restart the killed node (same store and ports) and wait until the name server lists it with
    a non-zero id (a follower again) before the next kill (that time is reported as "rejoin").
 3. throughput: 1 KiB SEND_MESSAGE_V2 requests pipelined on ONE connection (WINDOW in flight,
    answers matched by opaque), SECONDS long after a short warm-up, against (a) a single
    ASYNC_MASTER broker (no DLedger), (c) the same with flushDiskType=SYNC_FLUSH (it fsyncs
    before answering, as every Raft node does) and (b) the leader of the group of step 2 (still
    running, idle during (a) and (c)); sends/s, the ratios b/a and b/c, answer latency (window-bound), the CPU share
    (of one core) of each broker and of this client during the run (a client near 100 % is
    the limit: Python builds and parses every frame), and VmRSS (with RssAnon: VmRSS includes
    the mapped store files) of every broker at the end of its run.
The name server is asked with GET_BROKER_CLUSTER_INFO (106) every POLL_S for the timings, so
they are accurate to about POLL_S plus one round trip. Timings are reported, not judged: the
exit status is non-zero only if something broke (a wait ran out, a send was refused, a server
died). Prints markdown tables.
usage: dledger_bench.py <bin-dir> [seconds=10] [window=128] [failovers=20] [cold runs=5]"""
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
from rmq_frames import Conn, frame  # noqa: E402

POLL_S = 0.020          # name-server poll period for the timings
ELECT_LIMIT_S = 60      # a master must be listed within this (cold start, failover)
REJOIN_LIMIT_S = 90     # a restarted node must be listed as a follower within this
WARMUP_S = 2.0
BODY = b"x" * 1024
TOPIC = "DLBenchTopic"
QUEUES = 4


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def proc_kb(pid, key):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def cpu_s(pid):
    """User + system CPU seconds of a process so far (/proc/<pid>/stat), or nan."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


# ---- ports ---------------------------------------------------------------------------------------

class Ports:
    """Free loopback ports below the kernel's ephemeral range (32768+), so outgoing connections
    of other programs do not take a killed node's port before it is restarted. A broker port P
    also needs P-2 (VIP) and P+1 (HA); no two ports handed out here come within 3 of each other."""

    def __init__(self):
        self.taken = []

    @staticmethod
    def _bindable(p):
        s = socket.socket()
        try:
            s.bind(("0.0.0.0", p))
            return True
        except OSError:
            return False
        finally:
            s.close()

    def get(self):
        for _ in range(2000):
            p = random.randint(20002, 32000)
            if all(abs(p - q) > 3 for q in self.taken) and all(self._bindable(q) for q in (p - 2, p - 1, p, p + 1)):
                self.taken.append(p)
                return p
        raise SystemExit("dledger_bench: no free port found")


# ---- processes -----------------------------------------------------------------------------------

class Broken(Exception):
    pass


class Lab:
    """The temp dir, the name server and every broker process started by this run."""

    def __init__(self, bindir):
        self.bin = os.path.abspath(bindir)
        self.dir = tempfile.mkdtemp(prefix="loulan-dlbench.")
        self.env = dict(os.environ, HOME=os.path.join(self.dir, "home"), LOULAN_LOG_DIR=os.path.join(self.dir, "logs"))
        os.makedirs(self.env["HOME"])
        self.ports = Ports()
        self.procs = []
        self.ns_conn = None
        self.ns_port = self.ports.get()
        self.spawn("namesrv", [self.bin + "/mqnamesrv", "-l", str(self.ns_port)])
        if not wait_until(lambda: accepts(self.ns_port), 60):
            raise Broken("the name server did not open its port within 60 s")

    def spawn(self, name, argv):
        with open(os.path.join(self.dir, name + ".out"), "ab") as out:
            p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=self.env)
        self.procs.append(p)
        return p

    def broker(self, name, port, lines):
        conf = os.path.join(self.dir, name + ".conf")
        with open(conf, "w") as f:
            f.write("\n".join([
                "brokerClusterName=DefaultCluster", "brokerIP1=127.0.0.1", "listenPort=%d" % port,
                "namesrvAddr=127.0.0.1:%d" % self.ns_port, "mapedFileSizeCommitLog=67108864",
                "diskSpaceWarningLevelRatio=99", "diskSpaceCleanForciblyRatio=99", "autoCreateTopicEnable=true",
                "maxHashSlotNum=50000", "maxIndexNum=200000", "grpcServerPort=0"] + lines) + "\n")
        return self.spawn(name, [self.bin + "/mqbroker", "-c", conf])

    def cluster(self):
        """{brokerName: {brokerId: address}} as the name server lists it now (None if it did not
        answer). The name server writes the ids as bare numbers, as fastjson does: quoted here."""
        for _ in range(2):
            try:
                self.ns_conn = self.ns_conn or Conn(self.ns_port, timeout=5)
                r = self.ns_conn.call(106)
            except OSError:
                r = None
            if r is not None and r[0].get("code") == 0:
                text = re.sub(r'([{,])(-?\d+):', r'\1"\2":', r[1].decode())
                table = json.loads(text).get("brokerAddrTable", {})
                return {name: {int(k): v for k, v in e.get("brokerAddrs", {}).items()} for name, e in table.items()}
            if self.ns_conn:
                self.ns_conn.close()
            self.ns_conn = None
        return None

    def stop(self, procs=None, limit=15):
        """SIGTERM, a bounded wait, then SIGKILL, for the given processes (default: all)."""
        procs = self.procs if procs is None else procs
        for p in procs:
            if p.poll() is None:
                p.terminate()
        end = time.monotonic() + limit
        for p in procs:
            try:
                p.wait(max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)

    def close(self, keep):
        if self.ns_conn:
            self.ns_conn.close()
        self.stop()
        if keep:
            print("data and logs kept in " + self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


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


def poll_ns(lab, cond, limit_s, what):
    """Ask the name server every POLL_S until cond(cluster) gives a value; returns (seconds
    since the call, value). Raises Broken after limit_s."""
    t0 = time.monotonic()
    due = t0
    while True:
        info = lab.cluster()
        v = cond(info) if info is not None else None
        if v is not None:
            return time.monotonic() - t0, v
        if time.monotonic() - t0 > limit_s:
            raise Broken("not within %.0f s: %s (name server lists %s)" % (limit_s, what, info))
        due += POLL_S
        time.sleep(max(0.0, due - time.monotonic()))


class Group:
    """A 3-node DLedger group (ids n0..n2) named name, with its own stores and ports."""

    def __init__(self, lab, name, n=3):
        self.lab, self.name, self.n = lab, name, n
        self.port = [lab.ports.get() for _ in range(n)]
        self.peer = [lab.ports.get() for _ in range(n)]
        self.peers = ";".join("n%d-127.0.0.1:%d" % (i, self.peer[i]) for i in range(n))
        self.proc = [None] * n

    def addr(self, i):
        return "127.0.0.1:%d" % self.port[i]

    def index_of(self, addr):
        return next((i for i in range(self.n) if self.addr(i) == addr), None)

    def start(self, i):
        self.proc[i] = self.lab.broker("%s-n%d" % (self.name, i), self.port[i], [
            "brokerName=" + self.name, "storePathRootDir=" + os.path.join(self.lab.dir, self.name, "n%d" % i),
            "enableDLegerCommitLog=true", "dLegerGroup=" + self.name, "dLegerPeers=" + self.peers,
            "dLegerSelfId=n%d" % i])

    def start_all(self):
        for i in range(self.n):
            self.start(i)

    def listed(self, info):
        return (info or {}).get(self.name, {})

    def master(self, info):
        """The node index the name server lists as brokerId 0, or None."""
        a = self.listed(info).get(0)
        return self.index_of(a) if a else None

    def all_listed(self, info):
        """The leader's index once the name server lists a master and every other node with a
        non-zero id, else None."""
        addrs = self.listed(info)
        m = self.master(info)
        if m is None:
            return None
        followers = {a for k, a in addrs.items() if k != 0}
        return m if all(self.addr(i) in followers for i in range(self.n) if i != m) else None

    def stop(self):
        self.lab.stop([p for p in self.proc if p])

    def check_alive(self, what):
        for i, p in enumerate(self.proc):
            if p is not None and p.poll() is not None:
                raise Broken("%s: node n%d of %s exited (status %s)" % (what, i, self.name, p.returncode))


# ---- 1. cold start -------------------------------------------------------------------------------

def cold_start(lab, runs):
    times, leaders = [], []
    for k in range(runs):
        g = Group(lab, "DLCold%d" % k)
        try:
            t0 = time.monotonic()
            g.start_all()
            _, m = poll_ns(lab, g.master, ELECT_LIMIT_S, "cold start %d: a master of %s" % (k, g.name))
            times.append(time.monotonic() - t0)
            leaders.append("n%d" % m)
            g.check_alive("cold start")
        finally:
            g.stop()
    return times, leaders


# ---- 2. failover ---------------------------------------------------------------------------------

def failover(lab, g, rounds):
    g.start_all()
    poll_ns(lab, g.all_listed, ELECT_LIMIT_S + REJOIN_LIMIT_S, "the first master of %s and both followers" % g.name)
    times, rejoin, path = [], [], []
    for k in range(rounds):
        _, m = poll_ns(lab, g.all_listed, REJOIN_LIMIT_S, "round %d: a master and both followers listed" % k)
        dead = g.addr(m)
        t0 = time.monotonic()
        os.kill(g.proc[m].pid, signal.SIGKILL)
        _, nm = poll_ns(lab, lambda info: (g.master(info) if g.listed(info).get(0) not in (None, dead) else None),
                        ELECT_LIMIT_S, "round %d: a new master after n%d was killed" % (k, m))
        times.append(time.monotonic() - t0)
        path.append("n%d>n%d" % (m, nm))
        g.proc[m].wait(10)
        g.proc[m] = None
        g.check_alive("failover round %d" % k)
        # the name server drops a broker whose connection closed: once the dead node is not
        # listed, a listing of its address under a non-zero id comes from the restarted process
        poll_ns(lab, lambda info: None if dead in g.listed(info).values() else True, 30,
                "round %d: the name server forgets the killed n%d" % (k, m))
        t1 = time.monotonic()
        g.start(m)
        poll_ns(lab, lambda info: (True if any(a == dead for i, a in g.listed(info).items() if i != 0) else None),
                REJOIN_LIMIT_S, "round %d: n%d restarted and listed as a follower" % (k, m))
        rejoin.append(time.monotonic() - t1)
    return times, rejoin, path


# ---- 3. throughput -------------------------------------------------------------------------------

MARK = 987654321987  # stands for the opaque in the frame templates


def templates():
    """Per queue: the bytes of a SEND_MESSAGE_V2 header before and after the opaque's digits
    (made by rmq_frames.frame, so the fields are the tests' own)."""
    out = []
    for q in range(QUEUES):
        ext = {"a": "DLBenchPG", "b": TOPIC, "c": "TBW102", "d": QUEUES, "e": q, "f": 0, "g": 1700000000000,
               "h": 0, "i": "TAGS\x01bench\x02WAIT\x01true\x02", "j": 0, "k": "false", "m": "false"}
        f = frame(310, ext, b"", opaque=MARK)
        hdr = f[8:]
        pre, post = hdr.split(str(MARK).encode())
        out.append((pre, post))
    return out


def send_window(port, seconds, window, tpl):
    """Pipelined sends on one connection for `seconds`; then every answer still owed is read.
    Returns (ok, {code: count}, elapsed s, sorted latencies s)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    inflight, lat, errors = {}, [], {}
    ok, op, buf, pos = 0, 0, bytearray(), 0
    blen = len(BODY)
    t0 = time.monotonic()
    end = t0 + seconds
    last = t0
    try:
        while True:
            now = time.monotonic()
            if now < end and len(inflight) < window:
                out = []
                while len(inflight) < window:
                    op += 1
                    pre, post = tpl[op % QUEUES]
                    h = pre + str(op).encode() + post
                    out.append(struct.pack(">II", 4 + len(h) + blen, len(h)) + h + BODY)
                    inflight[op] = now
                s.sendall(b"".join(out))
            elif not inflight:
                break
            data = s.recv(1 << 20)
            if not data:
                raise Broken("the broker closed the connection with %d sends in flight" % len(inflight))
            now = time.monotonic()
            buf += data
            while len(buf) - pos >= 4:
                (n,) = struct.unpack_from(">I", buf, pos)
                if len(buf) - pos - 4 < n:
                    break
                hl = struct.unpack_from(">I", buf, pos + 4)[0] & 0xFFFFFF
                hdr = json.loads(bytes(buf[pos + 8:pos + 8 + hl]))
                pos += 4 + n
                sent = inflight.pop(hdr.get("opaque"), None)
                if sent is None or not hdr.get("flag", 0) & 1:
                    raise Broken("an answer matching no send in flight: %s" % hdr)
                lat.append(now - sent)
                last = now
                if hdr.get("code") == 0:
                    ok += 1
                else:
                    errors[hdr.get("code")] = errors.get(hdr.get("code"), 0) + 1
            if pos > 1 << 16:
                del buf[:pos]
                pos = 0
    except socket.timeout:
        raise Broken("no answer for 30 s with %d sends in flight" % len(inflight))
    finally:
        s.close()
    lat.sort()
    return ok, errors, last - t0, lat


def first_send(port, limit_s):
    """One send, repeated until it is answered SUCCESS (auto-creates the topic): seconds taken."""
    t0 = time.monotonic()
    last = None
    while time.monotonic() - t0 < limit_s:
        try:
            c = Conn(port, timeout=10)
            r = c.call(310, {"a": "DLBenchPG", "b": TOPIC, "c": "TBW102", "d": QUEUES, "e": 0, "f": 0, "g": 0, "h": 0,
                             "i": "", "j": 0, "k": "false", "m": "false"}, BODY)
            c.close()
        except OSError as e:
            r, last = None, e
        if r is not None and r[0].get("code") == 0:
            return time.monotonic() - t0
        last = r[0] if r else last
        time.sleep(0.2)
    raise Broken("no send answered SUCCESS within %.0f s (last: %s)" % (limit_s, last))


def max_offsets(port):
    c = Conn(port, timeout=10)
    try:
        out = []
        for q in range(QUEUES):
            r = c.call(30, {"topic": TOPIC, "queueId": q})
            out.append(r[0]["extFields"].get("offset") if r and r[0].get("code") == 0 else None)
        return out
    finally:
        c.close()


def throughput(port, seconds, window, tpl, pids):
    """The measured run, after a first send and a warm-up; also the CPU share (of one core)
    used meanwhile by this client and by each of the given processes."""
    first_send(port, 60)
    ok, errors, el, _ = send_window(port, WARMUP_S, window, tpl)
    if errors:
        raise Broken("warm-up: sends refused: %s" % errors)
    c0, b0 = sum(os.times()[:2]), {p: cpu_s(p) for p in pids}
    ok, errors, el, lat = send_window(port, seconds, window, tpl)
    c1, b1 = sum(os.times()[:2]), {p: cpu_s(p) for p in pids}
    pct = (lambda p: lat[min(len(lat) - 1, int(len(lat) * p))] * 1e3) if lat else (lambda p: float("nan"))
    return {"ok": ok, "errors": errors, "elapsed": el, "rate": ok / el if el > 0 else 0.0,
            "p50": pct(0.5), "p99": pct(0.99), "client_cpu": 100 * (c1 - c0) / el,
            "cpu": {p: 100 * (b1[p] - b0[p]) / el for p in pids}}


def rss(pid):
    return proc_kb(pid, "VmRSS:") / 1024.0, proc_kb(pid, "RssAnon:") / 1024.0


# ---- report --------------------------------------------------------------------------------------

def ms_stats(xs):
    return "%.0f" % (statistics.median(xs) * 1e3), "%.0f" % (max(xs) * 1e3), "%.0f" % (min(xs) * 1e3)


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__.rsplit("usage: ", 1)[1])
    bindir = sys.argv[1]
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
    window = int(sys.argv[3]) if len(sys.argv) > 3 else 128
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 20
    cold_runs = int(sys.argv[5]) if len(sys.argv) > 5 else 5
    for prog in ("mqnamesrv", "mqbroker"):
        if not os.access(os.path.join(bindir, prog), os.X_OK):
            raise SystemExit("dledger_bench: no %s in %s (give the build's bin folder)" % (prog, bindir))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    t_all = time.monotonic()
    load0 = loadavg()
    print("load average before: %s (%d cores)" % (load0, os.cpu_count()), flush=True)
    lab = Lab(bindir)
    broken, rows, tput = [], [], []
    res_a = res_b = res_c = None
    note = ""
    try:
        try:
            times, leaders = cold_start(lab, cold_runs)
            med, mx, mn = ms_stats(times)
            rows.append(("cold start: 3 fresh nodes at once -> master listed", len(times), med, mx, mn,
                         "leaders " + " ".join(leaders)))
        except Broken as e:
            broken.append("cold start: %s" % e)
        print("cold start done (%.0f s)" % (time.monotonic() - t_all), flush=True)

        g = Group(lab, "RaftNode00")
        try:
            times, rejoin, path = failover(lab, g, rounds)
            med, mx, mn = ms_stats(times)
            rows.append(("failover: kill -9 leader -> other master listed", len(times), med, mx, mn,
                         "old>new " + " ".join(path)))
            med, mx, mn = ms_stats(rejoin)
            rows.append(("rejoin: restart killed node -> listed as follower", len(rejoin), med, mx, mn, ""))
        except Broken as e:
            broken.append("failover: %s" % e)
        print("failover done (%.0f s)" % (time.monotonic() - t_all), flush=True)

        tpl = templates()
        # (a) a plain ASYNC_MASTER broker, and (c) one that fsyncs before answering
        # (SYNC_FLUSH), as every Raft node does: the group idle meanwhile
        def single_run(tag, label, extra):
            sport = lab.ports.get()
            name = "broker-single-" + tag
            single = lab.broker("single-" + tag, sport, ["brokerName=" + name, "brokerId=0", "brokerRole=ASYNC_MASTER",
                                                         "storePathRootDir=" + os.path.join(lab.dir, "single-" + tag)]
                                + extra)
            try:
                poll_ns(lab, lambda info: True if (info or {}).get(name, {}).get(0) == "127.0.0.1:%d" % sport
                        else None, 90, "the single broker registered")
                res = throughput(sport, seconds, window, tpl, [single.pid])
                tput.append((label, res, rss(single.pid), res["cpu"][single.pid]))
                return res
            except Broken as e:
                broken.append("throughput (%s): %s" % (tag, e))
            finally:
                lab.stop([single])
            return None
        res_a = single_run("a", "(a) single ASYNC_MASTER (no DLedger)", [])
        res_c = single_run("c", "(c) single ASYNC_MASTER, flushDiskType=SYNC_FLUSH", ["flushDiskType=SYNC_FLUSH"])
        print("throughput (a), (c) done (%.0f s)" % (time.monotonic() - t_all), flush=True)

        # (b) the group's leader
        try:
            _, m = poll_ns(lab, g.all_listed, REJOIN_LIMIT_S, "the group's master and both followers listed")
            res_b = throughput(g.port[m], seconds, window, tpl, [p.pid for p in g.proc])
            after = {i: rss(g.proc[i].pid) for i in range(g.n)}
            g.check_alive("throughput (b)")
            # followers serve everything the leader has (the slower one may trail the majority)
            want = max_offsets(g.port[m])
            t1 = time.monotonic()
            caught = wait_until(lambda: all(max_offsets(g.port[i]) == want for i in range(g.n) if i != m), 60, 0.1)
            note = ("followers' max offsets equal the leader's %.1f s after the run" % (time.monotonic() - t1)
                    if caught else "followers did NOT reach the leader's max offsets within 60 s")
            if not caught:
                broken.append("throughput (b): " + note)
            tput.append(("(b) DLedger leader n%d of 3" % m, res_b, after[m], res_b["cpu"][g.proc[m].pid]))
            for i in range(g.n):
                if i != m:
                    tput.append(("(b) follower n%d" % i, None, after[i], res_b["cpu"][g.proc[i].pid]))
        except Broken as e:
            broken.append("throughput (b): %s" % e)
        finally:
            g.stop()
    except KeyboardInterrupt:
        broken.append("interrupted")
    finally:
        load1 = loadavg()
        lab.close(keep=bool(broken))

    print()
    print("| measure | n | median ms | max ms | min ms | note |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print("| %s | %d | %s | %s | %s | %s |" % r)
    print()
    print("| broker (1 KiB sends, one connection, window %d, %.0f s) | sends/s | refused | answer p50 ms | answer p99 ms "
          "| broker CPU %% | client CPU %% | VmRSS MB (RssAnon MB) at the end |" % (window, seconds))
    print("|---|---|---|---|---|---|---|---|")
    for name, res, (vm, anon), cpu in tput:
        if res:
            print("| %s | %.0f | %s | %.1f | %.1f | %.0f | %.0f | %.0f (%.1f) |" % (
                name, res["rate"], ", ".join("%d x code %s" % (v, k) for k, v in res["errors"].items()) or "0",
                res["p50"], res["p99"], cpu, res["client_cpu"], vm, anon))
        else:
            print("| %s | - | - | - | - | %.0f | - | %.0f (%.1f) |" % (name, cpu, vm, anon))
        if res and res["errors"]:
            broken.append("%s: sends refused %s" % (name.strip(), res["errors"]))
    if res_a and res_b:
        print("| ratio b/a | %.2f | | | | | | |" % (res_b["rate"] / res_a["rate"]))
    if res_c and res_b:
        print("| ratio b/c | %.2f | | | | | | |" % (res_b["rate"] / res_c["rate"]))
    if note:
        print()
        print(note)
    print()
    print("load average before: %s, after: %s; whole run %.0f s" % (load0, load1, time.monotonic() - t_all))
    for what in broken:
        print("BROKEN: " + what)
    sys.exit(1 if broken else 0)


if __name__ == "__main__":
    main()
