#!/usr/bin/env bash
# enableGrpcServer is on by default: a broker whose grpcServerPort cannot be bound (here: its own
# remoting port) still starts and serves 4.x clients, and its log says why gRPC is missing.
# Usage: bash test_grpc_port_taken.sh <bin-dir> [vectors-dir]   (ctest passes both)
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
LT_BROKER_PORT=$(lt_free_broker_port)
lt_start_single "grpcServerPort=$LT_BROKER_PORT"
"$A" updateTopic -n "$N" -c DefaultCluster -t GrpcTaken >/dev/null || lt_fail "the broker does not serve mqadmin"
"$A" topicList -n "$N" | grep -qx GrpcTaken || lt_fail "topic not listed"
grep -q "no gRPC endpoint: grpcServerPort $LT_BROKER_PORT cannot be used" "$LT_DIR/broker.out" ||
    lt_fail "the log does not say why there is no gRPC endpoint"
"$LT_BIN/mqbroker" -p -c "$LT_DIR/broker.conf" 2>/dev/null | grep -qx "enableGrpcServer=true" ||
    lt_fail "enableGrpcServer is not on by default"
echo "gRPC port taken: passed"
