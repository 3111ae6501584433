#!/usr/bin/env bash
# Interop: the unchanged npm client ali-ons (tests/interop/alions_dledger.js) across a DLedger
# failover. A 3-node group and a name server; an ali-ons producer sends numbered bodies, one
# every 20 ms, for the whole test; an ali-ons consumer group consumes all along. Once messages
# are being consumed the leader is killed (-9); production goes on until a new master is listed
# by the name server, two route refreshes of ali-ons have passed (its pollNameServerInteval
# option, default 30 s, is set to 3 s: an option, no client code) and 150 more sends were
# SEND_OK; then the old leader is restarted and rejoins, 100 more sends are SEND_OK, the
# producer stops, and the three nodes hold the same queues.
# Asserts: every send ali-ons reported SEND_OK is consumed at least once; nothing is consumed
# that was never sent. Reports duplicates, unacknowledged sends (consumed or lost) and the send
# failures of the failover (count, first/last relative to the kill, longest gap between
# SEND_OKs).
# Usage: bash test_interop_alions_dledger.sh <bin-dir> [vectors-dir]
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
lt_alions_setup
POLL_MS=3000
lt_start_namesrv || lt_fail "name server did not start"
lt_start_dledger_group 3 || lt_fail "the DLedger group did not start"
N="$LT_NS_ADDR"
has_master() { [ -n "$(lt_dledger_master)" ]; }
lt_wait_for 60 "a leader registers as master" has_master || lt_fail "no master"
master=$(lt_dledger_master)

export NAMESRV_ADDR="$N" DL_DIR="$LT_DIR/alions-dl" DL_TOPIC="DlFailover_$RANDOM$RANDOM" DL_GROUP="CG_dl_$RANDOM$RANDOM"
export DL_INTERVAL_MS=20 DL_POLL_NS_MS=$POLL_MS DL_WATCHDOG_MS=240000
mkdir -p "$DL_DIR"
"$LT_BIN/mqadmin" updateTopic -n "$N" -b "$master" -t "$DL_TOPIC" -r 4 -w 4 >"$LT_DIR/updateTopic.out" 2>&1 \
    || lt_fail "updateTopic: $(cat "$LT_DIR/updateTopic.out")"
routed() { "$LT_BIN/mqadmin" topicRoute -n "$N" -t "$DL_TOPIC" 2>/dev/null | grep -q '"queueDatas":\[{'; }
lt_wait_for 60 "the name server routes $DL_TOPIC" routed || lt_fail "no route for $DL_TOPIC"

# the two ali-ons processes (their output in $LT_DIR/*.log; killed at exit like the servers)
(cd "$here/../interop" && exec node alions_dledger.js consume) >"$LT_DIR/consumer.log" 2>&1 &
CPID=$!; LT_PIDS+=("$CPID")
lt_wait_for 60 "the ali-ons consumer starts" test -e "$DL_DIR/consumer-ready" || lt_fail "consumer: $(tail "$LT_DIR/consumer.log")"
(cd "$here/../interop" && exec node alions_dledger.js produce) >"$LT_DIR/producer.log" 2>&1 &
PRODPID=$!; LT_PIDS+=("$PRODPID")

