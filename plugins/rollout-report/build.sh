#!/usr/bin/env bash
# Builds the rollout-report plugin with componentize-py.
#
#   plugins/rollout-report/build.sh OUT_DIR   writes OUT_DIR/rollout_report.wasm
#
# The bindings come from the repository's wit/ folder at build time, so the
# component always targets the WIT package version found there. Exit codes:
# 0 built, 1 the build failed, 3 componentize-py is missing.
set -euo pipefail

NAME=rollout_report
HERE=$(cd "$(dirname "$0")" && pwd)
WIT=${LAZYHOST_WIT:-$HERE/../../wit}
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
    echo "missing toolchain: componentize-py; install it with: $(cd "$WIT/.." && pwd)/scripts/toolchains/python.sh" >&2
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
