#!/usr/bin/env bash
# Interop with the unchanged npm client ali-ons (tests/interop/alions.test.js, node's test
# runner): produce/consume, tag filter, two consumers splitting a group, two groups, bodies and
# properties, broadcasting, redelivery, and committed offsets across a clean broker restart.
# Usage: bash test_interop_alions.sh <bin-dir> [vectors-dir]   (ctest passes both)
set -u
here=$(cd "$(dirname "$0")" && pwd)
interop=$(cd "$here/../interop" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
command -v node >/dev/null || lt_fail "node is not installed (scripts/install-deps.sh installs nodejs and npm)"
if [ ! -d "$interop/node_modules/ali-ons" ]; then
    command -v npm >/dev/null || lt_fail "npm is not installed and tests/interop/node_modules is missing"
    (cd "$interop" && timeout 240 npm ci --no-audit --no-fund --loglevel=error) \
        || lt_fail "npm ci failed in tests/interop (the npm registry must be reachable once)"
fi
lt_start_single
# Only the name server is given: the tests find the broker through it, as a user's client does.
export NAMESRV_ADDR="$LT_NS_ADDR" ALIONS_STATE="$LT_DIR/alions-state.json"
# Each phase is bounded (ctest allows this whole script 300 s): 120 s, then 60 s, then 60 s.
run() {
    (cd "$interop" && ALIONS_PHASE=$1 ALIONS_WATCHDOG_MS=$(( ($2 - 5) * 1000 )) timeout -k 5 "$2" node --test alions.test.js)
}
run main 120 || lt_fail "ali-ons: main scenarios failed"
run before-restart 60 || lt_fail "ali-ons: before-restart phase failed"
lt_stop_broker || lt_fail "broker did not stop cleanly"
lt_start_broker || lt_fail "broker did not restart"
sleep 1   # the restarted broker registers with the name server
run after-restart 60 || lt_fail "ali-ons: after-restart phase failed"
echo "ali-ons interop: all phases passed"
