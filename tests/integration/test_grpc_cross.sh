#!/usr/bin/env bash
# Cross-protocol interop on one broker, both clients unchanged from npm: the 4.x client ali-ons
# produces and the 5.x client rocketmq-client-nodejs 1.0.8 consumes with its SimpleConsumer over
# gRPC (POP), and the 5.x Producer sends while an ali-ons Consumer reads over remoting. Each
# message arrives exactly once with body (binary; one compressed by ali-ons), tag, keys, user
# properties and message id intact, and every 5.x ack holds (tests/interop/grpc_cross.js).
# Usage: bash test_grpc_cross.sh <bin-dir> [vectors-dir]   (ctest passes both)
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
lt_start_grpc
for t in GrpcCrossA GrpcCrossB; do
    "$A" updateTopic -n "$N" -c DefaultCluster -t "$t" -r 4 -w 4 >/dev/null || lt_fail "updateTopic $t"
done
(cd "$LT_INTEROP" && NAMESRV_ADDR="$N" GRPC_ADDR="127.0.0.1:$GP" GRPC_TOPICS=GrpcCrossA,GrpcCrossB \
    LOULAN_SLOW="${LOULAN_SLOW:-1}" GRPC_WATCHDOG_MS=$((52000 * ${LOULAN_SLOW:-1})) \
    timeout -k 5 $((55 * ${LOULAN_SLOW:-1})) node grpc_cross.js) || lt_fail "cross-protocol interop failed"
kill -0 "$LT_BROKER_PID" || lt_fail "the broker died"
echo "gRPC cross-protocol interop: passed"
