#!/usr/bin/env bash
# FIFO over gRPC with the unchanged npm 5.x client rocketmq-client-nodejs 1.0.8: two message groups
# sent to a one-queue topic reach a SimpleConsumer of a consumeMessageOrderly group (mqadmin
# updateSubGroup -o true, as RocketMQ 5) one at a time and in send order; a message not acked
# comes back as delivery attempt 2 before anything after it (tests/interop/grpc_fifo.js).
# Usage: bash test_grpc_fifo.sh <bin-dir> [vectors-dir]   (ctest passes both)
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
lt_start_grpc
"$A" updateTopic -n "$N" -c DefaultCluster -t GrpcFifo -r 1 -w 1 -a +message.type=FIFO >/dev/null ||
    lt_fail "updateTopic GrpcFifo"
"$A" updateSubGroup -n "$N" -c DefaultCluster -g GID_fifo -o true >/dev/null || lt_fail "updateSubGroup -o true"
(cd "$LT_INTEROP" && GRPC_ADDR="127.0.0.1:$GP" GRPC_TOPIC=GrpcFifo GRPC_GROUP=GID_fifo \
    GRPC_WATCHDOG_MS=$((55000 * ${LOULAN_SLOW:-1})) timeout -k 5 $((58 * ${LOULAN_SLOW:-1})) node grpc_fifo.js) ||
    lt_fail "grpc FIFO interop failed"
kill -0 "$LT_BROKER_PID" || lt_fail "the broker died"
echo "gRPC FIFO interop: passed"
