#!/usr/bin/env bash
# Builds the {{name}} plugin with componentize-py.
#
#   plugins/{{name}}/build.sh OUT_DIR   writes OUT_DIR/{{name_underscored}}.wasm
#
# The bindings come from a wit/ folder at build time (see WIT below), so the
# component always targets the WIT package version found there. Exit codes:
# 0 built, 1 the build failed, 3 componentize-py is missing.
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

if [[ $# -ne 1 ]]; then
    echo "usage: $0 OUT_DIR" >&2
    exit 1
fi

if [[ ! -d "$WIT" ]]; then
    echo "error: WIT folder $WIT not found; set LAZYHOST_WIT to the lazyhost repository's wit/ folder" >&2
    exit 1
fi

# The environment that scripts/toolchains/python.sh makes comes first, then PATH.
componentize_py=$TOOLCHAINS/python/bin/componentize-py
if [[ ! -x "$componentize_py" ]]; then
    componentize_py=$(command -v componentize-py || true)
fi
if [[ -z "$componentize_py" ]]; then
    installer=$(cd "$WIT/.." && pwd)/scripts/toolchains/python.sh
    if [[ ! -x "$installer" ]]; then
        installer="scripts/toolchains/python.sh of the lazyhost repository"
    fi
    echo "missing toolchain: componentize-py; install it with: $installer" >&2
    exit 3
fi

mkdir -p "$1"
out=$(cd "$1" && pwd)/$NAME.wasm

# componentize-py imports the app while it builds and leaves __pycache__
# beside the sources, so it builds from a copy.
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp -R "$HERE/." "$stage/"
if ! "$componentize_py" --quiet -d "$WIT" -w plugin componentize app -p "$stage" -o "$out"; then
    exit 1
fi
