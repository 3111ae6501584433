#!/usr/bin/env bash
# The dashboard in a real headless browser (tests/browser/dashboard.test.js: playwright-core
# driving Debian's chromium): a name server, a broker, data sent with the C producer and
# consumer, and two loulan-dashboard processes (login off, and login on with an admin and a
# normal user). The browser checks the cluster, topic, consumer, message, DLQ, trace and login
# pages against what was sent, and saves a screenshot of each page in
# $LOULAN_ARTIFACTS/dashboard/ (default <bin-dir>/../artifacts/dashboard/).
# Usage: bash test_dashboard_browser.sh <bin-dir> [vectors-dir]   (ctest passes both)
# Skips (exit 0) only when /usr/bin/chromium is absent; CI installs it.
set -u
here=$(cd "$(dirname "$0")" && pwd)
CHROMIUM=${LOULAN_CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ]; then
    echo "SKIP: $CHROMIUM is not installed (scripts/install-deps.sh installs chromium)"
    exit 0
fi
source "$here/../lib.sh"
lt_setup "$1"
BROWSER_DIR=$(cd "$here/../browser" && pwd)
command -v node >/dev/null || lt_fail "node is not installed (scripts/install-deps.sh installs nodejs and npm)"
if [ ! -d "$BROWSER_DIR/node_modules/playwright-core" ]; then
    (cd "$BROWSER_DIR" && timeout 240 npm ci --no-audit --no-fund --loglevel=error) \
        || lt_fail "npm ci failed in tests/browser (the npm registry must be reachable once)"
fi

lt_start_single

# A dashboard from a properties file, as a user starts it; its extra lines as arguments.
# Sets DASH_PORT and DASH_PID; output in $LT_DIR/<name>.out.
start_dashboard() {
    local name=$1
    shift
    DASH_PORT=$(lt_free_port)
    mkdir -p "$LT_DIR/$name-data"
    {
        echo "server.address=127.0.0.1"
        echo "server.port=$DASH_PORT"
        echo "rocketmq.config.namesrvAddrs=$LT_NS_ADDR"
        echo "rocketmq.config.dataPath=$LT_DIR/$name-data"
        # sample every second so the Dashboard page's trend charts fill within the test
        echo "loulan.dashboard.collectIntervalSeconds=1"
        for kv in "$@"; do echo "$kv"; done
    } >"$LT_DIR/$name.properties"
    "$LT_BIN/loulan-dashboard" -c "$LT_DIR/$name.properties" >"$LT_DIR/$name.out" 2>&1 &
    DASH_PID=$!
    LT_PIDS+=("$DASH_PID")
    lt_wait_port "$DASH_PORT" 60 || { tail -n 20 "$LT_DIR/$name.out"; lt_fail "loulan-dashboard ($name) did not start"; }
}

start_dashboard dash "rocketmq.config.loginRequired=false"
DASH_URL="http://127.0.0.1:$DASH_PORT/"
printf 'admin=admin,1\nuser1=user1\n' >"$LT_DIR/users.properties"
start_dashboard dash-login "rocketmq.config.loginRequired=true" "rocketmq.config.usersFile=$LT_DIR/users.properties"
DASH_LOGIN_URL="http://127.0.0.1:$DASH_PORT/"

# ---- data, sent with the C tools ----
P="$LT_BIN/producer"
C="$LT_BIN/consumer"
# TopicTest, as the quick start
"$P" -n "$LT_NS_ADDR" -c 10 >"$LT_DIR/p-topictest.out" 2>&1 || lt_fail "producer (TopicTest) failed"
# five messages with one key on their own topic: the message page finds them by time, key and id
"$P" -n "$LT_NS_ADDR" -t UiMsgTopic -k UiKey -c 5 >"$LT_DIR/p-msg.out" 2>&1 || lt_fail "producer (UiMsgTopic) failed"
MSG_ID=$(sed -n 's/.*SendResult \[sendStatus=SEND_OK, msgId=\([0-9A-F]*\),.*/\1/p' "$LT_DIR/p-msg.out" | tail -n 1)
[ -n "$MSG_ID" ] || lt_fail "no msgId in the producer's output"
# a group that consumed everything, then fell 10 behind (the browser starts it again)
"$P" -n "$LT_NS_ADDR" -t UiLagTopic -c 10 >"$LT_DIR/p-lag1.out" 2>&1 || lt_fail "producer (UiLagTopic) failed"
timeout 90 "$C" -n "$LT_NS_ADDR" -t UiLagTopic -g UiLagGroup -c 10 -T 60 >"$LT_DIR/c-lag1.out" 2>&1 \
    || lt_fail "consumer UiLagGroup did not get its first 10 messages"
"$P" -n "$LT_NS_ADDR" -t UiLagTopic -c 10 >"$LT_DIR/p-lag2.out" 2>&1 || lt_fail "producer (UiLagTopic, again) failed"
# a dead-letter message of UiDlqGroup (sent straight to its DLQ topic) and an online consumer
# of that group, which a resend asks to consume it
"$P" -n "$LT_NS_ADDR" -t '%DLQ%UiDlqGroup' -c 1 >"$LT_DIR/p-dlq.out" 2>&1 || lt_fail "producer (%DLQ%UiDlqGroup) failed"
DLQ_MSG_ID=$(sed -n 's/.*msgId=\([0-9A-F]*\),.*/\1/p' "$LT_DIR/p-dlq.out" | tail -n 1)
"$C" -n "$LT_NS_ADDR" -t TopicTest -g UiDlqGroup -T 240 >"$LT_DIR/c-dlq.out" 2>&1 &
LT_PIDS+=("$!")
# one traced send: the trace page shows its producer trace
"$P" -n "$LT_NS_ADDR" -t UiTraceTopic -k UiTraceKey -c 1 --trace >"$LT_DIR/p-trace.out" 2>&1 || lt_fail "producer (traced) failed"

export DASH_URL DASH_LOGIN_URL MSG_ID DLQ_MSG_ID
export LOULAN_BIN="$LT_BIN" NAMESRV_ADDR="$LT_NS_ADDR" BROKER_ADDR="$LT_BROKER_ADDR"
export DLQ_CONSUMER_OUT="$LT_DIR/c-dlq.out" LOULAN_CHROMIUM="$CHROMIUM" LOULAN_TMP="$LT_DIR"
export LOULAN_ARTIFACTS="${LOULAN_ARTIFACTS:-$LT_BIN/../artifacts}"
start=$SECONDS
(cd "$BROWSER_DIR" && timeout -k 5 240 node dashboard.test.js) || {
    echo "--- dash.out"; tail -n 20 "$LT_DIR/dash.out"
    echo "--- dash-login.out"; tail -n 20 "$LT_DIR/dash-login.out"
    lt_fail "browser test failed (screenshots in $LOULAN_ARTIFACTS/dashboard/)"
}
echo "dashboard browser test: passed in $((SECONDS - start)) s (screenshots in $LOULAN_ARTIFACTS/dashboard/)"
