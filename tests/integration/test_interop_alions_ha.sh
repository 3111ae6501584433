#!/usr/bin/env bash
# Interop with the unchanged npm client ali-ons and a master/slave pair: ali-ons produces to the
# master; once the slave has caught up the master is killed (-9), and a new ali-ons consumer
# group reads every message from the slave, finding it through the name server.
# Usage: bash test_interop_alions_ha.sh <bin-dir> [vectors-dir]   (ctest passes both)
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
lt_alions_setup
lt_start_single
lt_start_slave || lt_fail "slave did not start"
export NAMESRV_ADDR="$LT_NS_ADDR" ALIONS_STATE="$LT_DIR/alions-ha.json"
lt_alions_run failover-produce 40 || lt_fail "ali-ons: producing to the master failed"
topic=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["topic"])' "$ALIONS_STATE")
lt_wait_slave_caught_up "$topic" 60 || lt_fail "the slave did not catch up"
kill -9 "$LT_BROKER_PID"; wait "$LT_BROKER_PID" 2>/dev/null
lt_wait_for 60 "the name server drops the master as its connection closes" lt_ns_forgot "$LT_BROKER_ADDR" \
    || lt_fail "the name server still lists the killed master"
lt_alions_run failover-consume 60 || lt_fail "ali-ons: consuming from the slave failed"
echo "ali-ons master/slave interop: passed"
