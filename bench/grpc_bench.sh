#!/usr/bin/env bash
# RocketMQ 5.x clients (gRPC) against 4.x remoting on one broker, in one run (docs/benchmarks.md,
# "RocketMQ 5.x clients (gRPC)"). Starts a name server and a broker (use a release build; temp
# store, 127.0.0.1), installs tests/interop's pinned npm packages when missing, then, ROUNDS
# times in a row (fresh topics of 4 queues and fresh groups each round), measures:
#   grpc-send      Node 5.x client (rocketmq-client-nodejs 1.0.8) Producer, INFLIGHT sends in flight
#                  (after 2 s of the same load, not counted: Node's JIT; the same for remoting-send)
#   grpc-recv      its SimpleConsumer draining that backlog: RECEIVERS receive(BATCH) calls in
#                  flight, every message acked
#   remoting-send  the same Node runtime with ali-ons 3.12 (4.x remoting), INFLIGHT sends in flight
#   remoting-recv  an ali-ons push Consumer draining that backlog (its defaults: pull batch 32)
#   c-send/c-recv  bin/benchmark (the C client, remoting): producer -w 1 -W INFLIGHT; consumer
#                  draining that backlog (rate over the seconds in which it got messages)
# SECONDS_PER_PHASE each, SIZE-byte bodies. Per phase: msgs/s, and broker and client CPU per
# message the phase handled (the broker's /proc ticks over the phase; start and warm-up
# included, so low rates overstate it); at the end the medians over the
# rounds and the gRPC/remoting ratios (each round's ratio, then their median).
# Usage: bash bench/grpc_bench.sh <bin-dir> [seconds-per-phase=10] [rounds=3]
#        (env INFLIGHT=64 BATCH=32 RECEIVERS=4 SIZE=1024)
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../tests/lib.sh"
lt_setup "$1"
lt_alions_setup
[ -d "$LT_INTEROP/node_modules/rocketmq-client-nodejs" ] ||
    (cd "$LT_INTEROP" && timeout 240 npm ci --no-audit --no-fund --loglevel=error) || lt_fail "npm ci failed"
D=${2:-10}
ROUNDS=${3:-3}
export INFLIGHT=${INFLIGHT:-64} BATCH=${BATCH:-32} RECEIVERS=${RECEIVERS:-4} SIZE=${SIZE:-1024}
GP=$(lt_free_port)
lt_start_single "enableGrpcServer=true" "grpcServerPort=$GP"
lt_wait_port "$GP" 30 || lt_fail "the gRPC port did not open"
export NAMESRV_ADDR="$N" GRPC_ADDR="127.0.0.1:$GP"
TICK=$(getconf CLK_TCK)
RESULTS=$LT_DIR/results   # a line per phase: round phase msgs seconds broker-cpu-s client-cpu-s drained msgs-handled
: >"$RESULTS"
broker_cpu() { awk '{ print $14 + $15 }' "/proc/$LT_BROKER_PID/stat"; }
cpu_since() { awk -v a="$1" -v b="$(broker_cpu)" -v t="$TICK" 'BEGIN { printf "%.3f", (b - a) / t }'; }
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }

# node_phase <round> <phase> <topic> [group] [expect]: one phase in its own node process
node_phase() {
    local c0 out res b
    c0=$(broker_cpu)
    out=$(cd "$LT_INTEROP" && SECONDS="$D" TOPIC=$3 GROUP=${4:-} EXPECT=${5:-0} \
        timeout $((D + 100)) node grpc_bench.js "$2" 2>&1) || lt_fail "$2: $out"
    b=$(cpu_since "$c0")
    [ "$2" = grpc-prime ] && return 0
    res=$(sed -n 's/^RESULT //p' <<<"$out")
    LAST_MSGS=$(( $(field "$res" msgs) + $(field "$res" warmed 2>/dev/null || echo 0) ))
    echo "$1 $2 $(field "$res" msgs) $(field "$res" seconds) $b $(field "$res" clientCpuSeconds) $(field "$res" drained 2>/dev/null || echo -) $LAST_MSGS" >>"$RESULTS"
}

