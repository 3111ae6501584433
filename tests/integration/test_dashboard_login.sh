#!/usr/bin/env bash
# loulan-dashboard with loginRequired=true: it refuses to start without a users file (no
# built-in admin/admin), then over real HTTP: wrong passwords, session cookie flags, CSRF, a
# normal user's "no permission", logout (tests/integration/dashboard_login.py).
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
lt_start_namesrv || lt_fail "name server did not start"
lt_start_broker || lt_fail "broker did not start"

out=$("$LT_BIN/loulan-dashboard" --rocketmq.config.loginRequired=true \
    --rocketmq.config.dataPath="$LT_DIR/empty" --server.port="$(lt_free_port)" 2>&1)
rc=$?
[ $rc -ne 0 ] || lt_fail "started with login on and no users file"
echo "$out" | grep -q "users.properties has no users" || lt_fail "the refusal does not name the file: $out"
out=$("$LT_BIN/loulan-dashboard" --server.ssl.enabled=true -p 2>&1) && lt_fail "server.ssl.* ignored silently"
echo "$out" | grep -q "server.ssl.enabled" || lt_fail "the refusal does not name server.ssl.enabled: $out"

# an unguarded console listens on loopback only; with login on, on every address
"$LT_BIN/loulan-dashboard" -p 2>/dev/null | grep -qx "server.address=127.0.0.1" ||
    lt_fail "without login the default address is not 127.0.0.1"
"$LT_BIN/loulan-dashboard" -p --rocketmq.config.loginRequired=true 2>/dev/null | grep -qx "server.address=0.0.0.0" ||
    lt_fail "with login on the default address is not 0.0.0.0"

printf 'admin=Adm1n-pw,1\nuser1=user1-pw\n' >"$LT_DIR/users.properties"
lt_start_dashboard --rocketmq.config.loginRequired=true --rocketmq.config.usersFile="$LT_DIR/users.properties" ||
    lt_fail "dashboard did not start"
python3 "$here/dashboard_login.py" "$LT_DASH_URL" || lt_fail "login checks"
kill -0 "$LT_DASH_PID" || lt_fail "the dashboard died"
echo "PASS"
