#!/usr/bin/env bash
# Installs the toolchain that builds the C plugins, and exits at once when
# every part is already there:
#
#   - clang, lld, wasi-libc and libclang-rt-14-dev-wasm32 from Debian's apt;
#   - wasm-tools and wit-bindgen-cli, pinned, with `cargo install --locked`
#     into ~/.cargo/bin (each takes minutes to compile);
#   - the WASI preview 1 reactor adapter, which the crates.io crate
#     wasi-preview1-component-adapter-provider ships as a plain file. cargo
#     fetches the crate into its registry cache, and the script copies the
#     file to $LAZYHOST_TOOLCHAINS/c (default
#     ~/.local/share/lazyhost/toolchains/c), where the plugins' build.sh
#     looks for it.
#
#   scripts/toolchains/c.sh     install, or check, the C toolchain
set -euo pipefail

WASM_TOOLS_VERSION=1.263.0
WIT_BINDGEN_VERSION=0.63.0
# The adapter of the wasmtime release the host is built with (48.x).
ADAPTER_CRATE=wasi-preview1-component-adapter-provider
ADAPTER_VERSION=48.0.1
APT_PACKAGES=(clang lld wasi-libc libclang-rt-14-dev-wasm32)

TOOLCHAINS=${LAZYHOST_TOOLCHAINS:-${XDG_DATA_HOME:-$HOME/.local/share}/lazyhost/toolchains}
ADAPTER=$TOOLCHAINS/c/wasi_snapshot_preview1.reactor.wasm
ADAPTER_STAMP=$TOOLCHAINS/c/adapter-version
CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}
export PATH=$CARGO_HOME/bin:$PATH

step() { printf '==> %s\n' "$*" >&2; }

# Prints the version that `$1 --version` reports as its second word.
tool_version() {
    "$1" --version 2>/dev/null | awk '{print $2}'
}

missing_packages=()
for package in "${APT_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
        missing_packages+=("$package")
    fi
done
if [[ ${#missing_packages[@]} -gt 0 ]]; then
    step "installing ${missing_packages[*]} with apt"
    apt-get update -qq
    apt-get install -y -qq "${missing_packages[@]}" >&2
fi

if ! command -v cargo >/dev/null; then
    echo "error: cargo not found; install Rust with rustup (https://rustup.rs) and run this script again" >&2
    exit 1
fi

if [[ "$(tool_version wasm-tools)" != "$WASM_TOOLS_VERSION" ]]; then
    step "installing wasm-tools $WASM_TOOLS_VERSION with cargo (a few minutes)"
    cargo install --locked --quiet wasm-tools --version "$WASM_TOOLS_VERSION"
fi

if [[ "$(tool_version wit-bindgen)" != "$WIT_BINDGEN_VERSION" ]]; then
    step "installing wit-bindgen-cli $WIT_BINDGEN_VERSION with cargo (a few minutes)"
    cargo install --locked --quiet wit-bindgen-cli --version "$WIT_BINDGEN_VERSION"
fi

if [[ ! -f "$ADAPTER" || "$(cat "$ADAPTER_STAMP" 2>/dev/null)" != "$ADAPTER_VERSION" ]]; then
    step "fetching $ADAPTER_CRATE $ADAPTER_VERSION with cargo"
    # A throwaway package whose only dependency is the adapter crate, so that
    # `cargo fetch` downloads it into the registry cache without building.
    manifest=$(mktemp -d)
    trap 'rm -rf "$manifest"' EXIT
    mkdir "$manifest/src"
    touch "$manifest/src/lib.rs"
    cat >"$manifest/Cargo.toml" <<TOML
[package]
name = "lazyhost-adapter-fetch"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
$ADAPTER_CRATE = "=$ADAPTER_VERSION"
TOML
    cargo fetch --quiet --manifest-path "$manifest/Cargo.toml"

    crate_name=$ADAPTER_CRATE-$ADAPTER_VERSION
    source=$(find "$CARGO_HOME/registry/src" -path "*/$crate_name/artefacts/wasi_snapshot_preview1.reactor.wasm" 2>/dev/null | head -n 1)
    if [[ -z "$source" ]]; then
        # The cache contains the .crate archive (a gzipped tar) even where
        # cargo has not unpacked it.
        archive=$(find "$CARGO_HOME/registry/cache" -name "$crate_name.crate" 2>/dev/null | head -n 1)
        if [[ -z "$archive" ]]; then
            echo "error: cargo fetch left no $crate_name.crate under $CARGO_HOME/registry/cache" >&2
            exit 1
        fi
        tar -xzf "$archive" -C "$manifest" "$crate_name/artefacts/wasi_snapshot_preview1.reactor.wasm"
        source=$manifest/$crate_name/artefacts/wasi_snapshot_preview1.reactor.wasm
    fi
    mkdir -p "$(dirname "$ADAPTER")"
    cp "$source" "$ADAPTER"
    echo "$ADAPTER_VERSION" >"$ADAPTER_STAMP"
fi