for ((r = 1; r <= ROUNDS; r++)); do
    for t in BenchGrpc BenchAliOns BenchC; do
        "$A" updateTopic -n "$N" -c DefaultCluster -t "${t}_$r" -r 4 -w 4 >/dev/null || lt_fail "updateTopic ${t}_$r"
    done
    node_phase "$r" grpc-prime "BenchGrpc_$r" "GID_bench_grpc_$r"
    node_phase "$r" grpc-send "BenchGrpc_$r"
    node_phase "$r" grpc-recv "BenchGrpc_$r" "GID_bench_grpc_$r" "$LAST_MSGS"
    node_phase "$r" remoting-send "BenchAliOns_$r"
    node_phase "$r" remoting-recv "BenchAliOns_$r" "GID_bench_alions_$r" "$LAST_MSGS"
    c0=$(broker_cpu)
    out=$("$LT_BIN/benchmark" producer -n "$N" -t "BenchC_$r" -s "$SIZE" -w 1 -W "$INFLIGHT" -d "$D" 2>&1) || lt_fail "benchmark producer: $out"
    n=$(sed -n 's/.*Send summary: total=\([0-9]*\).*/\1/p' <<<"$out")
    echo "$r c-send $n $D $(cpu_since "$c0") - - $n" >>"$RESULTS"
    c0=$(broker_cpu)
    out=$("$LT_BIN/benchmark" consumer -n "$N" -t "BenchC_$r" -g "GID_bench_c_$r" -d "$D" 2>&1) || lt_fail "benchmark consumer: $out"
    read -r n s < <(awk '/^Consume TPS:/ { if ($3 > 0) { n += $3; s++ } } END { print n + 0, s + 0 }' <<<"$out")
    echo "$r c-recv $n $s $(cpu_since "$c0") - - $n" >>"$RESULTS"
    echo "round $r of $ROUNDS done" >&2
done

python3 - "$RESULTS" "$D" "$ROUNDS" <<'PY'
import collections, os, statistics, sys, time
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
env = os.environ
print("%s: %s s per phase, %s rounds, %s-byte bodies, %s sends in flight, receive batch %s x %s, %d cores"
      % (time.strftime("%Y-%m-%d", time.gmtime()), sys.argv[2], sys.argv[3], env["SIZE"], env["INFLIGHT"],
         env["BATCH"], env["RECEIVERS"], os.cpu_count()))
label = {"grpc-send": "Node 5.x Producer, gRPC", "grpc-recv": "Node 5.x SimpleConsumer, gRPC (receive + ack)",
         "remoting-send": "Node ali-ons Producer, remoting", "remoting-recv": "Node ali-ons Consumer, remoting",
         "c-send": "bin/benchmark producer (C client), remoting", "c-recv": "bin/benchmark consumer (C client), remoting"}
rate = collections.defaultdict(dict)
per = collections.defaultdict(list)
for r, ph, msgs, secs, bcpu, ccpu, drained, handled in rows:
    m, s, h = int(msgs), max(float(secs), 1e-3), max(int(handled), 1)
    rate[ph][r] = m / s
    # CPU per message handled by the process (warm-up and start included)
    per[ph].append((m / s, float(bcpu) * 1e6 / h, "-" if ccpu == "-" else float(ccpu) * 1e6 / h, drained))
print()
print("| client, path | msgs/s per round | median msgs/s | broker CPU µs/msg (median) | client CPU µs/msg (median) |")
print("|---|---|---|---|---|")
for ph in label:
    v = per[ph]
    if not v:
        continue
    cc = [x[2] for x in v if x[2] != "-"]
    print("| %s | %s | %d | %.1f | %s |" % (label[ph], " / ".join("%d" % x[0] for x in v), statistics.median(x[0] for x in v),
          statistics.median(x[1] for x in v), "%.0f" % statistics.median(cc) if cc else "-"))
print()
for ph in label:
    n = sum(1 for x in per[ph] if x[3] == "False")
    if n:
        print("note: %d %s round(s) did not drain the backlog within the phase (the rate is over the whole phase)" % (n, ph))
if any(x[3] == "False" for ph in label for x in per[ph]):
    print()
for a, b, what in (("grpc-send", "remoting-send", "send, gRPC / remoting, same Node runtime"),
                   ("grpc-recv", "remoting-recv", "consume, gRPC / remoting, same Node runtime"),
                   ("grpc-send", "c-send", "send, Node gRPC / C client remoting"),
                   ("grpc-recv", "c-recv", "consume, Node gRPC / C client remoting")):
    rs = [rate[a][r] / rate[b][r] for r in rate[a] if rate[b].get(r)]
    print("%s: %s (median %.3f)" % (what, " / ".join("%.3f" % x for x in rs), statistics.median(rs)))
PY
