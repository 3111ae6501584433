# Shared shell helpers for integration and interop tests: start mqnamesrv / mqbroker on free
# loopback ports with a private data folder, wait (bounded) for them, and clean up on exit.
# Usage: source tests/lib.sh; lt_setup <bin-dir>; lt_start_namesrv; lt_start_broker [extra conf lines]
# Exposes: LT_DIR (temp dir), LT_NS_PORT, LT_NS_ADDR, LT_BROKER_PORT, LT_BROKER_ADDR, LT_BROKER_PID.

lt_setup() {
    LT_BIN=$(cd "$1" && pwd)
    LT_DIR=$(mktemp -d /tmp/loulan-test.XXXXXX)
    LT_PIDS=()
    trap lt_cleanup EXIT
    export HOME="$LT_DIR/home"   # RocketMQ-style defaults ($HOME/store, $HOME/logs) stay private
    mkdir -p "$HOME"
    export LOULAN_LOG_DIR="$LT_DIR/logs"
}

lt_cleanup() {
    local deadline=$((SECONDS + 15))   # a sanitizer build on a busy machine exits slowly
    for p in "${LT_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    while [ $SECONDS -lt $deadline ]; do
        alive=0
        for p in "${LT_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ $alive -eq 0 ] && break
        sleep 0.05
    done
    for p in "${LT_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    wait 2>/dev/null
    # Under the sanitizer build a server-side report fails the test even if clients were happy.
    if grep -l -E "ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:" "$LT_DIR"/*.out >/dev/null 2>&1; then
        echo "FAIL: sanitizer report from a server process:" >&2
        grep -h -A 30 -E "ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:" "$LT_DIR"/*.out | head -60 >&2
        LT_KEEP=1
        rm_status=1
    fi
    local res=${TMPDIR:-/tmp}/loulan-test-ports q
    [ -f "$LT_DIR/reserved-ports" ] && while read -r q; do rmdir "$res/$q" 2>/dev/null; done < "$LT_DIR/reserved-ports"
    if [ -n "${LT_KEEP:-}" ]; then echo "test data kept in $LT_DIR"; else rm -rf "$LT_DIR"; fi
    [ "${rm_status:-0}" -eq 0 ] || exit 1
}

# Free TCP ports for a test's servers, taken below the kernel's ephemeral range so that no
# outgoing connection grabs one meanwhile. ctest runs tests side by side, and between a pick and
# the server's bind another test could pick the same port (seen: a DLedger node that could not
# listen), so every pick is also reserved, by an atomic mkdir in a folder shared by the tests of
# this machine; lt_cleanup gives the reservations back, and one older than 30 minutes is taken as
# left behind by a test that was killed.
# lt_pick_ports <lo> <hi> <offsets...>: prints a port P in [lo, hi] with P+offset free and
# reserved for every offset.
lt_pick_ports() {
    python3 - "$LT_DIR" "$@" <<'PY'
import os, random, socket, sys, time
owner, lo, hi, offs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), [int(o) for o in sys.argv[4:]]
res = os.path.join(os.environ.get("TMPDIR", "/tmp"), "loulan-test-ports")
os.makedirs(res, exist_ok=True)
def reserve(q):
    path = os.path.join(res, str(q))
    try:
        if time.time() - os.stat(path).st_mtime > 1800:
            os.rmdir(path)
    except OSError:
        pass
    try:
        os.mkdir(path)
        return True
    except OSError:
        return False
def bindable(q):
    t = socket.socket()
    try:
        t.bind(("0.0.0.0", q))
        return True
    except OSError:
        return False
    finally:
        t.close()
for _ in range(500):
    p = random.randint(lo, hi)
    got = []
    for q in (p + o for o in offs):
        if not reserve(q):
            break
        got.append(q)
        if not bindable(q):
            break
    else:
        if owner:  # else the reservations expire
            with open(os.path.join(owner, "reserved-ports"), "a") as f:
                f.write("".join("%d\n" % q for q in got))
        print(p)
        break
    for q in got:
        os.rmdir(os.path.join(res, str(q)))
else:
    raise SystemExit(1)
PY
}

# One free port (12000-20000).
lt_free_port() { lt_pick_ports 12000 20000 0 || echo $((12000 + RANDOM % 8000)); }

# A port P for a broker (20002-32000): P, its VIP port P-2 and its HA port P+1 are all free, and
# so is P-1, so that two brokers' ports never interleave.
lt_free_broker_port() { lt_pick_ports 20002 32000 -2 -1 0 1 || echo $((20000 + RANDOM % 10000)); }

# Wait until 127.0.0.1:port accepts connections, at most $2 seconds of wall clock (default 30;
# counted by the clock, not by iterations, which a busy machine stretches).
lt_wait_port() {
    local port=$1 limit=${2:-30}
    local deadline=$((SECONDS + limit))
    while :; do
        (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && return 0
        [ $SECONDS -lt $deadline ] || break
        sleep 0.05
    done
    echo "port $port did not open within ${limit}s" >&2
    return 1
}

# lt_wait_for <seconds> <what> <command...>: run the command (output hidden) until it
# succeeds, at most <seconds> of wall clock; says <what> did not happen and returns 1 otherwise.
# Tests wait for the condition they need, never for a guessed delay: CI machines are busy.
lt_wait_for() {
    local limit=$1 what=$2
    local deadline=$((SECONDS + limit))
    shift 2
    until "$@" >/dev/null 2>&1; do
        if [ $SECONDS -ge $deadline ]; then
            echo "not within ${limit}s: $what" >&2
            return 1
        fi
        sleep 0.1
    done
}

# Whether the name server lists broker address $1 (default: the master) in its cluster info
# (GET_BROKER_CLUSTER_INFO straight to the name server: the broker itself is not asked).
lt_ns_lists() {
    PYTHONPATH="$(dirname "${BASH_SOURCE[0]}")/integration" timeout 20 python3 - "$LT_NS_PORT" "${1:-$LT_BROKER_ADDR}" <<'PY' 2>/dev/null
import sys
from rmq_frames import Conn
r = Conn(int(sys.argv[1])).call(106)
sys.exit(0 if r and r[0]["code"] == 0 and ('"%s"' % sys.argv[2]).encode() in r[1] else 1)
PY
}
lt_ns_forgot() { ! lt_ns_lists "$@"; }

lt_start_namesrv() {
    LT_NS_PORT=$(lt_free_port)
    LT_NS_ADDR="127.0.0.1:$LT_NS_PORT"
    "$LT_BIN/mqnamesrv" -l "$LT_NS_PORT" >"$LT_DIR/namesrv.out" 2>&1 &
    LT_NS_PID=$!
    LT_PIDS+=("$LT_NS_PID")
    lt_wait_port "$LT_NS_PORT" 60
}

# A broker process with the tests' common settings, then the given broker.conf lines (later
# lines win): writes $LT_DIR/<name>.conf, appends its output to <name>.out, sets LT_LAST_PID.
lt_broker_proc() {
    local name=$1 port=$2
    shift 2
    {
        echo "brokerClusterName=DefaultCluster"
        echo "brokerName=broker-a"
        echo "brokerIP1=127.0.0.1"
        echo "listenPort=$port"
        echo "namesrvAddr=$LT_NS_ADDR"
        echo "mapedFileSizeCommitLog=67108864"
        # the machine's own disk may be nearly full: tests that want the thresholds set them
        echo "diskSpaceWarningLevelRatio=99"
        echo "diskSpaceCleanForciblyRatio=99"
        echo "grpcServerPort=0"   # the gRPC endpoint on any free port: tests run several brokers
        for kv in "$@"; do echo "$kv"; done
    } >"$LT_DIR/$name.conf"
    "$LT_BIN/mqbroker" -c "$LT_DIR/$name.conf" >>"$LT_DIR/$name.out" 2>&1 &
    LT_LAST_PID=$!
    LT_PIDS+=("$LT_LAST_PID")
    lt_wait_port "$port" 90   # recovery after kill -9 under ASan on a busy machine takes seconds
}

# The master broker-a; extra broker.conf lines may be passed as arguments ("key=value" each).
lt_start_broker() {
    : "${LT_BROKER_PORT:=$(lt_free_broker_port)}"
    LT_BROKER_ADDR="127.0.0.1:$LT_BROKER_PORT"
    lt_broker_proc broker "$LT_BROKER_PORT" "brokerId=0" "storePathRootDir=$LT_DIR/store" "autoCreateTopicEnable=true" \
        "maxHashSlotNum=50000" "maxIndexNum=200000" "$@"
    local rc=$?
    LT_BROKER_PID=$LT_LAST_PID
    [ $rc -eq 0 ] || return $rc
    # clients find the broker through the name server: a test may use it once this returns
    # (a restarted broker's old entry, if the name server still has it, has the same address)
    [ -z "${LT_NS_ADDR:-}" ] || lt_wait_for 60 "the broker registers with the name server" lt_ns_lists
}

# The usual start of a test: a name server and one broker (extra broker.conf lines as
# arguments). Sets N (name server address), A (mqadmin) and a pass counter that ok bumps.
lt_start_single() {
    lt_start_namesrv || lt_fail "name server did not start"
    lt_start_broker "$@" || lt_fail "broker did not start"
    N="$LT_NS_ADDR"
    A="$LT_BIN/mqadmin"
    pass=0
}
ok() { pass=$((pass + 1)); }

# Tests that bound one broker loop iteration (issue 17): the bound is generous, 200 ms x
# LOULAN_SLOW and x 3 in a sanitizer build (LT_LOOP_BOUND_MS overrides it, e.g. to a few ms to
# see a test fail). lt_loop_max_ms prints the broker's longest iteration so far (mqadmin
# brokerStatus loopIterationMaxMs; uses N, A).
lt_loop_bound_ms() {
    local slow=${LOULAN_SLOW:-1}
    grep -qa "__asan_init" "$LT_BIN/mqbroker" && slow=$((slow * 3))
    echo "${LT_LOOP_BOUND_MS:-$((200 * slow))}"
}
lt_loop_max_ms() {
    "$A" brokerStatus -n "$N" -b "$LT_BROKER_ADDR" | sed -n 's/^loopIterationMaxMs *: *\([0-9]*\)$/\1/p'
}

# A SLAVE of broker-a (brokerId 1) with its own ports and store, registered with the same name
# server; extra broker.conf lines as arguments. Sets LT_SLAVE_PORT (kept across restarts) and
# LT_SLAVE_PID.
lt_start_slave() {
    local gap
    while :; do   # its VIP (-2) and HA (+1) ports must not meet the master's
        if [ -n "${LT_SLAVE_PORT:-}" ]; then
            gap=$((LT_SLAVE_PORT - LT_BROKER_PORT))
            [ "${gap#-}" -gt 3 ] && break
        fi
        LT_SLAVE_PORT=$(lt_free_broker_port)
    done
    lt_broker_proc slave "$LT_SLAVE_PORT" "brokerId=1" "brokerRole=SLAVE" "storePathRootDir=$LT_DIR/slave-store" "$@"
    local rc=$?
    LT_SLAVE_PID=$LT_LAST_PID
    return $rc
}

# Wait (at most $2 s) until the slave serves every message the master has in queues 0..3 of
# topic $1 (its topic table is copied every 10 s, its data as it is written).
lt_wait_slave_caught_up() {
    PYTHONPATH="$(dirname "${BASH_SOURCE[0]}")/integration" timeout $(( $2 + 10 )) python3 - "$LT_BROKER_PORT" "$LT_SLAVE_PORT" "$1" "$2" <<'PY'
import sys, time
from rmq_frames import Conn
m, s, topic = Conn(int(sys.argv[1])), Conn(int(sys.argv[2])), sys.argv[3]
def maxes(c):
    out = []
    for q in range(4):
        r = c.call(30, {"topic": topic, "queueId": q})
        out.append(r[0]["extFields"].get("offset") if r and r[0]["code"] == 0 else None)
    return out
want, deadline = maxes(m), time.time() + float(sys.argv[4])
while maxes(s) != want:
    if time.time() > deadline:
        sys.exit("the slave did not catch up: master %s, slave %s" % (want, maxes(s)))
    time.sleep(0.3)
PY
}

# The ali-ons interop scripts: node must be there; tests/interop/node_modules is installed from
# the lock file when missing. Sets LT_INTEROP.
lt_alions_setup() {
    LT_INTEROP=$(cd "$(dirname "${BASH_SOURCE[0]}")/interop" && pwd)
    command -v node >/dev/null || lt_fail "node is not installed (scripts/install-deps.sh installs nodejs and npm)"
    [ -d "$LT_INTEROP/node_modules/ali-ons" ] && [ -d "$LT_INTEROP/node_modules/rocketmq-client-nodejs" ] && return 0
    command -v npm >/dev/null || lt_fail "npm is not installed and tests/interop/node_modules is missing"
    (cd "$LT_INTEROP" && timeout 240 npm ci --no-audit --no-fund --loglevel=error) \
        || lt_fail "npm ci failed in tests/interop (the npm registry must be reachable once)"
}

# lt_start_grpc [broker.conf lines]: tests/interop's Node clients, a name server and a broker
# with its 5.x gRPC endpoint on a free port GP, open (the tests driving rocketmq-client-nodejs).
lt_start_grpc() {
    lt_alions_setup
    GP=$(lt_free_port)
    lt_start_single "enableGrpcServer=true" "grpcServerPort=$GP" "$@"
    lt_wait_port "$GP" 30 || lt_fail "the gRPC port did not open"
}

# One phase of tests/interop/alions.test.js, bounded by $2 seconds (its watchdog fires 5 s
# earlier, so it reports what hung).
lt_alions_run() {
    (cd "$LT_INTEROP" && ALIONS_PHASE=$1 ALIONS_WATCHDOG_MS=$(( ($2 - 5) * 1000 )) timeout -k 5 "$2" node --test alions.test.js)
}

lt_stop_broker() {   # clean stop (SIGTERM), bounded wait
    local deadline=$((SECONDS + 60))
    kill -TERM "$LT_BROKER_PID" 2>/dev/null
    while [ $SECONDS -lt $deadline ]; do kill -0 "$LT_BROKER_PID" 2>/dev/null || return 0; sleep 0.1; done
    echo "broker did not stop within 60s" >&2
    kill -9 "$LT_BROKER_PID" 2>/dev/null
    return 1
}

lt_fail() { echo "FAIL: $*" >&2; echo "--- broker.out"; tail -n 30 "$LT_DIR/broker.out" 2>/dev/null; exit 1; }

# ---- DLedger groups (docs/dledger.md) ----
# lt_start_dledger_group <n> [extra broker.conf lines]: n brokers (ids n0..n<n-1>) of one Raft
# group, brokerName RaftNode00, each with its own store and free broker and peer ports,
# registered with $LT_NS_ADDR. Sets LT_DL_N, LT_DL_PORT[i] (broker port), LT_DL_PEER[i] (Raft
# port), LT_DL_PID[i], LT_DL_PEERS (the dLegerPeers value). Restart one with lt_dledger_node i.
lt_start_dledger_group() {
    LT_DL_N=$1
    shift
    LT_DL_EXTRA=("$@")
    LT_DL_PORT=(); LT_DL_PEER=(); LT_DL_PID=()
    local peers="" i
    for ((i = 0; i < LT_DL_N; i++)); do
        LT_DL_PORT[i]=$(lt_free_broker_port)   # reserved: nodes' P-2..P+1 never meet
        LT_DL_PEER[i]=$(lt_free_port)
        peers="${peers:+$peers;}n$i-127.0.0.1:${LT_DL_PEER[i]}"
    done
    LT_DL_PEERS=$peers
    for ((i = 0; i < LT_DL_N; i++)); do lt_dledger_node "$i" || return 1; done
}

# (Re)start node i of the group with the group's settings (its store is kept).
lt_dledger_node() {
    local i=$1
    lt_broker_proc "dl$i" "${LT_DL_PORT[i]}" "brokerName=RaftNode00" "storePathRootDir=$LT_DIR/dl$i" \
        "enableDLegerCommitLog=true" "dLegerGroup=RaftNode00" "dLegerPeers=$LT_DL_PEERS" "dLegerSelfId=n$i" \
        "autoCreateTopicEnable=true" "maxHashSlotNum=50000" "maxIndexNum=200000" "${LT_DL_EXTRA[@]}"
    local rc=$?
    LT_DL_PID[i]=$LT_LAST_PID
    return $rc
}

# The address the name server lists as brokerId 0 of RaftNode00 (empty if none): the leader.
lt_dledger_master() {
    PYTHONPATH="$(dirname "${BASH_SOURCE[0]}")/integration" timeout 20 python3 - "$LT_NS_PORT" <<'PY' 2>/dev/null
import json, sys
from rmq_frames import Conn
r = Conn(int(sys.argv[1])).call(106)
if r and r[0]["code"] == 0:
    t = r[1].decode()
    i = t.find('"RaftNode00"', t.find('"brokerAddrTable"'))
    j = t.find('"brokerAddrs":{', i)
    if i >= 0 and j >= 0:
        addrs = t[j + 15:t.find('}', j)]
        for kv in addrs.split(','):
            k, _, v = kv.partition(':')
            if k.strip('"') == '0':
                print(v.strip('"'))
PY
}
# The index of the node whose broker port is that of the master, or nothing.
lt_dledger_leader_index() {
    local m i
    m=$(lt_dledger_master)
    for ((i = 0; i < LT_DL_N; i++)); do [ "$m" = "127.0.0.1:${LT_DL_PORT[i]}" ] && echo "$i"; done
}

# loulan-dashboard on a free port against this test's name server, data under $LT_DIR/dashboard
# (name ${LT_DASH_NAME:-dashboard}); extra settings as --key=value arguments. Sets LT_DASH_PORT,
# LT_DASH_URL (http://127.0.0.1:port/) and LT_DASH_PID.
lt_start_dashboard() {
    local name=${LT_DASH_NAME:-dashboard}
    LT_DASH_PORT=$(lt_free_port)
    LT_DASH_URL="http://127.0.0.1:$LT_DASH_PORT/"
    "$LT_BIN/loulan-dashboard" --server.address=127.0.0.1 --server.port="$LT_DASH_PORT" \
        --rocketmq.config.namesrvAddrs="$LT_NS_ADDR" --rocketmq.config.dataPath="$LT_DIR/$name" \
        "$@" >"$LT_DIR/$name.out" 2>&1 &
    LT_DASH_PID=$!
    LT_PIDS+=("$LT_DASH_PID")
    lt_wait_port "$LT_DASH_PORT" 60
}
