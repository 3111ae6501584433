#!/usr/bin/env bash
# Replays the recorded broker traffic of real clients (Java, Java with the binary header,
# ali-ons, C++) against mqbroker and compares with the real 4.9.5 broker's answers.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
lt_start_single
timeout 120 python3 "$here/replay_broker.py" "$LT_BROKER_PORT" "$2" || lt_fail "broker replay mismatches"
