#!/usr/bin/env bash
# Replays the recorded name-server requests of real clients (Java, mqadmin, ali-ons, C++) and of
# a real broker against mqnamesrv and compares each answer with the real 4.9.5 server's recorded
# answer; also bad frames. Prints the start-up time and idle memory figures quoted in the README.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
vectors=$2
t0=$(date +%s%N)
lt_start_namesrv || lt_fail "name server did not start"
t1=$(date +%s%N)
sleep 1
rss=$(awk '/VmRSS/ {print $2}' "/proc/$LT_NS_PID/status")
echo "mqnamesrv: port open after $(( (t1 - t0) / 1000000 )) ms (includes the test's 50 ms polling), idle RSS ${rss} kB"
# The bound is the release build's (2 MB measured); a sanitizer build's RSS is mostly ASan's own
# shadow memory and allocator (10 MB once libcrypto came in), so it gets its own generous bound.
limit_kb=10240
grep -q __asan_init "$LT_BIN/mqnamesrv" && limit_kb=65536
[ "$rss" -lt "$limit_kb" ] || lt_fail "idle RSS ${rss} kB is over $((limit_kb / 1024)) MB"
timeout 120 python3 "$here/replay_namesrv.py" "$LT_NS_PORT" "$vectors" || lt_fail "replay mismatches"

# Expiry: a broker that stops registering disappears (120 s by default; shortened here with
# the name server's brokerExpireMillis / scanNotActiveBrokerInterval keys).
port=$(lt_free_port)
printf 'listenPort=%s\nbrokerExpireMillis=1000\nscanNotActiveBrokerInterval=200\nkvConfigPath=%s/kv.json\n' \
    "$port" "$LT_DIR" >"$LT_DIR/ns-expiry.conf"
"$LT_BIN/mqnamesrv" -c "$LT_DIR/ns-expiry.conf" >"$LT_DIR/namesrv-expiry.out" 2>&1 &
LT_PIDS+=($!)
lt_wait_port "$port" 10 || lt_fail "second name server did not start"
PYTHONPATH="$here" timeout 60 python3 - "$port" "$vectors" <<'PY' || lt_fail "expiry check failed"
import sys, time
from rmq_frames import Conn
port, vec = int(sys.argv[1]), sys.argv[2]
broker = Conn(port)  # stays open: only silence may remove the broker
broker.send_raw(open(vec + "/apache-broker-4.9.5/real-broker-java-consumer-002-ns-req-REGISTER_BROKER.bin", "rb").read())  # two-way
broker.recv_frame()
c = Conn(port)
present = c.call(106)[1]
# expiry after 1 s of silence, scans every 0.2 s: gone well within 30 s even on a busy machine
deadline = time.time() + 30
while True:
    gone = c.call(106)[1]
    if b"broker-a" not in gone or time.time() > deadline:
        break
    time.sleep(0.2)
ok = b"broker-a" in present and b"broker-a" not in gone
print("expiry:", "ok" if ok else "FAIL", present[:80], gone[:80])
sys.exit(0 if ok else 1)
PY
