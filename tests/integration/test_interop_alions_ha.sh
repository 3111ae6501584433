#!/usr/bin/env bash
# Interop with the unchanged npm client ali-ons and a master/slave pair: ali-ons produces to the
# master; once the slave has caught up the master is killed (-9), and a new ali-ons consumer
# group reads every message from the slave, finding it through the name server.
# Usage: bash test_interop_alions_ha.sh <bin-dir> [vectors-dir]   (ctest passes both)
set -u
here=$(cd "$(dirname "$0")" && pwd)
interop=$(cd "$here/../interop" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
command -v node >/dev/null || lt_fail "node is not installed (scripts/install-deps.sh installs nodejs and npm)"
[ -d "$interop/node_modules/ali-ons" ] || (cd "$interop" && timeout 240 npm ci --no-audit --no-fund --loglevel=error) \
    || lt_fail "npm ci failed in tests/interop"
lt_start_single
lt_start_slave || lt_fail "slave did not start"
export NAMESRV_ADDR="$LT_NS_ADDR" ALIONS_STATE="$LT_DIR/alions-ha.json"
run() {
    (cd "$interop" && ALIONS_PHASE=$1 ALIONS_WATCHDOG_MS=$(( ($2 - 5) * 1000 )) timeout -k 5 "$2" node --test alions.test.js)
}
run failover-produce 40 || lt_fail "ali-ons: producing to the master failed"
topic=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["topic"])' "$ALIONS_STATE")
lt_wait_slave_caught_up "$topic" 25 || lt_fail "the slave did not catch up"
kill -9 "$LT_BROKER_PID"; wait "$LT_BROKER_PID" 2>/dev/null
sleep 0.5   # the name server drops the master as its connection closes
run failover-consume 60 || lt_fail "ali-ons: consuming from the slave failed"
echo "ali-ons master/slave interop: passed"
