#!/usr/bin/env bash
# A transaction committed by a DLedger master that dies before the other nodes' index writers
# applied the commit (held with the store's test hook LOULAN_TEST_INDEX_PAUSE_FILE, as a slow
# disk would hold them) must not be committed twice by the node that takes over:
#  - the master commits a half message (raw SEND_MESSAGE_V2 with TRAN_MSG, END_TRANSACTION) and
#    every node holds the real message once; the master is killed;
#  - END_TRANSACTION COMMIT for the same half to the new master, while its index is held: refused
#    (SYSTEM_ERROR, "just became master"), the real message still there once (before the fix the
#    new master's nowait index query missed the commit and stored the message a second time);
#  - the index resumes: the new master logs that it holds what was replicated, its check round
#    finds the commit in the index and records the decision (an op record) without storing the
#    message again.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
export LOULAN_TEST_INDEX_PAUSE_FILE="$LT_DIR/index.pause"
slow=1
[ -n "${LOULAN_SLOW:-}" ] && slow=4

lt_start_namesrv || lt_fail "name server did not start"
lt_start_dledger_group 3 "transactionTimeOut=1000" "transactionCheckInterval=300" ||
    { tail -n 30 "$LT_DIR"/dl*.out; lt_fail "the DLedger group did not start"; }
disown "${LT_DL_PID[@]}"
leader_other_than() { local i; i=$(lt_dledger_leader_index); [ -n "$i" ] && [ "$i" != "$1" ]; }
lt_wait_for $((60 * slow)) "a master listed" leader_other_than none || lt_fail "no master"
m=$(lt_dledger_leader_index)
ports=$(IFS=,; echo "${LT_DL_PORT[*]}")
touch "$LOULAN_TEST_INDEX_PAUSE_FILE"

tx() { PYTHONPATH="$here" timeout $((60 * slow)) python3 - "$@" <<'PY'; }
import sys, time
from rmq_frames import Conn, send_v2, pull_all
HALF, OP, TOPIC = "RMQ_SYS_TRANS_HALF_TOPIC", "RMQ_SYS_TRANS_OP_HALF_TOPIC", "TxPromo"

def max_offset(port, topic):
    r = Conn(port).call(30, {"topic": topic, "queueId": 0})
    return int(r[0]["extFields"]["offset"]) if r and r[0]["code"] == 0 else -1

def end_tx(port, half):
    return Conn(port).call(37, {"producerGroup": "PG", "tranStateTableOffset": half["queueOffset"],
                                "commitLogOffset": half["physicOffset"], "commitOrRollback": 8,
                                "fromTransactionCheck": "false", "msgId": "m", "transactionId": "t"})

def wait(what, cond, secs):
    end = time.time() + secs
    while not cond():
        if time.time() > end:
            sys.exit("not within %ds: %s" % (secs, what))
        time.sleep(0.1)

step, ports = sys.argv[1], [int(p) for p in sys.argv[2].split(",")]
if step == "commit":  # on the master: a half message, then its commit
    port = ports[int(sys.argv[3])]
    props = "TAGS\x01A\x02WAIT\x01true\x02TRAN_MSG\x01true\x02PGROUP\x01PG\x02UNIQ_KEY\x01PROMO0001\x02"
    r = send_v2(Conn(port), TOPIC, b"tx-promo", extra={"i": props})
    assert r and r[0]["code"] == 0, r and r[0]
    half = pull_all(Conn(port), HALF, 0)[-1]
    r = end_tx(port, half)
    assert r and r[0]["code"] == 0, r and r[0]
    for p in ports:  # replicated everywhere: the real message once on every node
        wait("the real message on port %d" % p, lambda: max_offset(p, TOPIC) == 1, 30)
elif step == "again":  # on the new master, its index held
    port = ports[int(sys.argv[3])]
    half = [h for h in pull_all(Conn(port), HALF, 0) if "PROMO0001" in h["properties"]][0]
    answer = [None]
    def decided():  # a slave refuses until the node knows it leads
        r = end_tx(port, half)
        answer[0] = r and r[0]
        return r is not None and r[0]["code"] in (0, 1) and "slave" not in r[0].get("remark", "")
    wait("an answer from the new master", decided, 30)
    a = answer[0]
    assert a["code"] == 1 and "just became master" in a.get("remark", ""), "END_TRANSACTION answered %s" % a
    assert max_offset(port, TOPIC) == 1, "the real message is stored %d times" % max_offset(port, TOPIC)
    print("op records before the index resumes: %d" % max_offset(port, OP))
elif step == "settled":  # the check round recorded the decision; the message is still there once
    port, ops = ports[int(sys.argv[3])], int(sys.argv[4])
    wait("the decision recorded by the check round", lambda: max_offset(port, OP) > ops, 60)
    n = max_offset(port, TOPIC)
    assert n == 1, "the real message is stored %d times" % n
PY

tx commit "$ports" "$m" || lt_fail "the first master did not commit the transaction"
kill -9 "${LT_DL_PID[m]}"
lt_wait_for $((60 * slow)) "another master listed" leader_other_than "$m" || lt_fail "no new master"
n=$(lt_dledger_leader_index)
echo "node $m killed, node $n leads"
out=$(tx again "$ports" "$n") || { tail -n 20 "$LT_DIR/dl$n.out"; lt_fail "the new master: $out"; }
echo "$out"
ops=$(sed -n 's/^op records before the index resumes: //p' <<<"$out")
rm -f "$LOULAN_TEST_INDEX_PAUSE_FILE"
lt_wait_for $((30 * slow)) "the new master's index settled (logged)" \
    grep -q "the index holds every record replicated before this broker became master" "$LT_DIR/dl$n.out" ||
    lt_fail "no 'index holds' line"
tx settled "$ports" "$n" "$ops" || { tail -n 20 "$LT_DIR/dl$n.out"; lt_fail "after the index resumed"; }
echo "dledger transaction promotion: passed"
