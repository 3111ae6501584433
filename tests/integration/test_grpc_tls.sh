#!/usr/bin/env bash
# gRPC over TLS and h2c on one port at the same time (spec grpc-5x §1.2, permissive mode): a CA
# and a server certificate for IP:127.0.0.1 made here with openssl; the handshake on the gRPC
# port verifies against that CA and selects ALPN h2 (openssl s_client); then the unchanged npm
# 5.x client rocketmq-client-nodejs 1.0.8 runs a TLS pair (sslEnabled: true, grpc-js verifying
# chain and address, the CA given through GRPC_DEFAULT_SSL_ROOTS_FILE_PATH) and a plaintext pair
# concurrently: both producers send, each SimpleConsumer receives and acks everything once
# (tests/interop/grpc_tls.js). Fails when the broker does not tell TLS from h2c by the first
# byte: LT_TLS_SERVER_MODE=disabled or =enforcing (the broker's tls.server.mode) makes it fail.
# Usage: bash test_grpc_tls.sh <bin-dir> [vectors-dir]   (ctest passes both)
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
lt_alions_setup
command -v openssl >/dev/null || lt_fail "openssl is needed to make the test certificates"
mode=${LT_TLS_SERVER_MODE:-permissive}

# A test CA, and a server certificate it signs for 127.0.0.1 (grpc-js checks the chain and the
# address); the broker gets the leaf, the client the CA.
C=$LT_DIR/tls
mkdir -p "$C"
{
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=Loulan test CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" \
        -keyout "$C/ca.key" -out "$C/ca.crt" &&
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
        -keyout "$C/server.key" -out "$C/server.csr" &&
    printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$C/ext" &&
    openssl x509 -req -in "$C/server.csr" -CA "$C/ca.crt" -CAkey "$C/ca.key" -CAcreateserial -days 2 \
        -extfile "$C/ext" -out "$C/server.crt"
} >"$C/openssl.out" 2>&1 || lt_fail "openssl could not make the certificates: $(tail -3 "$C/openssl.out")"

GP=$(lt_free_port)
lt_start_single "enableGrpcServer=true" "grpcServerPort=$GP" "tls.server.mode=$mode" "tls.test.mode.enable=false" \
    "tls.server.certPath=$C/server.crt" "tls.server.keyPath=$C/server.key"
lt_wait_port "$GP" 30 || lt_fail "the gRPC port did not open"
[ "$mode" = enforcing ] && export JAVA_OPT="-Dtls.enable=true"   # mqadmin to the broker's main port
"$A" updateTopic -n "$N" -c DefaultCluster -t GrpcTls -r 4 -w 4 >/dev/null || lt_fail "updateTopic GrpcTls"

# The handshake as any TLS client sees it: chain verified against the test CA, ALPN h2.
hs=$(timeout 20 openssl s_client -connect "127.0.0.1:$GP" -alpn h2 -CAfile "$C/ca.crt" -verify_ip 127.0.0.1 \
    -verify_return_error </dev/null 2>&1)
grep -q "ALPN protocol: h2" <<<"$hs" || lt_fail "no TLS handshake with ALPN h2 on the gRPC port: $(grep -m3 -iE 'error|alpn|verify' <<<"$hs")"
grep -q "Verify return code: 0 (ok)" <<<"$hs" || lt_fail "the gRPC port's certificate does not verify: $(grep -m1 'Verify return' <<<"$hs")"
echo "tls: openssl s_client: certificate verified, ALPN h2"

(cd "$LT_INTEROP" && GRPC_ADDR="127.0.0.1:$GP" GRPC_TOPIC=GrpcTls GRPC_DEFAULT_SSL_ROOTS_FILE_PATH="$C/ca.crt" \
    LOULAN_SLOW="${LOULAN_SLOW:-1}" GRPC_WATCHDOG_MS=$((45000 * ${LOULAN_SLOW:-1})) \
    timeout -k 5 $((48 * ${LOULAN_SLOW:-1})) node --no-deprecation grpc_tls.js) || lt_fail "TLS + h2c interop failed"
kill -0 "$LT_BROKER_PID" || lt_fail "the broker died"
echo "gRPC TLS and h2c on one port: passed"
