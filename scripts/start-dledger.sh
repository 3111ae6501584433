#!/usr/bin/env bash
# Install what is missing, build, and start a three-node DLedger group in the foreground:
# mqnamesrv on 9876 and the brokers of conf/dledger (ports 30911, 30921, 30931; Raft peers on
# 40911-40913), data and logs under ./data/dledger. Ctrl-C stops them all.
# Kill one broker (the master: mqadmin clusterList shows BID 0) and another takes over.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)"
data=$(pwd)/data/dledger
mkdir -p "$data/logs" "$data/namesrv"
echo "kvConfigPath=$data/namesrv/kvConfig.json" >"$data/namesrv.conf"
export LOULAN_LOG_DIR="$data/logs"
pids=()
trap 'kill -TERM "${pids[@]}" 2>/dev/null; wait' INT TERM EXIT
build/bin/mqnamesrv -c "$data/namesrv.conf" &
pids+=($!)
for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/9876) 2>/dev/null && break; sleep 0.05; done
for i in 0 1 2; do
    sed -e "s|^storePathRootDir=.*|storePathRootDir=$data/node0$i|" \
        -e "s|^storePathCommitLog=.*|storePathCommitLog=$data/node0$i/commitlog|" \
        conf/dledger/broker-n$i.conf >"$data/broker-n$i.conf"
    echo "grpcServerPort=$((8081 + i))" >>"$data/broker-n$i.conf"   # one machine: a gRPC port each
    build/bin/mqbroker -c "$data/broker-n$i.conf" &
    pids+=($!)
done
echo "Loulan DLedger group RaftNode00 is starting: name server 127.0.0.1:9876, brokers 30911 30921 30931."
echo "See the master with: build/bin/mqadmin clusterList -n 127.0.0.1:9876   (Ctrl-C stops all)"
wait
