#!/usr/bin/env bash
# A DLedger group split by the network (docs/dledger.md): three nodes whose peer links all pass
# through dledger_proxy.py. Node i listens for peers on 127.0.0.1:R_i (dLegerBindAddress) while
# dLegerPeers names 127.0.0.1:P_i, where the proxy listens and forwards to R_i.
#  1. the group elects a master; every node's peer traffic goes through the proxy; acknowledged
#     sends reach all three nodes;
# then 2-5 twice, the leader L split off first by "isolate" (links cut, new ones refused), then
# by "freeze" (links stall, what is in flight is delivered after the heal):
#  2. no send to L is answered SUCCESS (SYSTEM_ERROR after 2.5 s, SERVICE_NOT_AVAILABLE when
#     deposed while waiting or once a slave); at least one reached it while it led; what L took
#     is never visible to pulls on L;
#  3. the other two elect a leader, which the name server lists as brokerId 0 (L re-registers
#     as a slave); its sends are acknowledged;
#  4. healed, the three converge (same max offset per queue, L not master);
#  5. every acknowledged message is on all three nodes exactly once, at the queue offset and
#     commit-log offset (msgId) of its answer; the queues are identical on all nodes; nothing
#     sent to a split leader is in any queue of any node; the master takes sends, L refuses them.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
lt_start_namesrv || lt_fail "name server did not start"
export PYTHONPATH="$here"
TOPIC=PartTopic
ACKED="$LT_DIR/acked.json"     # [[body, queueId, queueOffset, msgId], ...] of every SUCCESS
FENCED="$LT_DIR/fenced.json"   # bodies sent to a split-off leader

# ---- ports: broker ports as lt_start_dledger_group picks them, then seven single ports (three
# proxy ports P_i, three bind ports R_i, the proxy's control port) below the ephemeral range,
# away from every broker's P-2..P+1
LT_DL_N=3
LT_DL_PORT=(); LT_DL_PEER=(); LT_DL_PID=(); REAL=()
for ((i = 0; i < LT_DL_N; i++)); do
    while :; do
        p=$(lt_free_broker_port)
        clash=0
        for q in "${LT_DL_PORT[@]}"; do [ $((p > q ? p - q : q - p)) -gt 3 ] || clash=1; done
        [ $clash -eq 0 ] && break
    done
    LT_DL_PORT[i]=$p
done
read -r -a singles < <(python3 - "${LT_DL_PORT[@]}" <<'PY'
import random, socket, sys
taken = {q for p in map(int, sys.argv[1:]) for q in range(p - 2, p + 2)}
out = []
while len(out) < 7:
    p = random.randint(20002, 32000)
    if p in taken:
        continue
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    taken.add(p)
    out.append(p)
print(*out)
PY
)
[ "${#singles[@]}" -eq 7 ] || lt_fail "no free ports"
peers="" routes=()
for ((i = 0; i < LT_DL_N; i++)); do
    LT_DL_PEER[i]=${singles[i]}
    REAL[i]=${singles[i + 3]}
    peers="${peers:+$peers;}n$i-127.0.0.1:${LT_DL_PEER[i]}"
    routes+=("${LT_DL_PEER[i]}:${REAL[i]}:$((i + 1))")   # raft id of n<i> is i+1
done
LT_DL_PEERS=$peers
CTL=${singles[6]}

python3 "$here/dledger_proxy.py" "$CTL" "${routes[@]}" >"$LT_DIR/proxy.log" 2>&1 &
PROXY_PID=$!
LT_PIDS+=("$PROXY_PID")
lt_wait_port "$CTL" 30 || lt_fail "the proxy did not start: $(cat "$LT_DIR/proxy.log")"

# node i as lt_dledger_node starts it, listening for peers behind the proxy
dl_node() {
    local i=$1
    lt_broker_proc "dl$i" "${LT_DL_PORT[i]}" "brokerName=RaftNode00" "storePathRootDir=$LT_DIR/dl$i" \
        "enableDLegerCommitLog=true" "dLegerGroup=RaftNode00" "dLegerPeers=$LT_DL_PEERS" "dLegerSelfId=n$i" \
        "dLegerBindAddress=127.0.0.1:${REAL[i]}" "dLegerElectionTimeoutMs=800" \
        "autoCreateTopicEnable=true" "maxHashSlotNum=50000" "maxIndexNum=200000"
    local rc=$?
    LT_DL_PID[i]=$LT_LAST_PID
    return $rc
}
fail() {
    echo "--- proxy"; tail -n 20 "$LT_DIR/proxy.log"
    for ((k = 0; k < LT_DL_N; k++)); do echo "--- dl$k.out"; grep -i -E "dledger|raft" "$LT_DIR/dl$k.out" | tail -n 15; done
    lt_fail "$@"
}
for ((i = 0; i < LT_DL_N; i++)); do dl_node "$i" || fail "node n$i did not start"; done

