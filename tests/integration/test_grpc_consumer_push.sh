#!/usr/bin/env bash
# 5.x push consumers over gRPC on the broker's POP: the unchanged npm 5.x client
# rocketmq-client-nodejs 1.0.8 PushConsumer (QueryAssignment, ReceiveMessage with auto_renew,
# AckMessage, ChangeInvisibleDuration as its nack) consumes what its Producer sends: each message
# once, one failed message again as delivery attempt 2 (tests/interop/grpc_consumer.js, push mode).
# Usage: bash test_grpc_consumer.sh <bin-dir> [vectors-dir]   (ctest passes both)
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
lt_start_grpc
"$A" updateTopic -n "$N" -c DefaultCluster -t GrpcPush -r 4 -w 4 >/dev/null || lt_fail "updateTopic GrpcPush"
(cd "$LT_INTEROP" && GRPC_ADDR="127.0.0.1:$GP" GRPC_TOPIC=GrpcPush GRPC_MODE=push LOULAN_SLOW="${LOULAN_SLOW:-1}" \
    GRPC_WATCHDOG_MS=$((55000 * ${LOULAN_SLOW:-1})) timeout -k 5 $((58 * ${LOULAN_SLOW:-1})) node grpc_consumer.js) ||
    lt_fail "grpc push consumer interop failed"
kill -0 "$LT_BROKER_PID" || lt_fail "the broker died"
echo "gRPC push consumer interop: passed"
