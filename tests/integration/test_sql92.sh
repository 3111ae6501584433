#!/usr/bin/env bash
# SQL92 filtering: with enablePropertyFilter=true a C-client SQL92 subscription gets exactly
# the matching messages; a malformed expression is rejected when the consumer starts
# (CHECK_CLIENT_CONFIG); a raw pull with a SQL92 subscription filters too; without
# enablePropertyFilter, SQL92 is refused with RocketMQ's message.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
[ -x "$LT_BIN/sql_e2e" ] || lt_fail "no sql_e2e in $LT_BIN"
lt_start_namesrv || lt_fail "name server did not start"
lt_start_broker enablePropertyFilter=true || lt_fail "broker did not start"
timeout 90 "$LT_BIN/sql_e2e" "$LT_NS_ADDR" match || lt_fail "SQL92 subscription got the wrong messages"
timeout 30 "$LT_BIN/sql_e2e" "$LT_NS_ADDR" bad || lt_fail "a malformed expression was accepted"
PYTHONPATH="$here" timeout 20 python3 - "$LT_BROKER_PORT" <<'PY' || lt_fail "raw SQL92 pull"
import sys
from rmq_frames import Conn, parse_records
c = Conn(int(sys.argv[1]))
def pull(sub, q):
    return c.call(11, {"consumerGroup": "RawSql", "topic": "SqlTopic", "queueId": q, "queueOffset": 0,
                       "maxMsgNums": 32, "sysFlag": 2 | 4, "commitOffset": 0, "suspendTimeoutMillis": 0,
                       "subscription": sub, "subVersion": 1, "expressionType": "SQL92"})
got = []
for q in range(4):
    r = pull("a = 12 OR a = 13", q)
    if r[0]["code"] == 0:
        got += [x["body"] for x in parse_records(r[1])]
print("raw SQL92 pull:", sorted(got))
assert sorted(got) == [b"m-12", b"m-13"], got
r = pull("a = = 1", 0)
assert r[0]["code"] == 23, r[0]
PY
lt_stop_broker
lt_start_broker || lt_fail "broker did not restart"
PYTHONPATH="$here" timeout 20 python3 - "$LT_BROKER_PORT" <<'PY' || lt_fail "SQL92 not refused without enablePropertyFilter"
import sys
from rmq_frames import Conn
c = Conn(int(sys.argv[1]))
r = c.call(11, {"consumerGroup": "RawSql", "topic": "SqlTopic", "queueId": 0, "queueOffset": 0, "maxMsgNums": 32,
                "sysFlag": 2 | 4, "commitOffset": 0, "suspendTimeoutMillis": 0, "subscription": "a = 1",
                "subVersion": 1, "expressionType": "SQL92"})
print(r[0]["code"], r[0].get("remark"))
assert r[0]["code"] == 1 and "does not support" in r[0]["remark"], r[0]
PY
echo "sql92: 4 passed, 0 failed"
