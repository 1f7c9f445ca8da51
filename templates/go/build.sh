#!/usr/bin/env bash
# Builds the {{name}} plugin from Go with Go's wasip1 port and wasm-tools.
#
#   plugins/{{name}}/build.sh OUT_DIR   writes OUT_DIR/{{name_underscored}}.wasm
#
# `go build -buildmode=c-shared` for GOOS=wasip1 GOARCH=wasm makes a core
# module with the exports of bindings.go. `wasm-tools component embed` adds
# the world `plugin` of the repository's wit/ folder, and `wasm-tools
# component new` wraps the module with the WASI preview 1 reactor adapter
# into a component. The import module names take the package version read
# from wit/plugin.wit at build time. Exit codes: 0 built, 1 the build
# failed, 3 part of the toolchain is missing.
set -euo pipefail

NAME={{name_underscored}}
HERE=$(cd "$(dirname "$0")" && pwd)
# The WIT folder: LAZYHOST_WIT, else the wit/ that `lazyhost new` writes
# beside a skeleton, else the repository's wit/ for plugins/<name>/.
if [[ -n "${LAZYHOST_WIT:-}" ]]; then
    WIT=$LAZYHOST_WIT
elif [[ -d "$HERE/wit" ]]; then
    WIT=$HERE/wit
else
    WIT=$HERE/../../wit
fi
TOOLCHAINS=${LAZYHOST_TOOLCHAINS:-${XDG_DATA_HOME:-$HOME/.local/share}/lazyhost/toolchains}
ADAPTER=$TOOLCHAINS/c/wasi_snapshot_preview1.reactor.wasm
# Pages of 64 KiB reserved for the Go heap, 128 MiB (see below).
HEAP_RESERVE_PAGES=2048

if [[ $# -ne 1 ]]; then
    echo "usage: $0 OUT_DIR" >&2
    exit 1
fi

if [[ ! -f "$WIT/plugin.wit" ]]; then
    echo "error: WIT file $WIT/plugin.wit not found; set LAZYHOST_WIT to the lazyhost repository's wit/ folder" >&2
    exit 1
fi

# The environment that scripts/toolchains/go.sh makes comes first, then PATH
# and ~/.cargo/bin, where cargo install puts wasm-tools.
go=$TOOLCHAINS/go/bin/go
[[ -x "$go" ]] || go=$(command -v go 2>/dev/null || true)
wasm_tools=$(command -v wasm-tools 2>/dev/null || true)
if [[ -z "$wasm_tools" && -x "$HOME/.cargo/bin/wasm-tools" ]]; then
    wasm_tools=$HOME/.cargo/bin/wasm-tools
fi
missing=()
[[ -n "$go" ]] || missing+=(go)
[[ -n "$wasm_tools" ]] || missing+=(wasm-tools)
[[ -f "$ADAPTER" ]] || missing+=("the WASI preview 1 reactor adapter")
if [[ ${#missing[@]} -gt 0 ]]; then
    list=$(printf '%s, ' "${missing[@]}")
    echo "missing toolchain: ${list%, }; install it with: scripts/toolchains/go.sh from the lazyhost repository" >&2
    exit 3
fi

version=$(sed -n 's/^package lazyhost:plugin@\([0-9][0-9A-Za-z.+-]*\);.*/\1/p' "$WIT/plugin.wit")
if [[ -z "$version" ]]; then
    echo "error: no 'package lazyhost:plugin@VERSION;' line in $WIT/plugin.wit" >&2
    exit 1
fi

mkdir -p "$1"
out=$(cd "$1" && pwd)/$NAME.wasm

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp "$HERE"/go.mod "$HERE"/*.go "$stage/"
sed "s/WIT_VERSION/$version/g" "$HERE/imports.go.in" >"$stage/imports.go"

(
    cd "$stage"
    # Go's caches stay in the toolchains folder, so builds work under a
    # read-only HOME and reuse the compiled standard library.
    export GOCACHE=${GOCACHE:-$TOOLCHAINS/go/cache} GOFLAGS=-mod=mod GOTOOLCHAIN=local
    GOOS=wasip1 GOARCH=wasm "$go" build -buildmode=c-shared -trimpath -o "$stage/$NAME.module.wasm" .
) || exit 1

# The WASI adapter takes its stack and state with memory.grow, because Go
# cannot serve cabi_realloc before its runtime starts. Go's runtime counts
# every page present when it starts as heap, and assumes that the pages it
# grows follow its own, so the adapter's pages would become Go heap. The
# module therefore starts with HEAP_RESERVE_PAGES more pages than its data
# needs, and the adapter's pages come after them. main.go keeps the heap
# below that with a soft memory limit.
# NOTE: a Go heap beyond the reserve would overwrite the adapter's state.
"$wasm_tools" print "$stage/$NAME.module.wasm" >"$stage/$NAME.module.wat" || exit 1
data_pages=$(sed -n -E '0,/^\s*\(memory \(;0;\) ([0-9]+)\)$/s//\1/p' "$stage/$NAME.module.wat")
if [[ -z "$data_pages" ]]; then
    echo "error: the Go module declares no memory of the form '(memory (;0;) PAGES)'" >&2
    exit 1
fi
sed -i -E "0,/^(\s*)\(memory \(;0;\) [0-9]+\)$/s//\1(memory (;0;) $((data_pages + HEAP_RESERVE_PAGES)))/" \
    "$stage/$NAME.module.wat"
"$wasm_tools" parse "$stage/$NAME.module.wat" -o "$stage/$NAME.module.wasm" || exit 1

"$wasm_tools" component embed --world plugin "$WIT" "$stage/$NAME.module.wasm" \
    -o "$stage/$NAME.embedded.wasm" || exit 1
"$wasm_tools" component new --realloc-via-memory-grow "$stage/$NAME.embedded.wasm" \
    --adapt "wasi_snapshot_preview1=$ADAPTER" -o "$out" || exit 1
