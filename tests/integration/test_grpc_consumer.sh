#!/usr/bin/env bash
# 5.x consumers over gRPC on the broker's POP: the unchanged npm 5.x client
# rocketmq-client-nodejs 1.0.8 sends with its Producer and consumes with its SimpleConsumer
# (ReceiveMessage, AckMessage, ChangeInvisibleDuration): every message once with its properties,
# a message not acked back as delivery attempt 2 after its invisible duration, a changed one not
# before its new duration (tests/interop/grpc_consumer.js).
# Usage: bash test_grpc_consumer.sh <bin-dir> [vectors-dir]   (ctest passes both)
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
lt_start_grpc
"$A" updateTopic -n "$N" -c DefaultCluster -t GrpcConsume -r 4 -w 4 >/dev/null || lt_fail "updateTopic GrpcConsume"
(cd "$LT_INTEROP" && GRPC_ADDR="127.0.0.1:$GP" GRPC_TOPIC=GrpcConsume LOULAN_SLOW="${LOULAN_SLOW:-1}" \
    GRPC_WATCHDOG_MS=$((55000 * ${LOULAN_SLOW:-1})) timeout -k 5 $((58 * ${LOULAN_SLOW:-1})) node grpc_consumer.js) ||
    lt_fail "grpc consumer interop failed"
kill -0 "$LT_BROKER_PID" || lt_fail "the broker died"
echo "gRPC consumer interop: passed"
