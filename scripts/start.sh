#!/usr/bin/env bash
# Install what is missing, build, and start a single-node Loulan in the foreground:
# mqnamesrv on 9876, mqbroker on 10911 (VIP 10909) and the web console loulan-dashboard on
# 8080 (LOULAN_DASHBOARD_PORT to change it), data and logs under ./data. Ctrl-C stops all three.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)"
data=$(pwd)/data
mkdir -p "$data/logs" "$data/store" "$data/namesrv"
sed "s|^storePathRootDir=.*|storePathRootDir=$data/store|" conf/broker.conf >"$data/broker.conf"
echo "kvConfigPath=$data/namesrv/kvConfig.json" >"$data/namesrv.conf"
export LOULAN_LOG_DIR="$data/logs"
build/bin/mqnamesrv -c "$data/namesrv.conf" &
ns=$!
trap 'kill -TERM $ns $br $db 2>/dev/null; wait' INT TERM EXIT
for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/9876) 2>/dev/null && break; sleep 0.05; done
build/bin/mqbroker -c "$data/broker.conf" -n 127.0.0.1:9876 &
br=$!
dport=${LOULAN_DASHBOARD_PORT:-8080}
build/bin/loulan-dashboard --server.port="$dport" --rocketmq.config.namesrvAddrs=127.0.0.1:9876 \
    --rocketmq.config.dataPath="$data/dashboard" &
db=$!
echo "Loulan is up: name server 127.0.0.1:9876, broker 127.0.0.1:10911, dashboard http://127.0.0.1:$dport/ (data in $data). Ctrl-C stops all three."
wait
