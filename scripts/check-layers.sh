#!/usr/bin/env bash
# check-layers.sh: the include rules that keep Loulan's architecture true (docs/broker-structure.md).
#   1. modules depend only on modules above them:
#      common -> remoting -> store/filter/acl/admin/grpc -> namesrv/broker/client -> tools/dashboard
#   2. inside the broker, core/ includes no subsystem header, and a subsystem (clients/, pull/,
#      schedule/, timer/, trans/, ha/, ...) includes only the core's header and its own; only
#      src/broker/wire.c (and main_*.c) may include every subsystem.
# Usage: check-layers.sh [SRC_DIR]   (default: src/ next to this script)
#        check-layers.sh --self-test  (plants a bad include in a copy and expects a failure)
# Exits 1 and names every offending line when a rule is broken.
set -u

allowed_deps() {  # module -> the modules it may include (besides itself)
    case "$1" in
    common) echo "" ;;
    remoting) echo "common" ;;
    store | filter) echo "common" ;;
    acl | admin | grpc) echo "common remoting" ;;
    namesrv) echo "common remoting store filter acl" ;;
    broker) echo "common remoting store filter acl grpc" ;;
    client) echo "common remoting filter loulan" ;;
    tools) echo "common remoting store filter client admin loulan" ;;
    dashboard) echo "common remoting client admin loulan" ;;
    *) echo "?" ;;
    esac
}

# Every '#include "x/..."' of a file, as "file:line:x/rest".
includes() { grep -nHoE '^[[:space:]]*#[[:space:]]*include[[:space:]]+"[^"]+"' "$@" 2>/dev/null |
    sed -E 's/#[[:space:]]*include[[:space:]]+"([^"]+)"/\1/; s/:[[:space:]]+/:/'; }

check() {
    local src=$1 bad=0 f line mod inc dep sub other
    [ -d "$src/broker/core" ] || { echo "check-layers: no $src/broker/core" >&2; return 2; }
    # 1. module order
    for d in "$src"/*/; do
        mod=$(basename "$d")
        local ok; ok=$(allowed_deps "$mod")
        if [ "$ok" = "?" ]; then echo "check-layers: module $mod is not in the order (add it to allowed_deps)"; bad=1; continue; fi
        while IFS= read -r line; do
            inc=${line##*:}
            case "$inc" in */*) dep=${inc%%/*} ;; *) continue ;; esac
            [ "$dep" = "$mod" ] && continue
            case " $ok " in *" $dep "*) ;; *) echo "module order: $line ($mod may not include $dep)"; bad=1 ;; esac
        done < <(find "$d" -name '*.[ch]' -print0 | xargs -0 -r bash -c "$(declare -f includes); includes \"\$@\"" _)
    done
    # 2. broker core and subsystems
    while IFS= read -r line; do
        f=${line%%:*}; inc=${line##*:}
        case "$inc" in broker/*/*) other=${inc#broker/}; other=${other%%/*} ;; *) continue ;; esac
        sub=${f#"$src"/broker/}
        case "$sub" in */*) sub=${sub%%/*} ;; *) continue ;; esac   # wire.c, main_*.c: may include all
        if [ "$sub" = core ]; then
            [ "$other" = core ] || { echo "broker core includes a subsystem: $line"; bad=1; }
        elif [ "$other" != core ] && [ "$other" != "$sub" ]; then
            echo "broker subsystem $sub includes sibling $other: $line"; bad=1
        fi
    done < <(find "$src/broker" -name '*.[ch]' -print0 | xargs -0 -r bash -c "$(declare -f includes); includes \"\$@\"" _)
    return $bad
}

self_test() {
    local here tmp rc=0
    here=$(cd "$(dirname "$0")/.." && pwd)
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' RETURN
    cp -r "$here/src" "$tmp/src"
    check "$tmp/src" > /dev/null || { echo "self-test: the clean tree fails"; return 1; }
    local sibling core_file
    sibling=$(ls "$tmp/src/broker" | grep -v -E '^(core|[a-z_]+\.[ch])$' | head -1)
    core_file=$(ls "$tmp/src/broker/core/"*.c | head -1)
    for planted in "$core_file|broker/$sibling/$sibling.h" "$(ls "$tmp/src/broker/$sibling/"*.c | head -1)|broker/$(ls "$tmp/src/broker" | grep -v -E "^(core|$sibling|[a-z_]+\.[ch])$" | head -1)/x.h" \
        "$tmp/src/store/$(ls "$tmp/src/store" | grep '\.c$' | head -1)|remoting/remoting.h"; do
        local file=${planted%%|*} inc=${planted##*|}
        cp "$file" "$file.orig"
        printf '#include "%s"\n' "$inc" >> "$file"
        if check "$tmp/src" > /dev/null; then echo "self-test: '#include \"$inc\"' in ${file#"$tmp"/} was not caught"; rc=1; fi
        mv "$file.orig" "$file"
    done
    [ $rc = 0 ] && echo "check-layers self-test: 3 planted bad includes caught"
    return $rc
}

if [ "${1:-}" = "--self-test" ]; then
    self_test
    exit $?
fi
src=${1:-$(cd "$(dirname "$0")/../src" && pwd)}
if check "$src"; then
    echo "check-layers: module order and broker core/subsystem rules hold"
else
    exit 1
fi