now_ms() { date +%s%3N; }
lines() { [ -e "$1" ] && wc -l <"$1" || echo 0; }
consumed_at_least() { [ "$(lines "$DL_DIR/consumed.log")" -ge "$1" ]; }
# at least $2 sends that started at or after $1 (ms) were SEND_OK
acked_since() { [ "$(awk -v t="$1" '$2 == "SEND_OK" && $3 >= t' "$DL_DIR/produced.log" 2>/dev/null | wc -l)" -ge "$2" ]; }
alive() { kill -0 "$1" 2>/dev/null; }
gone() { ! kill -0 "$1" 2>/dev/null; }
dl_fail() {
    echo "--- producer.log"; tail -5 "$LT_DIR/producer.log"; tail -5 "$DL_DIR/produced.log" 2>/dev/null
    echo "--- consumer.log"; tail -5 "$LT_DIR/consumer.log"
    for f in "$DL_DIR"/*-errors.log; do [ -e "$f" ] && { echo "--- $f"; tail -5 "$f"; }; done
    for ((i = 0; i < 3; i++)); do echo "--- dl$i.out"; tail -n 8 "$LT_DIR/dl$i.out"; done
    lt_fail "$@"
}

lt_wait_for 60 "100 messages consumed before the failover" consumed_at_least 100 || dl_fail "nothing consumed"
alive "$PRODPID" || dl_fail "the producer ended early"

# kill the leader
L=$(lt_dledger_leader_index)
[ -n "$L" ] || dl_fail "no leader among the nodes (master $(lt_dledger_master))"
old="127.0.0.1:${LT_DL_PORT[L]}"
kill_ms=$(now_ms)
kill -9 "${LT_DL_PID[L]}"; wait "${LT_DL_PID[L]}" 2>/dev/null
echo "killed the leader n$L ($old) at +0 ms"
new_master() { m=$(lt_dledger_master); [ -n "$m" ] && [ "$m" != "$old" ]; }
lt_wait_for 60 "a new master in the name server" new_master || dl_fail "no new master after killing n$L"
elected_ms=$(now_ms)
echo "the name server lists the new master $(lt_dledger_master), seen by +$((elected_ms - kill_ms)) ms"
# keep producing: two ali-ons route refreshes, and 150 sends SEND_OK since the new master appeared
after_failover() { [ $(($(now_ms) - elected_ms)) -ge $((2 * POLL_MS)) ] && acked_since "$elected_ms" 150; }
lt_wait_for 60 "150 sends SEND_OK through the new master" after_failover \
    || dl_fail "ali-ons does not send through the new master"
alive "$PRODPID" && alive "$CPID" || dl_fail "an ali-ons process ended early"
# ... and the consumer reads through the new master too, before the old leader is back
first=$(awk -v t="$elected_ms" '$2 == "SEND_OK" && $3 >= t { print $1; exit }' "$DL_DIR/produced.log")
consumed_from() { awk -v i="$1" '$1 ~ /^[0-9]+$/ && $1 + 0 >= i { f = 1; exit } END { exit !f }' "$DL_DIR/consumed.log"; }
lt_wait_for 60 "the consumer gets messages sent after the failover (dl-$first on)" consumed_from "$first" \
    || dl_fail "the consumer does not consume after the failover"
echo "the consumer has messages sent through the new master by +$(($(now_ms) - kill_ms)) ms"

# the old leader comes back (as a follower) while the producer goes on
lt_wait_for 60 "the name server drops the killed n$L" lt_ns_forgot "$old" || dl_fail "the name server still lists $old"
lt_dledger_node "$L" || dl_fail "n$L did not restart"
lt_wait_for 60 "the restarted n$L registers" lt_ns_lists "$old" || dl_fail "n$L did not register again"
back_ms=$(now_ms)
echo "n$L is back and registered, seen by +$((back_ms - kill_ms)) ms (master $(lt_dledger_master))"
lt_wait_for 60 "100 sends SEND_OK after the restart" acked_since "$back_ms" 100 \
    || dl_fail "ali-ons does not send after the old leader came back"

# stop the producer (a send in flight ends within ali-ons's own 4 s bound)
touch "$DL_DIR/stop-producer"
lt_wait_for 30 "the producer stops" gone "$PRODPID" || dl_fail "the producer does not stop"
wait "$PRODPID"; prc=$?
[ $prc -eq 0 ] || dl_fail "the producer exited with $prc"
stop_ms=$(now_ms)

# the three nodes converge: same max offset in the four queues
same_queues() {
    PYTHONPATH="$here" timeout 20 python3 - "$DL_TOPIC" "${LT_DL_PORT[@]}" <<'PY'
import sys
from rmq_frames import Conn
topic, ports = sys.argv[1], sys.argv[2:]
seen = []
for p in ports:
    c = Conn(int(p))
    m = []
    for q in range(4):
        r = c.call(30, {"topic": topic, "queueId": q})
        m.append(r[0]["extFields"].get("offset") if r and r[0]["code"] == 0 else None)
    seen.append(m)
print(seen)
sys.exit(0 if None not in seen[0] and all(s == seen[0] for s in seen) else 1)
PY
}
lt_wait_for 60 "the three nodes hold the same queues" same_queues || dl_fail "the nodes differ: $(same_queues)"

# wait until the consumer has every acknowledged message, then stop it
analyse() {
    python3 - "$1" "$DL_DIR/produced.log" "$DL_DIR/consumed.log" "$kill_ms" <<'PY'
import sys
from collections import Counter
mode, plog, clog, kill_ms = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
sends = []
for line in open(plog):
    f = line.split(" ", 4)
    if len(f) == 5 and f[3].isdigit():
        sends.append((int(f[0]), f[1], int(f[2]), int(f[3]), f[4].strip()))
acked = {s[0] for s in sends if s[1] == "SEND_OK"}
notok = [s for s in sends if s[1] != "SEND_OK"]
got = Counter()
for line in open(clog):
    f = line.split()
    if len(f) == 5:
        got[f[0]] += 1
produced = {str(s[0]) for s in sends}
missing = sorted(i for i in acked if str(i) not in got)
if mode == "caught-up":
    sys.exit(0 if acked and not missing else 1)
extra = sorted(k for k in got if k not in produced)
dups = sum(c - 1 for c in got.values() if c > 1)
unacked_consumed = sum(1 for s in notok if str(s[0]) in got)
unacked_lost = len(notok) - unacked_consumed
print("summary: %d sends, %d SEND_OK, %d not SEND_OK; consumed %d deliveries of %d distinct messages; "
      "acknowledged but never consumed %d; duplicates %d; unacknowledged but consumed %d; "
      "lost-but-unacknowledged %d; consumed but never sent %d"
      % (len(sends), len(acked), len(notok), sum(got.values()), len(got), len(missing), dups,
         unacked_consumed, unacked_lost, len(extra)))
if notok:
    first = min(s[2] for s in notok) - kill_ms
    last = max(s[2] + s[3] for s in notok) - kill_ms
    kinds = Counter(s[4].split(":")[0] if s[1] == "FAIL" else s[1] for s in notok)
    print("send failures: %d, the first started at %+d ms, the last ended at %+d ms from the kill "
          "(a window of %d ms); longest failed send %d ms; kinds %s"
          % (len(notok), first, last, last - first, max(s[3] for s in notok), dict(kinds)))
    for s in notok[:3] + notok[-2:]:
        print("  e.g. dl-%d %s at %+d ms, %d ms: %s" % (s[0], s[1], s[2] - kill_ms, s[3], s[4][:200]))
else:
    print("send failures: none")
ends = sorted(s[2] + s[3] for s in sends if s[1] == "SEND_OK")
gap = max(((b - a, a) for a, b in zip(ends, ends[1:])), default=(0, 0))
print("longest time without a SEND_OK: %d ms (from %+d ms after the kill); slowest SEND_OK %d ms"
      % (gap[0], gap[1] - kill_ms, max((s[3] for s in sends if s[1] == "SEND_OK"), default=0)))
import glob, os, re
for f in sorted(glob.glob(os.path.join(os.path.dirname(plog), "*-errors.log"))):
    kinds = Counter()
    for line in open(f):
        head, _, text = line.partition(": ")
        text = re.sub(r"\(address: [^)]*\)|\d+\.\d+\.\d+\.\d+:\d+", "", text.rsplit("error", 1)[-1]).strip(" :\n")
        kinds[head.split(" ", 1)[-1] + ": " + text[:60]] += 1
    print("ali-ons error events in %s: %d %s" % (os.path.basename(f), sum(kinds.values()), dict(kinds.most_common(4))))
if dups:
    print("  duplicated, e.g.:", ", ".join("dl-%s x%d" % (k, c) for k, c in got.items() if c > 1)[:300])
ok = not missing and not extra and len(acked) > 0
if missing:
    print("FAIL: acknowledged but not consumed, e.g. dl-" + ", dl-".join(map(str, missing[:10])))
if extra:
    print("FAIL: consumed but never sent, e.g. " + ", ".join(extra[:10]))
sys.exit(0 if ok else 1)
PY
}
lt_wait_for 60 "the consumer has every acknowledged message" analyse caught-up
caught=$?
consumed_ms=$(now_ms)
touch "$DL_DIR/stop-consumer"
lt_wait_for 30 "the consumer stops" gone "$CPID" || echo "note: the consumer did not stop within 30 s" >&2
echo "producer stopped at +$((stop_ms - kill_ms)) ms; consumer complete at +$((consumed_ms - kill_ms)) ms"
analyse report || dl_fail "acknowledged messages were not consumed"
[ $caught -eq 0 ] || dl_fail "the consumer did not catch up"
echo "ali-ons across a DLedger failover: passed"
