#!/usr/bin/env bash
# Builds the {{name}} plugin from C with clang and wasm-tools.
#
#   plugins/{{name}}/build.sh OUT_DIR   writes OUT_DIR/{{name_underscored}}.wasm
#
# `wit-bindgen c` generates the bindings from the repository's wit/ folder on
# every build, so the component always targets the WIT package version found
# there. clang compiles a WASI preview 1 reactor module, and `wasm-tools
# component new` wraps it with the preview 1 reactor adapter into a
# component. Exit codes: 0 built, 1 the build failed, 3 part of the toolchain
# is missing.
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

if [[ $# -ne 1 ]]; then
    echo "usage: $0 OUT_DIR" >&2
    exit 1
fi

if [[ ! -d "$WIT" ]]; then
    echo "error: WIT folder $WIT not found; set LAZYHOST_WIT to the lazyhost repository's wit/ folder" >&2
    exit 1
fi

# Returns the path of a command from PATH or ~/.cargo/bin, where cargo
# install puts wit-bindgen and wasm-tools.
find_tool() {
    command -v "$1" 2>/dev/null || { [[ -x "$HOME/.cargo/bin/$1" ]] && echo "$HOME/.cargo/bin/$1"; } || true
}

clang=$(find_tool clang)
wit_bindgen=$(find_tool wit-bindgen)
wasm_tools=$(find_tool wasm-tools)
missing=()
[[ -n "$clang" ]] || missing+=(clang)
[[ -n "$(find_tool wasm-ld)" ]] || missing+=("lld (wasm-ld)")
if [[ -n "$clang" ]]; then
    [[ -f "$("$clang" --target=wasm32-wasi -print-libgcc-file-name)" ]] || missing+=(libclang-rt-14-dev-wasm32)
    [[ -f /usr/lib/wasm32-wasi/libc.a ]] || missing+=(wasi-libc)
fi
[[ -n "$wit_bindgen" ]] || missing+=(wit-bindgen)
[[ -n "$wasm_tools" ]] || missing+=(wasm-tools)
[[ -f "$ADAPTER" ]] || missing+=("the WASI preview 1 reactor adapter")
if [[ ${#missing[@]} -gt 0 ]]; then
    IFS=,
    echo "missing toolchain: ${missing[*]}; install it with: scripts/toolchains/c.sh from the lazyhost repository" | sed 's/,/, /g' >&2
    exit 3
fi

mkdir -p "$1"
out=$(cd "$1" && pwd)/$NAME.wasm

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

# wit-bindgen reports each file it writes on stderr, so its output is shown
# only when it fails.
if ! "$wit_bindgen" c --world plugin --out-dir "$stage/bindings" "$WIT" >"$stage/wit-bindgen.log" 2>&1; then
    cat "$stage/wit-bindgen.log" >&2
    exit 1
fi
"$clang" --target=wasm32-wasi -mexec-model=reactor -O2 -Wall -Wextra -Werror \
    -Wno-unused-parameter -I "$stage/bindings" -I "$HERE/src" \
    -o "$stage/$NAME.module.wasm" \
    "$HERE"/src/*.c "$stage/bindings/plugin.c" "$stage/bindings/plugin_component_type.o" || exit 1
"$wasm_tools" component new "$stage/$NAME.module.wasm" \
    --adapt "wasi_snapshot_preview1=$ADAPTER" -o "$out" || exit 1
