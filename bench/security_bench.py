#!/usr/bin/env python3
"""Security benchmark: what plain ACL and TLS cost a producer, all measured in one run.
Each round starts a fresh mqnamesrv + mqbroker (ASYNC_MASTER, ASYNC_FLUSH, 127.0.0.1, a new
temporary store) for each configuration, in an order that rotates from round to round, and
runs `bin/benchmark producer` (the C client, 1 KiB messages, THREADS sender threads, WINDOW
async sends in flight) against it for SECONDS:
  plain   - no ACL, no TLS: the baseline
  acl     - aclEnable=true with a plain_acl.yml of ACCOUNTS accounts (the client's one has a
            topicPerms list of PERMS topics, so the lookup is not trivially short); the
            benchmark signs every request (-a/-k), the broker verifies every signature
  tls     - tls.server.mode=enforcing with the test-mode certificate; the benchmark connects
            with JAVA_OPT=-Dtls.enable=true (both the name server and the broker over TLS)
  acl+tls - both
Reports the median send TPS of each configuration over ROUNDS rounds, its ratio to plain, the
broker's CPU share (of one core), its CPU time per send (what ACL or TLS costs the broker
itself: the client shares the machine and signs or encrypts too) and its RSS at the end. Results are reported,
not judged: the exit status is non-zero only if something broke.
usage: security_bench.py <bin-dir> [seconds=10] [rounds=3] [threads=4] [window=1024]"""
import os
import threading
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ACCOUNTS, PERMS = 100, 200


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def broker_port():
    while True:  # P, P-2 (VIP) and P+1 (HA) free
        p = free_port()
        if p < 3000 or p > 60000:
            continue
        ok = True
        for q in (p - 2, p + 1):
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", q))
            except OSError:
                ok = False
            s.close()
        if ok:
            return p


def wait_port(port, proc, limit=60):
    end = time.time() + limit
    while time.time() < end:
        if proc.poll() is not None:
            raise RuntimeError("a server exited at start")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("port %d not listening" % port)


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        v = f.read().rsplit(")", 1)[1].split()
    return int(v[11]) + int(v[12])


def rss_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def write_acl(home):
    os.makedirs(os.path.join(home, "conf"), exist_ok=True)
    with open(os.path.join(home, "conf", "plain_acl.yml"), "w") as f:
        f.write("globalWhiteRemoteAddresses:\n  - 10.10.103.*\naccounts:\n")
        for i in range(ACCOUNTS):
            f.write("  - accessKey: benchKey%04d\n    secretKey: benchSecret%04d\n    defaultTopicPerm: DENY\n"
                    "    defaultGroupPerm: SUB\n    topicPerms:\n" % (i, i))
            for t in range(PERMS):
                f.write("      - BenchTopic%04d=PUB|SUB\n" % t)
            f.write("      - BenchmarkTest=PUB|SUB\n      - TBW102=PUB|SUB\n")


