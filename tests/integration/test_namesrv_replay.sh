#!/usr/bin/env bash
# Replays the recorded name-server requests of real clients (Java, mqadmin, ali-ons, C++) and of
# a real broker against mqnamesrv and compares each answer with the real 4.9.5 server's recorded
# answer; also bad frames. Prints the start-up time and idle memory figures quoted in the README.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
vectors=$2
t0=$(date +%s%N)
lt_start_namesrv || lt_fail "name server did not start"
t1=$(date +%s%N)
sleep 1
rss=$(awk '/VmRSS/ {print $2}' "/proc/$LT_NS_PID/status")
echo "mqnamesrv: port open after $(( (t1 - t0) / 1000000 )) ms (includes the test's 50 ms polling), idle RSS ${rss} kB"
[ "$rss" -lt 10240 ] || lt_fail "idle RSS ${rss} kB is over 10 MB"
timeout 120 python3 "$here/replay_namesrv.py" "$LT_NS_PORT" "$vectors" || lt_fail "replay mismatches"
