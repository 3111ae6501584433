#!/usr/bin/env bash
# 5.x transactions over gRPC, and 5.x clients in mqadmin's views: the unchanged npm
# rocketmq-client-nodejs 1.0.8 Producer commits one transaction (received once by its
# SimpleConsumer), rolls one back (never received) and leaves one undecided, which the broker's
# checker (transactionTimeOut=1000, transactionCheckInterval=300) asks about on the producer's
# Telemetry stream; its checker commits it and it is received once. EndTransaction with a blank
# id gives INVALID_TRANSACTION_ID, with an unknown one INTERNAL_SERVER_ERROR. mqadmin
# consumerConnection / producerConnection list the Node clients (tests/interop/grpc_trans.js).
# Usage: bash test_grpc_trans.sh <bin-dir> [vectors-dir]   (ctest passes both)
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
lt_start_grpc transactionTimeOut=1000 transactionCheckInterval=300
"$A" updateTopic -n "$N" -c DefaultCluster -t GrpcTrans -r 4 -w 4 >/dev/null || lt_fail "updateTopic GrpcTrans"
(cd "$LT_INTEROP" && GRPC_ADDR="127.0.0.1:$GP" GRPC_TOPIC=GrpcTrans MQADMIN="$A" NAMESRV_ADDR="$N" \
    LOULAN_SLOW="${LOULAN_SLOW:-1}" GRPC_WATCHDOG_MS=$((55000 * ${LOULAN_SLOW:-1})) \
    timeout -k 5 $((58 * ${LOULAN_SLOW:-1})) node grpc_trans.js) || lt_fail "grpc transaction interop failed"
kill -0 "$LT_BROKER_PID" || lt_fail "the broker died"
grep -q 'checking with gRPC producer' "$LT_DIR/broker.out" ||
    lt_fail "the broker's log shows no check-back through a gRPC producer"
echo "gRPC transactions: passed"