has_leader() { [ -n "$(lt_dledger_leader_index)" ]; }
lt_wait_for 60 "the group elects a master" has_leader || fail "no master"
L=$(lt_dledger_leader_index)
echo "leader: n$L (broker port ${LT_DL_PORT[L]})"
ports="${LT_DL_PORT[0]},${LT_DL_PORT[1]},${LT_DL_PORT[2]}"

# 1. peer traffic through the proxy; acknowledged sends on all nodes
timeout 120 python3 - "$CTL" "$ports" "$L" "$TOPIC" "$ACKED" <<'PY' || fail "before the partition"
import json, sys, time
from dledger_proxy import Client
from rmq_frames import Conn, send_v2
ctl, ports, L, topic, acked_path = Client(int(sys.argv[1])), [int(p) for p in sys.argv[2].split(",")], int(sys.argv[3]), sys.argv[4], sys.argv[5]
# the leader has dialled both followers and both have answered it: through the proxy
want = ["%d->%d" % p for f in range(3) if f != L for p in ((L + 1, f + 1), (f + 1, L + 1))]
deadline = time.time() + 20
while True:
    links = ctl.stats()["links"]
    if all(links.get(k, {}).get("accepted", 0) > 0 and links[k]["bytes"] > 24 for k in want):
        break
    assert time.time() < deadline, ("no raft traffic through the proxy on some of", want, links)
    time.sleep(0.2)
lead = Conn(ports[L], timeout=20)
acked = []
for i in range(40):
    body = "before-%d" % i
    r = send_v2(lead, topic, body.encode(), queue_id=i % 4)
    assert r and r[0]["code"] == 0, (body, r and r[0])
    e = r[0]["extFields"]
    acked.append([body, int(e["queueId"]), int(e["queueOffset"]), e["msgId"]])
json.dump(acked, open(acked_path, "w"))
# every node holds them (the topic table reaches followers through Raft as well)
def maxes(port):
    c, out = Conn(port, timeout=20), []
    for q in range(4):
        r = c.call(30, {"topic": topic, "queueId": q})
        out.append(int(r[0]["extFields"]["offset"]) if r and r[0]["code"] == 0 else None)
    c.close()
    return out
deadline = time.time() + 60
while [maxes(p) for p in ports] != [[10] * 4] * 3:
    assert time.time() < deadline, ("nodes did not all get the first 40 messages", [maxes(p) for p in ports])
    time.sleep(0.2)
print("40 messages acknowledged and on all three nodes")
PY

