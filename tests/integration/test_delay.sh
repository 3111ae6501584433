#!/usr/bin/env bash
# Delay levels and the retry back-off:
#  1. default levels through the C client: delay level 1 arrives 1 s after the send, level 2
#     after 5 s (never early: -50 ms; late by at most 2.5 s, the consumer's pull and a busy
#     machine included, which still tells level 1 from level 2);
#  2. a consumer that always fails (max 3 reconsumes; levels "1s 1s 1s 1s 1s 1s" so it is short)
#     sees the message with reconsumeTimes 0, 1, 2, 3, each 0.9-4 s apart, and then it is in
#     %DLQ%RetryGroup;
#  3. delayed messages across a clean restart and across kill -9: none lost; after the clean
#     restart none delivered twice (progress is in config/delayOffset.json).
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
[ -x "$LT_BIN/delay_e2e" ] || lt_fail "no delay_e2e in $LT_BIN"
lt_start_single

out=$(timeout 60 "$LT_BIN/delay_e2e" "$LT_NS_ADDR" delay) || lt_fail "delay run failed: $out"
echo "$out"
python3 - "$out" <<'PY' || lt_fail "delay levels 1/2 not delivered after 1 s / 5 s"
import re, sys
got = {int(l): int(ms) for l, ms in re.findall(r"level (\d) arrived after (\d+) ms", sys.argv[1])}
want = {1: 1000, 2: 5000}
bad = [l for l in want if not (want[l] - 50 <= got.get(l, -10**9) <= want[l] + 2500)]
sys.exit(1 if bad else 0)
PY
pass=$((pass + 1))

lt_stop_broker
fast=("messageDelayLevel=1s 1s 1s 1s 1s 1s")
lt_start_broker "${fast[@]}" || lt_fail "broker did not restart"
out=$(timeout 60 "$LT_BIN/delay_e2e" "$LT_NS_ADDR" retry) || lt_fail "retry run failed: $out"
echo "$out"
python3 - "$out" <<'PY' || lt_fail "retries did not come back with growing reconsumeTimes after the back-off"
import re, sys
d = [(int(t), int(ms)) for t, ms in re.findall(r"reconsumeTimes=(\d+) after (\d+) ms", sys.argv[1])]
times = [t for t, _ in d]
gaps = [b - a for (_, a), (_, b) in zip(d, d[1:])]
ok = times == [0, 1, 2, 3] and all(900 <= g <= 4000 for g in gaps)
sys.exit(0 if ok else 1)
PY
PYTHONPATH="$here" timeout 20 python3 - "$LT_BROKER_PORT" <<'PY' || lt_fail "the exhausted message is not in %DLQ%RetryGroup"
import sys
from rmq_frames import Conn, pull_all
recs = pull_all(Conn(int(sys.argv[1])), "%DLQ%RetryGroup", 0)
print("DLQ:", [(r["body"], r["properties"].count("RETRY_TOPIC")) for r in recs])
sys.exit(0 if [r["body"] for r in recs] == [b"always-fails"] else 1)
PY
pass=$((pass + 1))

# restarts: 20 messages of level 3 (10 s with these levels: long enough that "not yet
# delivered" holds however slowly the machine starts the checking process)
lt_stop_broker
levels=("messageDelayLevel=1s 2s 10s")
lt_start_broker "${levels[@]}" || lt_fail "broker did not restart"
send_delayed() {
    PYTHONPATH="$here" timeout 20 python3 - "$LT_BROKER_PORT" "$1" <<'PY'
import sys
from rmq_frames import Conn, send_v2
c = Conn(int(sys.argv[1]))
for i in range(20):
    r = send_v2(c, sys.argv[2], b"d-%d" % i, extra={"i": "DELAY\x013\x02WAIT\x01true\x02"})
    assert r[0]["code"] == 0, r[0]
PY
}
count() {  # count <topic> <want> <seconds>: wait for want distinct, report duplicates
    PYTHONPATH="$here" timeout $(( $3 + 30 )) python3 - "$LT_BROKER_PORT" "$@" <<'PY'
import sys, time
from rmq_frames import Conn, pull_all
port, topic, want, secs = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
c = Conn(port)
deadline = time.time() + secs
while True:
    bodies = [r["body"] for q in range(4) for r in pull_all(c, topic, q)]
    if len(set(bodies)) >= want or time.time() > deadline:
        break
    time.sleep(0.2)
print("%s: %d delivered, %d distinct (want %d)" % (topic, len(bodies), len(set(bodies)), want))
sys.exit(0 if len(set(bodies)) == want else 1)
PY
}
send_delayed DelayClean || lt_fail "delayed sends failed"
count DelayClean 0 0 || lt_fail "level-3 messages delivered too early"
lt_stop_broker
lt_start_broker "${levels[@]}" || lt_fail "broker did not restart"
count DelayClean 20 60 || lt_fail "delayed messages lost across a clean restart"
lt_stop_broker  # a clean stop writes the progress (it is also written every second)
python3 -c 'import re,sys; sys.exit(0 if int(re.search(r"3:(\d+)", open(sys.argv[1]).read()).group(1)) >= 20 else 1)' \
    "$LT_DIR/store/config/delayOffset.json" || lt_fail "delayOffset.json does not hold the progress: $(cat "$LT_DIR/store/config/delayOffset.json")"
lt_start_broker "${levels[@]}" || lt_fail "broker did not restart"
sleep 1
out=$(count DelayClean 20 0) || lt_fail "after a second restart: $out"
echo "$out" | grep -q "20 delivered" || lt_fail "delayed messages delivered twice after a clean restart: $out"
pass=$((pass + 1))

send_delayed DelayKill || lt_fail "delayed sends failed"
kill -9 "$LT_BROKER_PID"
wait "$LT_BROKER_PID" 2>/dev/null
lt_start_broker "${levels[@]}" || lt_fail "broker did not restart after kill -9"
count DelayKill 20 60 || lt_fail "delayed messages lost across kill -9"
pass=$((pass + 1))
echo "delay: $pass passed, 0 failed"
