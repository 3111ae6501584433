#!/usr/bin/env bash
# kill -9 at random moments while producers send, then restart, many times over:
#  - SYNC_FLUSH, 20 kills (8 in the sanitizer build), 3 concurrent producers (so sends share group commits): every
#    acknowledged message is read back at its acknowledged queue offset, exactly once;
#  - ASYNC_FLUSH, 5 kills: the same (a process crash keeps the page cache).
# In both, every stored record passes its body CRC and queue offsets are dense: nothing
# unacknowledged is half-visible. Each kill comes after every sender of the round has had an
# acknowledgement (a slow machine may take seconds to start a Python sender), then at a random
# extra moment, so every round kills a broker in the middle of acknowledged traffic.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
lt_start_namesrv || lt_fail "name server did not start"

# send_until_killed <topic> <tag> <outfile>: sequential sends, one line per acknowledgement
send_until_killed() {
    # the timeouts are backstops only: the kill ends a sender, and the broker's death ends its reads
    PYTHONPATH="$here" timeout 280 python3 - "$LT_BROKER_PORT" "$1" "$2" "$3" <<'PY' &
import sys
from rmq_frames import Conn, send_v2
port, topic, tag, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
try:
    c = Conn(port, timeout=60)
    with open(out, "a") as f:
        for i in range(1000000):
            body = ("%s-%d" % (tag, i)).encode()
            r = send_v2(c, topic, body, queue_id=i % 2)
            if r is None or r[0]["code"] != 0:
                break
            f.write("%s %s %s\n" % (body.decode(), r[0]["extFields"]["queueId"], r[0]["extFields"]["queueOffset"]))
            f.flush()
except Exception:
    pass
PY
}

# wait_acked <round> <topic> <pids...>: wait (at most 120 s) until sender p of the round
# (pid number p in the list) has written its first acknowledgement; fail if one exits first.
wait_acked() {
    local round=$1 topic=$2 deadline=$((SECONDS + 120)) p pid waiting
    shift 2
    while :; do
        waiting=0 p=0
        for pid in "$@"; do
            p=$((p + 1))
            grep -q "^r$round-p$p-" "$LT_DIR/acked-$topic-$p.txt" 2>/dev/null && continue
            kill -0 "$pid" 2>/dev/null || lt_fail "round $round: sender $p ended before its first acknowledgement"
            waiting=1
        done
        [ $waiting -eq 0 ] && return 0
        [ $SECONDS -lt $deadline ] || lt_fail "round $round: no acknowledgement from every sender within 120 s"
        sleep 0.05
    done
}

# check <topic> <least acknowledged> <acked files...>
check() {
    local topic=$1 least=$2; shift 2
    cat "$@" >"$LT_DIR/all-acked.txt"
    PYTHONPATH="$here" timeout 120 python3 - "$LT_BROKER_PORT" "$topic" "$LT_DIR/all-acked.txt" "$least" <<'PY'
import sys
from rmq_frames import Conn, pull_all
port, topic, acked, least = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
want = {}
for line in open(acked):
    body, q, off = line.split()
    want[(int(q), int(off))] = body
c = Conn(port)
got, bad, gaps = {}, 0, 0
for q in (0, 1):
    recs = pull_all(c, topic, q)
    for i, r in enumerate(recs):
        if r["queueOffset"] != i:
            gaps += 1
        if not r["crc_ok"]:
            bad += 1
        got[(q, r["queueOffset"])] = r["body"].decode(errors="replace")
lost = [k for k in want if got.get(k) != want[k]]
bodies = list(got.values())
dups = len(bodies) - len(set(bodies))
print("%s: acknowledged %d, stored %d, lost or misplaced %d, duplicated %d, bad CRC %d, offset gaps %d"
      % (topic, len(want), len(got), len(lost), dups, bad, gaps))
sys.exit(1 if lost or dups or bad or gaps or len(want) < least else 0)
PY
}

# rounds <n> <topic> <producers>
rounds() {
    local n=$1 topic=$2 np=$3
    for round in $(seq 1 "$n"); do
        pids=()
        for p in $(seq 1 "$np"); do
            send_until_killed "$topic" "r$round-p$p" "$LT_DIR/acked-$topic-$p.txt"
            pids+=($!)
        done
        wait_acked "$round" "$topic" "${pids[@]}"
        sleep "0.$((RANDOM % 10))"   # a random moment in the middle of the traffic
        kill -9 "$LT_BROKER_PID"
        for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
        lt_start_broker "${conf[@]}" || lt_fail "broker did not restart after kill -9 (round $round)"
    done
}

conf=("flushDiskType=SYNC_FLUSH")
lt_start_broker "${conf[@]}" || lt_fail "broker did not start"
# LOULAN_SOAK_ROUNDS adds kill -9 rounds for a long soak run outside ctest (no time limit there).
# The sanitizer build (LOULAN_SLOW) runs 8 rounds: the same recovery code, memory-checked; the
# release build's 12 are where the rounds' variety counts.
base=$([ -n "${LOULAN_SLOW:-}" ] && echo 8 || echo 12)
n=$((base + ${LOULAN_SOAK_ROUNDS:-0}))
rounds $n SyncKill 3
check SyncKill $((n * 3)) "$LT_DIR"/acked-SyncKill-*.txt || lt_fail "SYNC_FLUSH: acknowledged messages lost, or a bad record"
grep -q "abnormal exit" "$LT_DIR/logs"/*broker* 2>/dev/null || grep -q "abnormal" "$LT_DIR/broker.out" \
    || lt_fail "the broker never reported an abnormal-exit recovery"

conf=("flushDiskType=ASYNC_FLUSH")
lt_stop_broker
lt_start_broker "${conf[@]}" || lt_fail "broker did not start in ASYNC_FLUSH"
n=$((5 + ${LOULAN_SOAK_ROUNDS:-0} / 4))
rounds $n AsyncKill 1
check AsyncKill $n "$LT_DIR"/acked-AsyncKill-*.txt || lt_fail "ASYNC_FLUSH: acknowledged messages lost, or a bad record"
echo "kill -9: 2 passed, 0 failed"
