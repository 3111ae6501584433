#!/usr/bin/env bash
# End-to-end test of the C client: real mqnamesrv + mqbroker on loopback, driven by
# bin/client_e2e (tests/integration/client_e2e.c). Phase "main" produces and consumes; then the
# broker is stopped cleanly and started again on the same port; phase "after-restart" checks
# committed offsets and stored messages survived. Every step is bounded.
# Usage: test_client_e2e.sh <bin-dir> [vectors-dir]
set -u
source "$(dirname "$0")/../lib.sh"
lt_setup "$1"
[ -x "$LT_BIN/mqbroker" ] || lt_fail "no mqbroker in $LT_BIN (build it first)"
[ -x "$LT_BIN/client_e2e" ] || lt_fail "no client_e2e in $LT_BIN"
lt_start_namesrv || lt_fail "mqnamesrv did not start"
lt_start_broker || lt_fail "mqbroker did not start"
export NAMESRV_ADDR="$LT_NS_ADDR"

timeout 300 "$LT_BIN/client_e2e" "$LT_NS_ADDR" main || lt_fail "client_e2e main phase"

lt_stop_broker || lt_fail "broker did not stop cleanly"
lt_start_broker || lt_fail "mqbroker did not restart"

timeout 120 "$LT_BIN/client_e2e" "$LT_NS_ADDR" after-restart || lt_fail "client_e2e after-restart phase"
echo "test_client_e2e: ok"