# Rounds 2-5, once per way to split the leader L off (dledger_proxy.py): "isolate" cuts its links
# and refuses new ones; "freeze" stalls them (nothing closed or lost: what is in flight is
# delivered late, after the heal, as TCP does across a short partition).
round() {
    local mode=$1 L L2 T0 T1
    L=$(lt_dledger_leader_index)
    [ -n "$L" ] || fail "$mode: no master to split off"
    echo "== $mode the leader n$L"
    # 2. split L off; send to it at once (while it still believes it leads) and until it refuses
    # as a slave
    T0=$SECONDS
    timeout 120 python3 - "$CTL" "${LT_DL_PORT[L]}" "$L" "$TOPIC" "$FENCED" "$mode" <<'PY' || fail "$mode: sends to the split leader"
import json, os, sys, threading, time
from dledger_proxy import Client
from rmq_frames import Conn, send_v2, pull_all
ctl, port, L, topic, fenced_path, mode = Client(int(sys.argv[1])), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
before = Conn(port, timeout=30)
visible = sum(len(pull_all(before, topic, q)) for q in range(4))
conns = [Conn(port, timeout=30) for _ in range(6)]   # connected before the cut: nothing to wait for after it
results = []
go = threading.Event()
def one(c, body, q):
    go.wait(60)
    t = time.time()
    r = send_v2(c, topic, body.encode(), queue_id=q)
    results.append((body, r and r[0]["code"], r and r[0].get("remark", ""), time.time() - t))
threads = [threading.Thread(target=one, args=(c, "%s-fenced-burst-%d" % (mode, k), k % 4)) for k, c in enumerate(conns)]
for t in threads:
    t.start()
getattr(ctl, mode)(L + 1)
go.set()   # the burst leaves right after the cut, long before L can notice it (an election timeout)
for t in threads:
    t.join(40)
assert all(not t.is_alive() for t in threads), "a send to the split leader was never answered"
# then one at a time until it answers as a slave (it steps down once it misses a majority for an
# election timeout)
deadline, k = time.time() + 40, 0
while True:
    one(conns[0], "%s-fenced-seq-%d" % (mode, k), k % 4)
    k += 1
    assert results[-1][1] != 0, ("a send to the split leader was acknowledged", results[-1])
    if results[-1][1] == 14 and "slave" in results[-1][2]:
        break
    assert time.time() < deadline, ("the split leader never stepped down", results[-3:])
for body, code, remark, dt in results:
    print("  %-24s code %s after %.2fs: %s" % (body, code, dt, remark[:70]))
    assert code is not None, ("no answer", body)
    assert code != 0, ("a send to the split leader was acknowledged", body, remark)
    assert code in (1, 14), (body, code, remark)
    if code == 1:   # the quorum wait (2.5 s) expired
        assert dt >= 2.3, ("SYSTEM_ERROR before the quorum wait was over", body, dt)
# the first sends reached it while it still led: it took them and could not commit them
took = [b for b, c, rm, _ in results if c == 1 or (c == 14 and "slave" not in rm)]
assert took, ("no send reached the split leader while it led: the test proved nothing", results)
# what it took is not visible to a consumer reading from it
c = Conn(port, timeout=30)
seen = [x["body"].decode() for q in range(4) for x in pull_all(c, topic, q)]
assert not [b for b, *_ in results if b in seen], ("unacknowledged messages visible on the split node", seen)
assert len(seen) == visible, ("the split node lost or gained messages", visible, len(seen))
fenced = json.load(open(fenced_path)) if os.path.exists(fenced_path) else []
json.dump(fenced + [b for b, *_ in results], open(fenced_path, "w"))
print("%d sends to the split leader, %d taken while it led, none acknowledged" % (len(results), len(took)))
PY
    echo "split leader refused as a slave after $((SECONDS - T0)) s"

    # 3. the other two elect a master, which the name server lists as brokerId 0
    other_master() { local m; m=$(lt_dledger_leader_index); [ -n "$m" ] && [ "$m" != "$L" ]; }
    lt_wait_for 60 "a node other than n$L becomes master" other_master || fail "$mode: no new master"
    L2=$(lt_dledger_leader_index)
    echo "new leader: n$L2 after $((SECONDS - T0)) s"
    timeout 120 python3 - "${LT_DL_PORT[L2]}" "$TOPIC" "$ACKED" "$mode" <<'PY' || fail "$mode: sends to the new leader"
import json, sys
from rmq_frames import Conn, send_v2
lead, topic, acked_path, mode = Conn(int(sys.argv[1]), timeout=20), sys.argv[2], sys.argv[3], sys.argv[4]
acked = json.load(open(acked_path))
for i in range(40):
    body = "%s-after-%d" % (mode, i)
    r = send_v2(lead, topic, body.encode(), queue_id=i % 4)
    assert r and r[0]["code"] == 0, (body, r and r[0])
    e = r[0]["extFields"]
    acked.append([body, int(e["queueId"]), int(e["queueOffset"]), e["msgId"]])
json.dump(acked, open(acked_path, "w"))
print("40 messages acknowledged by the new leader")
PY

    # 4. heal; the three converge on the new leader's log
    timeout 20 python3 -c "import sys; from dledger_proxy import Client; Client(int(sys.argv[1])).heal()" "$CTL" \
        || fail "heal"
    T1=$SECONDS
    converged() {
        local m; m=$(lt_dledger_leader_index)
        [ -n "$m" ] && [ "$m" != "$L" ] || return 1
        timeout 20 python3 - "$ports" "$TOPIC" <<'PY'
import sys
from rmq_frames import Conn
def maxes(port):
    c = Conn(port, timeout=10)
    out = []
    for q in range(4):
        r = c.call(30, {"topic": sys.argv[2], "queueId": q})
        out.append(r[0]["extFields"]["offset"] if r and r[0]["code"] == 0 else None)
    return out
m = [maxes(int(p)) for p in sys.argv[1].split(",")]
sys.exit(0 if m[0] == m[1] == m[2] and None not in m[0] else 1)
PY
    }
    lt_wait_for 60 "the healed group converges" converged || fail "$mode: no convergence after heal"
    echo "converged $((SECONDS - T1)) s after the heal; master n$(lt_dledger_leader_index)"

    # 5. every acknowledged message exactly once, where its answer said, on every node; the
    # group takes sends at its master only, not at L
    timeout 120 python3 - "$ports" "$TOPIC" "$ACKED" "$FENCED" "$L" "$CTL" <<'PY' || fail "$mode: after the heal"
import json, sys, time
from dledger_proxy import Client
from rmq_frames import Conn, send_v2, pull_all
ports, topic = [int(p) for p in sys.argv[1].split(",")], sys.argv[2]
acked, fenced, L = json.load(open(sys.argv[3])), set(json.load(open(sys.argv[4]))), int(sys.argv[5])
assert len({a[0] for a in acked}) == len(acked)
queues = []   # per node: per queue: records
for p in ports:
    c = Conn(p, timeout=30)
    queues.append([pull_all(c, topic, q) for q in range(4)])
    c.close()
key = lambda x: (x["queueOffset"], x["physicOffset"], x["body"], x["properties"], x["storeTimestamp"], x["crc_ok"])
for q in range(4):
    a = [key(x) for x in queues[0][q]]
    for n in (1, 2):
        assert [key(x) for x in queues[n][q]] == a, ("node n%d differs from n0 in queue %d" % (n, q))
    assert [x[0] for x in a] == list(range(len(a))), ("queue offsets not contiguous", q)
    assert all(x[5] for x in a), ("body CRC mismatch", q)
for n in range(3):
    bodies = [x["body"].decode() for q in range(4) for x in queues[n][q]]
    assert not fenced & set(bodies), ("sent to the split leader, yet stored on n%d" % n, sorted(fenced & set(bodies)))
    assert sorted(bodies) == sorted(a[0] for a in acked), ("n%d holds other messages than those acknowledged" % n,
                                                           len(bodies), sorted(set(bodies) ^ {a[0] for a in acked})[:10])
    for body, q, off, msgid in acked:
        rec = queues[n][q][off]
        assert rec["body"].decode() == body, ("n%d queue %d offset %d holds %r, not %r" % (n, q, off, rec["body"], body))
        # offsetMsgId: store host (4 + 4 bytes) and commit-log offset, hex
        assert int(msgid[16:32], 16) == rec["physicOffset"], ("msgId and commit-log offset differ", n, body, msgid)
print("%d acknowledged messages on all three nodes at their offsets; %d fenced ones nowhere" % (len(acked), len(fenced)))
# one master takes sends (acknowledged: they count as acked for the next round), the others
# refuse, L among them
deadline = time.time() + 30
while True:
    codes, rs = [], []
    for n, p in enumerate(ports):
        r = send_v2(Conn(p, timeout=20), topic, ("healed-%d-%d" % (len(acked), n)).encode(), queue_id=0)
        codes.append(r and r[0]["code"])
        rs.append(r)
    if 0 in codes:
        n = codes.index(0)
        e = rs[n][0]["extFields"]
        acked.append(["healed-%d-%d" % (len(acked), n), int(e["queueId"]), int(e["queueOffset"]), e["msgId"]])
        json.dump(acked, open(sys.argv[3], "w"))
    if sorted(codes) == [0, 14, 14] and codes[L] == 14:
        break
    assert time.time() < deadline, ("after the heal: one master taking sends, the others refusing", codes)
    time.sleep(0.2)
st = Client(int(sys.argv[6])).stats()
print("proxy links (accepted, refused, cut):", {k: (v["accepted"], v["refused"], v["cut"]) for k, v in sorted(st["links"].items())})
assert not st["isolated"] and not st["frozen"] and st["bad"] == 0, st
PY
}
round isolate
round freeze
# the isolate round cut and refused links (the freeze round neither)
timeout 20 python3 - "$CTL" <<'PY' || fail "proxy counters"
import sys
from dledger_proxy import Client
st = Client(int(sys.argv[1])).stats()["links"]
assert sum(v["cut"] for v in st.values()) > 0 and sum(v["refused"] for v in st.values()) > 0, st
PY
echo "dledger_partition: ok"
