#!/usr/bin/env bash
# The whole test suite: installs what is missing, then
#  1. a release build + every ctest (unit, integration, interop),
#  2. a sanitizer build (ASan + UBSan) + the unit and integration tests again,
#  3. a short bounded fuzz run of every libFuzzer target (clang).
# Long fuzz/soak runs: LOULAN_FUZZ_SECONDS=600 scripts/test.sh
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
for d in tests/interop tests/browser; do   # ali-ons; playwright-core (drives Debian's chromium)
    if [ -f $d/package-lock.json ] && [ ! -d $d/node_modules ]; then
        (cd $d && npm ci --no-audit --no-fund --loglevel=error)
    fi
done
# python3 may be a version manager's shim, a script that costs ~0.3 s of CPU at every start (seen:
# pyenv); the tests start it hundreds of times, so they are handed the interpreter itself.
py=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null)
if [ -n "$py" ] && [ "$(readlink -f "$py")" != "$(readlink -f "$(command -v python3)")" ]; then
    pybin=$(mktemp -d)
    trap 'rm -rf "$pybin"' EXIT
    ln -s "$py" "$pybin/python3"
    export PATH="$pybin:$PATH"
fi
jobs=$(nproc 2>/dev/null || echo 2)
# ctest jobs: one more than the cores, at most 4. Most integration tests wait on the protocol
# (delay levels, invisible times, restarts: their sanitizer runs take as long as their release
# runs), so a third job uses what two leave idle; tests/CMakeLists.txt keeps the timing-bound
# tests serial, alone.
tjobs=$(( jobs + 1 > 4 ? 4 : jobs + 1 ))
fail=0
passed=0
failed=0
step() { echo; echo "=== $* (at ${SECONDS} s)"; }
tally() { if [ "$1" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fail=1; fi; }

step "release build"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null && cmake --build build -j"$jobs" || exit 1
step "tests (release)"
(cd build && ctest --output-on-failure --timeout 600 -j"$tjobs"); tally $?

step "sanitizer build (ASan+UBSan)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DLOULAN_SANITIZE=ON >/dev/null && cmake --build build-asan -j"$jobs" || exit 1
step "tests (ASan+UBSan)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# The DLedger tests that feed a node untrusted bytes or restore its state run here too; the
# failover soak, catch-up, five-node and admin tests (long, and the same code paths) run in
# release only, as the interop tests do.
(cd build-asan && LOULAN_SLOW=1 ctest --output-on-failure --timeout 900 -j"$tjobs" \
    -E "interop|test_dledger_(failover|catchup|five|admin)$"); tally $?

if command -v clang >/dev/null; then
    step "fuzz (${LOULAN_FUZZ_SECONDS:-5}s per target)"
    # only the fuzz targets: the programs and tests were built and run twice already
    fuzz_targets=$(for f in tests/fuzz/fuzz_*.c; do basename "$f" .c; done)
    CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DLOULAN_FUZZ=ON >/dev/null &&
        cmake --build build-fuzz -j"$jobs" --target $fuzz_targets || exit 1
    for f in build-fuzz/bin/fuzz_*; do
        [ -x "$f" ] || continue
        # its corpus: corpus/<module>_<what>, else corpus/<what>, else corpus/<module>
        name=$(basename "$f"); corpus=tests/fuzz/corpus/${name#fuzz_}
        [ -d "$corpus" ] || corpus=tests/fuzz/corpus/${name#fuzz_*_}
        [ -d "$corpus" ] || corpus=tests/fuzz/corpus/$(echo "$name" | cut -d_ -f2)
        work=$(mktemp -d)
        [ -d "$corpus" ] && cp -r "$corpus"/. "$work"/
        if "$f" -max_total_time="${LOULAN_FUZZ_SECONDS:-5}" -rss_limit_mb=2048 "$work" >"$work.log" 2>&1; then
            echo "fuzz $name: ok ($(grep -c . "$work.log") log lines)"; tally 0
        else
            echo "fuzz $name: FAILED"; tail -n 40 "$work.log"; tally 1
        fi
        rm -rf "$work" "$work.log"
    done
fi
echo
echo "test stages (release ctest, sanitizer ctest, each fuzz target):"
echo "$passed passed, $failed failed (${SECONDS} s)"
exit $fail
