#!/usr/bin/env bash
# Interop with the unchanged npm client ali-ons (tests/interop): produce/consume, tag filter,
# two consumers splitting a group, two groups, and committed offsets across a clean restart.
set -u
here=$(cd "$(dirname "$0")" && pwd)
interop="$here/../interop"
source "$here/../lib.sh"
lt_setup "$1"
command -v node >/dev/null || lt_fail "node is not installed (scripts/install-deps.sh installs it)"
if [ ! -d "$interop/node_modules/ali-ons" ]; then
    (cd "$interop" && timeout 300 npm ci --no-audit --no-fund --loglevel=error) || lt_fail "npm ci failed in tests/interop"
fi
lt_start_namesrv || lt_fail "name server did not start"
lt_start_broker || lt_fail "broker did not start"
export NAMESRV_ADDR="$LT_NS_ADDR" BROKER_ADDR="$LT_BROKER_ADDR" ALIONS_STATE="$LT_DIR/alions-state.json"
run() { (cd "$interop" && ALIONS_PHASE=$1 timeout 300 node --test alions.test.js); }
run main || lt_fail "ali-ons main scenarios failed"
run before-restart || lt_fail "ali-ons before-restart phase failed"
lt_stop_broker || lt_fail "broker did not stop cleanly"
lt_start_broker || lt_fail "broker did not restart"
sleep 1
run after-restart || lt_fail "ali-ons after-restart phase failed"
echo "ali-ons interop: all phases passed"
