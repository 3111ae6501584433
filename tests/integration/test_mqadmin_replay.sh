#!/usr/bin/env bash
# Replays the recorded requests of the real Java mqadmin 4.9.5 against mqnamesrv + mqbroker
# holding a similar state (TopicTest with messages consumed by please_rename_unique_group_name_4)
# and compares code and body shape with the real 4.9.5 answers.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
lt_start_single
export NAMESRV_ADDR="$LT_NS_ADDR"
timeout 30 "$LT_BIN/producer" -c 40 >/dev/null 2>&1 || lt_fail "producer"
timeout 30 "$LT_BIN/consumer" -c 40 -T 5 >/dev/null 2>&1
# the recorded GET_CONSUME_STATS asks for this group: its offsets must be at the broker
lt_wait_for 30 "the consumer's offsets reach the broker" \
    "$LT_BIN/mqadmin" consumerProgress -n "$LT_NS_ADDR" -g please_rename_unique_group_name_4 || lt_fail "no consumer offsets"
timeout 60 python3 "$here/replay_mqadmin.py" "$LT_NS_PORT" "$LT_BROKER_PORT" "$2" || lt_fail "mqadmin replay mismatches"