def run_one(bindir, cfg, seconds, threads, window):
    d = tempfile.mkdtemp(prefix="loulan-secbench-")
    procs = []
    env = dict(os.environ, LOULAN_LOG_DIR=d)
    env.pop("JAVA_OPT", None)
    try:
        acl, tls = "acl" in cfg, "tls" in cfg
        ns_port, bport = free_port(), broker_port()
        extra = []
        if tls:
            with open(os.path.join(d, "ns.conf"), "w") as f:
                f.write("tls.server.mode=enforcing\n")
            extra = ["tls.server.mode=enforcing"]
        ns_args = [os.path.join(bindir, "mqnamesrv"), "-l", str(ns_port)] + (["-c", os.path.join(d, "ns.conf")] if tls else [])
        ns = subprocess.Popen(ns_args, stdout=open(os.path.join(d, "ns.out"), "w"), stderr=subprocess.STDOUT, env=env)
        procs.append(ns)
        if acl:
            write_acl(d)
            extra += ["aclEnable=true", "rocketmqHome=%s" % d]
        with open(os.path.join(d, "broker.conf"), "w") as f:
            f.write("brokerClusterName=DefaultCluster\nbrokerName=broker-a\nbrokerId=0\nbrokerIP1=127.0.0.1\n"
                    "listenPort=%d\nnamesrvAddr=127.0.0.1:%d\nstorePathRootDir=%s/store\nautoCreateTopicEnable=true\n"
                    "mapedFileSizeCommitLog=268435456\ndiskSpaceWarningLevelRatio=99\ndiskSpaceCleanForciblyRatio=99\ngrpcServerPort=0\n"
                    % (bport, ns_port, d) + "".join(x + "\n" for x in extra))
        br = subprocess.Popen([os.path.join(bindir, "mqbroker"), "-c", os.path.join(d, "broker.conf")],
                              stdout=open(os.path.join(d, "broker.out"), "w"), stderr=subprocess.STDOUT, env=env)
        procs.append(br)
        if not tls:
            wait_port(ns_port, ns)
        wait_port(bport, br)
        time.sleep(1.0)  # its first registration (the benchmark needs the route of TBW102)
        cmd = [os.path.join(bindir, "benchmark"), "producer", "-n", "127.0.0.1:%d" % ns_port, "-s", "1024",
               "-w", str(threads), "-W", str(window), "-d", str(seconds)]
        if acl:
            cmd += ["-a", "benchKey0042", "-k", "benchSecret0042"]
        benv = dict(env)
        if tls:
            benv["JAVA_OPT"] = "-Dtls.enable=true"
        t0, c0 = time.time(), cpu_ticks(br.pid)
        bp = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=benv)
        timer = threading.Timer(seconds + 60, bp.kill)
        timer.start()
        stdout = bp.stdout.read()  # until it exits
        _, status, ru = os.wait4(bp.pid, 0)  # this client's own CPU (the servers are children too)
        timer.cancel()
        bp.returncode = os.waitstatus_to_exitcode(status)
        stderr = ""
        t1, c1 = time.time(), cpu_ticks(br.pid)
        client_cpu = (ru.ru_utime + ru.ru_stime) / (t1 - t0) * 100
        out = subprocess.CompletedProcess(cmd, bp.returncode, stdout, stderr)
        rss = rss_mb(br.pid)
        summary = [line for line in out.stdout.splitlines() if "summary:" in line]
        if out.returncode != 0 or not summary:
            raise RuntimeError("%s: benchmark failed: %s %s" % (cfg, out.stdout[-500:], out.stderr[-500:]))
        fields = dict(kv.split("=") for kv in summary[-1].split("summary:")[1].split())
        if int(fields["failed"]) > 0:
            raise RuntimeError("%s: %s sends failed" % (cfg, fields["failed"]))
        cpu = (c1 - c0) / os.sysconf("SC_CLK_TCK") / (t1 - t0) * 100
        shutil.rmtree(d, ignore_errors=True)
        return float(fields["tps"]), float(fields["p99(ms)"]), cpu, rss, client_cpu
    except Exception:
        print("kept for inspection: %s" % d, file=sys.stderr)
        raise
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    bindir = sys.argv[1]
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else 4
    window = int(sys.argv[5]) if len(sys.argv) > 5 else 1024
    cfgs = ["plain", "acl", "tls", "acl+tls"]
    res = {c: [] for c in cfgs}
    for r in range(rounds):
        order = cfgs[r % len(cfgs):] + cfgs[:r % len(cfgs)]
        for c in order:
            tps, p99, cpu, rss, ccpu = run_one(bindir, c, seconds, threads, window)
            res[c].append((tps, p99, cpu, rss, ccpu))
            print("round %d %-8s %9.0f sends/s  p99 %6.1f ms  broker CPU %4.0f %%  client CPU %4.0f %%  RSS %5.1f MB"
                  % (r + 1, c, tps, p99, cpu, ccpu, rss), flush=True)
    base = statistics.median(x[0] for x in res["plain"])
    # the broker's CPU time per message: what ACL or TLS costs the broker itself, apart from
    # the client (which runs on the same machine and signs or encrypts too)
    per = {c: statistics.median(x[2] / 100 * 1e6 / x[0] for x in res[c]) for c in cfgs}
    print("\n| configuration | median sends/s | vs plain | median p99 (ms) | broker CPU (% of a core) | broker CPU per send (us) | vs plain | client CPU (% of a core) | broker RSS (MB) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for c in cfgs:
        tps = statistics.median(x[0] for x in res[c])
        print("| %s | %.0f | %.2f | %.1f | %.0f | %.1f | %.2f | %.0f | %.1f |" % (
            c, tps, tps / base, statistics.median(x[1] for x in res[c]), statistics.median(x[2] for x in res[c]),
            per[c], per[c] / per["plain"], statistics.median(x[4] for x in res[c]), statistics.median(x[3] for x in res[c])))
    print("\n(%d rounds of %d s, 1 KiB messages, %d threads, window %d; ACL: %d accounts of %d topicPerms each)"
          % (rounds, seconds, threads, window, ACCOUNTS, PERMS + 2))


if __name__ == "__main__":
    main()
