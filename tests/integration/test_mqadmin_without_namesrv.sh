#!/usr/bin/env bash
# Every mqadmin command that needs a name server, run with neither -n nor NAMESRV_ADDR, says so
# on stderr ("no name server address") and exits with status 1: none crashes. (updateSubGroup
# and deleteSubGroup -c used to pass a NULL address on and die of SIGSEGV.) No server is started:
# the commands stop before any connection.
set -u
bin=$(cd "$1" && pwd)
home=$(mktemp -d /tmp/loulan-test.XXXXXX)
trap 'rm -rf "$home"' EXIT
cd "$home"
unset NAMESRV_ADDR
cmds=(
    "topicList" "topicRoute -t T" "clusterList" "updateTopic -t T -c C" "updateTopicPerm -t T -p 6 -c C"
    "deleteTopic -t T -c C" "topicStatus -t T" "topicClusterList -t T" "statsAll"
    "updateSubGroup -g G -c C" "deleteSubGroup -g G -c C" "getConsumerConfig -g G" "consumerProgress -g G"
    "consumerConnection -g G" "consumerStatus -g G" "producerConnection -g G -t T"
    "resetOffsetByTime -g G -t T -s 0" "skipAccumulatedMessage -g G -t T" "cloneGroupOffset -s A -d B -t T"
    "brokerStatus -c C" "getBrokerConfig -c C" "updateBrokerConfig -c C -k a -v b" "cleanExpiredCQ"
    "cleanUnusedTopic -c C" "deleteExpiredCommitLog" "queryCq -t T -q 0 -i 0"
    "sendMessage -t T -p x" "queryMsgByKey -t T -k K" "queryMsgById -i X" "queryMsgByUniqueKey -i X -t T"
    "queryMsgByOffset -t T -b b -i 0 -o 0" "printMsg -t T" "consumeMessage -t T"
    "wipeWritePerm -b b" "addWritePerm -b b" "getNamesrvConfig" "updateNamesrvConfig -k a -v b"
    "updateKvConfig -s s -k k -v v" "deleteKvConfig -s s -k k"
)
bad=0
for c in "${cmds[@]}"; do
    # shellcheck disable=SC2086 # the command line is split on purpose
    timeout 60 "$bin/mqadmin" $c >out.txt 2>err.txt
    rc=$?
    if [ $rc -ne 1 ] || ! head -n 1 err.txt | grep -qF "mqadmin: no name server address"; then
        echo "FAIL: mqadmin $c: exit status $rc, stderr: $(head -c 300 err.txt)" >&2
        bad=$((bad + 1))
    fi
done
[ $bad -eq 0 ] || { echo "FAIL: $bad of ${#cmds[@]} commands" >&2; exit 1; }
echo "ok: ${#cmds[@]} commands refuse cleanly without a name server"
