#!/usr/bin/env bash
# mqshutdown broker|namesrv stops the local processes cleanly: the broker unregisters from the
# name server and both exit with status 0. Like RocketMQ's script, mqshutdown stops every
# local broker, so the test runs itself in a PID namespace of its own where it can (it then
# sees only its own servers); elsewhere it must not run next to other process-level tests.
set -u
if [ -z "${LOULAN_IN_PIDNS:-}" ] && unshare --pid --fork --mount-proc true 2>/dev/null; then
    LOULAN_IN_PIDNS=1 exec unshare --pid --fork --mount-proc bash "$0" "$@"
fi
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
lt_start_single
timeout 30 "$LT_BIN/mqshutdown" broker || lt_fail "mqshutdown broker failed"
wait "$LT_BROKER_PID"; rc=$?
[ $rc -eq 0 ] || lt_fail "broker exit status $rc after mqshutdown"
# the name server logs the unregistration on its own loop, maybe after the broker has gone
lt_wait_for 30 "the name server logs the unregistration" grep -q "unregistered" "$LT_DIR/logs/namesrv.log" \
    || lt_fail "the broker did not unregister"
timeout 30 "$LT_BIN/mqshutdown" namesrv || lt_fail "mqshutdown namesrv failed"
wait "$LT_NS_PID"; rc=$?
[ $rc -eq 0 ] || lt_fail "name server exit status $rc after mqshutdown"
if "$LT_BIN/mqshutdown" broker >/dev/null 2>&1; then lt_fail "mqshutdown with nothing running must fail"; fi
"$LT_BIN/mqshutdown" bogus 2>/dev/null; [ $? -eq 2 ] || lt_fail "a bad argument must be a usage error"
echo "mqshutdown: 5 passed, 0 failed"
