#!/usr/bin/env bash
# Builds the {{name}} plugin into OUT_DIR/{{name_underscored}}.wasm with cargo.
#
# Usage: build.sh OUT_DIR
#
# Exit codes: 0 built; 1 the build failed (cargo's error is printed);
# 3 a toolchain is missing (one line on stderr names the install command).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
component={{name_underscored}}
target=wasm32-wasip2

if [ $# -ne 1 ]; then
    echo "usage: $0 OUT_DIR" >&2
    exit 1
fi

missing_toolchain() {
    echo "missing toolchain: $1; install it with: $2" >&2
    exit 3
}

command -v cargo >/dev/null ||
    missing_toolchain "cargo (Rust 1.85 or later)" "curl --proto '=https' -sSf https://sh.rustup.rs | sh"
if command -v rustup >/dev/null && ! (cd "$here" && rustup target list --installed) | grep -qx "$target"; then
    missing_toolchain "the Rust target $target" "rustup target add $target"
fi

(cd "$here" && cargo build --release --target "$target") || exit 1
mkdir -p "$1"
cp "${CARGO_TARGET_DIR:-$here/target}/$target/release/$component.wasm" "$1/$component.wasm"
echo "built $1/$component.wasm" >&2
