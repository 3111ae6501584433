#!/usr/bin/env python3
"""Dashboard benchmark: what loulan-dashboard costs and how its pages scale with the cluster.
For each size N (default 10 and 10000) a fresh mqnamesrv + mqbroker start on 127.0.0.1 with N
topics and N subscription groups already in the broker's config files (so the setup takes
seconds, not minutes), and a fresh loulan-dashboard against them. Measured, per size:
  start     - ms from exec until the dashboard answers login/check.query
  rss idle  - the dashboard's VmRSS once started and idle
  per page  - median ms over REPEAT requests of: the topic page's list (paged, 20 rows: what the
              UI asks), the whole topic list (the original's unpaged answer), the consumer page's
              group list (paged), the cluster page
  rss busy  - VmHWM (peak RSS) after 4 threads have requested those pages for SECONDS
The ratio of the large size to the small one says how a page scales with the number of topics
or groups; results are reported, not judged (exit status non-zero only if something broke).
usage: dashboard_bench.py <bin-dir> [sizes=10,10000] [repeat=15] [seconds=5]"""
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

PAGES = [
    ("topics, page of 20", "topic/list.queryTopicType?pageNum=1&pageSize=20"),
    ("topics, whole list", "topic/list.query"),
    ("groups, page of 20", "consumer/groupList.query?pageNum=1&pageSize=20"),
    ("cluster", "cluster/list.query"),
]


def free_port(broker=False):
    while True:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        p = s.getsockname()[1]
        s.close()
        if not broker:
            return p
        if p < 3000 or p > 60000:
            continue
        ok = True
        for q in (p - 2, p + 1):
            t = socket.socket()
            try:
                t.bind(("127.0.0.1", q))
            except OSError:
                ok = False
            t.close()
        if ok:
            return p


def wait(cond, what, limit=120):
    end = time.time() + limit
    while time.time() < end:
        try:
            if cond():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"timeout: {what}")


def get(url, timeout=60):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


def seed(store, n):
    """topics.json and subscriptionGroup.json with n topics and n groups."""
    os.makedirs(f"{store}/config")
    dv = {"counter": 1, "timestamp": int(time.time() * 1000)}
    topics = {f"BenchTopic{i:05d}": {"topicName": f"BenchTopic{i:05d}", "readQueueNums": 4, "writeQueueNums": 4,
                                     "perm": 6, "topicFilterType": "SINGLE_TAG", "topicSysFlag": 0, "order": False}
              for i in range(n)}
    groups = {f"BenchGroup{i:05d}": {"groupName": f"BenchGroup{i:05d}", "consumeEnable": True,
                                     "consumeFromMinEnable": True, "consumeBroadcastEnable": True,
                                     "retryQueueNums": 1, "retryMaxTimes": 16, "brokerId": 0,
                                     "whichBrokerWhenConsumeSlowly": 1}
              for i in range(n)}
    with open(f"{store}/config/topics.json", "w") as f:
        json.dump({"dataVersion": dv, "topicConfigTable": topics}, f)
    with open(f"{store}/config/subscriptionGroup.json", "w") as f:
        json.dump({"dataVersion": dv, "subscriptionGroupTable": groups}, f)


def rss(pid, key="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def timed(url, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        body = get(url)
        times.append((time.perf_counter() - t) * 1000)
        if json.loads(body).get("status") != 0:
            return None, json.loads(body).get("errMsg")
    return statistics.median(times), None


def run_size(bin_dir, n, repeat, seconds):
    d = tempfile.mkdtemp(prefix="loulan-dbench.")
    procs = []
    try:
        ns_port, br_port, db_port = free_port(), free_port(True), free_port()
        seed(f"{d}/store", n)
        env = dict(os.environ, LOULAN_LOG_DIR=f"{d}/logs", HOME=d)
        log = open(f"{d}/out.log", "w")
        procs.append(subprocess.Popen([f"{bin_dir}/mqnamesrv", "-l", str(ns_port)], stdout=log, stderr=log, env=env))
        with open(f"{d}/broker.conf", "w") as f:
            f.write(f"brokerClusterName=DefaultCluster\nbrokerName=broker-a\nbrokerId=0\nbrokerIP1=127.0.0.1\n"
                    f"listenPort={br_port}\nnamesrvAddr=127.0.0.1:{ns_port}\nstorePathRootDir={d}/store\n"
                    f"diskSpaceWarningLevelRatio=99\ndiskSpaceCleanForciblyRatio=99\ngrpcServerPort=0\n")
        procs.append(subprocess.Popen([f"{bin_dir}/mqbroker", "-c", f"{d}/broker.conf"], stdout=log, stderr=log, env=env))
        t0 = time.perf_counter()
        db = subprocess.Popen([f"{bin_dir}/loulan-dashboard", "--server.address=127.0.0.1", f"--server.port={db_port}",
                               f"--rocketmq.config.namesrvAddrs=127.0.0.1:{ns_port}",
                               f"--rocketmq.config.dataPath={d}/dashboard"], stdout=log, stderr=log, env=env)
        procs.append(db)
        base = f"http://127.0.0.1:{db_port}/"
        wait(lambda: get(base + "login/check.query"), "dashboard")
        start_ms = (time.perf_counter() - t0) * 1000
        wait(lambda: len(json.loads(get(base + "topic/list.query"))["data"]["topicList"]) >= n, "topics registered")
        time.sleep(1)  # let the start settle before reading the idle figure (a reading, not a sync)
        res = {"start": start_ms, "rss_idle": rss(db.pid)}
        for name, path in PAGES:
            res[name] = timed(base + path, repeat)
        stop = time.time() + seconds

        def load():
            while time.time() < stop:
                for _, path in PAGES:
                    get(base + path)
        threads = [threading.Thread(target=load) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        res["rss_busy"] = rss(db.pid, "VmHWM")
        return res
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(d, ignore_errors=True)


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    bin_dir = sys.argv[1]
    sizes = [int(x) for x in (sys.argv[2] if len(sys.argv) > 2 else "10,10000").split(",")]
    repeat = int(sys.argv[3]) if len(sys.argv) > 3 else 15
    seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 5
    results = {n: run_size(bin_dir, n, repeat, seconds) for n in sizes}
    print(f"{'':24}" + "".join(f"{f'N={n}':>14}" for n in sizes) + (f"{'ratio':>10}" if len(sizes) > 1 else ""))
    print(f"{'start (ms)':24}" + "".join(f"{results[n]['start']:14.1f}" for n in sizes))
    print(f"{'RSS idle (MB)':24}" + "".join(f"{results[n]['rss_idle']:14.1f}" for n in sizes))
    for name, _ in PAGES:
        cells = []
        for n in sizes:
            ms, err = results[n][name]
            cells.append(f"{ms:14.1f}" if ms is not None else f"{'error':>14}")
        ratio = ""
        a, b = results[sizes[0]][name][0], results[sizes[-1]][name][0]
        if len(sizes) > 1 and a and b:
            ratio = f"{b / a:10.1f}"
        print(f"{name + ' (ms)':24}" + "".join(cells) + ratio)
        for n in sizes:
            if results[n][name][1]:
                print(f"    N={n}: {results[n][name][1]}")
    print(f"{'RSS peak, busy (MB)':24}" + "".join(f"{results[n]['rss_busy']:14.1f}" for n in sizes))


if __name__ == "__main__":
    main()
