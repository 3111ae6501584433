#!/usr/bin/env bash
# The RocketMQ 5.x gRPC endpoint with unchanged clients: the npm 5.x client
# rocketmq-client-nodejs 1.0.8 sends normal, FIFO (two message groups) and delay messages over
# h2c, and one message over TLS (a certificate made here; grpc-js trusts it through
# GRPC_DEFAULT_SSL_ROOTS_FILE_PATH, it ignores NODE_EXTRA_CA_CERTS);
# the 4.x client ali-ons consumes them all over remoting: FIFO groups in order, the delay message
# not before its time (tests/interop/grpc_producer.js).
# Usage: bash test_grpc_producer.sh <bin-dir> [vectors-dir]   (ctest passes both)
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
lt_alions_setup
command -v openssl >/dev/null || lt_fail "openssl is needed to make the test certificate"
# A server certificate for 127.0.0.1 (the Node client checks the chain and the address).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=127.0.0.1" \
    -addext "subjectAltName=IP:127.0.0.1" -keyout "$LT_DIR/grpc.key" -out "$LT_DIR/grpc.crt" 2>/dev/null ||
    lt_fail "openssl could not make a certificate"
GP=$(lt_free_port)
lt_start_single "enableGrpcServer=true" "grpcServerPort=$GP" "tls.test.mode.enable=false" \
    "tls.server.certPath=$LT_DIR/grpc.crt" "tls.server.keyPath=$LT_DIR/grpc.key"
lt_wait_port "$GP" 30 || lt_fail "the gRPC port did not open"
for t in GrpcNormal GrpcFifo GrpcDelay; do
    "$A" updateTopic -n "$N" -c DefaultCluster -t "$t" -r 4 -w 4 >/dev/null || lt_fail "updateTopic $t"
done
(cd "$LT_INTEROP" && NAMESRV_ADDR="$N" GRPC_ADDR="127.0.0.1:$GP" GRPC_TLS=1 GRPC_DEFAULT_SSL_ROOTS_FILE_PATH="$LT_DIR/grpc.crt" \
    GRPC_WATCHDOG_MS=$((50000 * ${LOULAN_SLOW:-1})) timeout -k 5 $((55 * ${LOULAN_SLOW:-1})) node grpc_producer.js) ||
    lt_fail "grpc producer interop failed"
kill -0 "$LT_BROKER_PID" || lt_fail "the broker died"
echo "gRPC producer interop: passed"
