#!/usr/bin/env bash
# Interop with the unchanged npm client ali-ons (tests/interop/alions.test.js, node's test
# runner): produce/consume, tag filter, two consumers splitting a group, two groups, bodies and
# properties, broadcasting, redelivery, and committed offsets across a clean broker restart.
# Usage: bash test_interop_alions.sh <bin-dir> [vectors-dir]   (ctest passes both)
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
lt_alions_setup
lt_start_single
# Only the name server is given: the tests find the broker through it, as a user's client does.
export NAMESRV_ADDR="$LT_NS_ADDR" ALIONS_STATE="$LT_DIR/alions-state.json"
# Each phase is bounded (ctest allows this whole script 300 s): 120 s, then 60 s, then 60 s.
lt_alions_run main 120 || lt_fail "ali-ons: main scenarios failed"
lt_alions_run before-restart 60 || lt_fail "ali-ons: before-restart phase failed"
lt_stop_broker || lt_fail "broker did not stop cleanly"
lt_wait_for 60 "the name server forgets the stopped broker" lt_ns_forgot || lt_fail "the stopped broker is still listed"
lt_start_broker || lt_fail "broker did not restart"
lt_wait_for 60 "the restarted broker registers with the name server" lt_ns_lists || lt_fail "broker not registered"
lt_alions_run after-restart 60 || lt_fail "ali-ons: after-restart phase failed"
echo "ali-ons interop: all phases passed"
