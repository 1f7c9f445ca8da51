#!/usr/bin/env bash
# Installs componentize-py, the tool that builds the Python plugins, into a
# virtual environment of its own, and exits at once when the pinned version
# is already there.
#
#   scripts/toolchains/python.sh     install, or check, the Python toolchain
#
# The environment lives in $LAZYHOST_TOOLCHAINS/python (default
# ~/.local/share/lazyhost/toolchains/python), where the plugins' build.sh
# looks for it. Debian's python3-venv is installed with apt when python3
# cannot create a virtual environment.
set -euo pipefail

COMPONENTIZE_PY_VERSION=0.25.1
TOOLCHAINS=${LAZYHOST_TOOLCHAINS:-${XDG_DATA_HOME:-$HOME/.local/share}/lazyhost/toolchains}
VENV=$TOOLCHAINS/python

installed_version() {
    "$VENV/bin/componentize-py" --version 2>/dev/null | awk '{print $2}'
}

if [[ "$(installed_version)" == "$COMPONENTIZE_PY_VERSION" ]]; then
    exit 0
fi

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

echo "installing componentize-py $COMPONENTIZE_PY_VERSION into $VENV" >&2
"$VENV/bin/pip" install --quiet --disable-pip-version-check \
    "componentize-py==$COMPONENTIZE_PY_VERSION" >&2

version=$(installed_version)
if [[ "$version" != "$COMPONENTIZE_PY_VERSION" ]]; then
    echo "error: $VENV/bin/componentize-py reports version '${version:-none}' after the install, expected $COMPONENTIZE_PY_VERSION" >&2
    exit 1
fi
