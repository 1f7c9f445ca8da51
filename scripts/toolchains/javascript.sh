#!/usr/bin/env bash
# Installs the JavaScript plugin toolchain on Debian: Node.js and npm from
# apt when missing, then the componentize-js pinned in each JavaScript
# plugin's package-lock.json, into that plugin's node_modules. Safe to run
# again: it installs only what is missing or out of date.
set -euo pipefail
cd "$(dirname "$0")/../.."

# componentize-js 0.23.0 runs on Node.js 20 (the version tested here).
# NOTE: Debian bookworm's apt package is Node.js 18; builds with it were not tried.
min_node_major=18

step() { printf '==> %s\n' "$*" >&2; }

node_major() {
    node --version 2>/dev/null | sed -n 's/^v\([0-9]*\)\..*/\1/p'
}

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    step "installing Node.js and npm with apt"
    apt-get update -qq
    packages=()
    command -v node >/dev/null || packages+=(nodejs)
    command -v npm >/dev/null || packages+=(npm)
    apt-get install -y -qq "${packages[@]}" >&2
fi

major=$(node_major)
if [ -z "$major" ] || [ "$major" -lt "$min_node_major" ]; then
    echo "error: Node.js $(node --version 2>/dev/null || echo '(none)') is too old: componentize-js needs $min_node_major or later; install a newer nodejs package" >&2
    exit 1
fi

# The same stamp as the plugins' build.sh: the digest of the lock file the
# installed node_modules came from.
for lock in plugins/*/package-lock.json; do
    [ -e "$lock" ] || continue
    plugin_dir=$(dirname "$lock")
    digest=$(sha256sum "$lock" | cut -d' ' -f1)
    if [ "$(cat "$plugin_dir/node_modules/.lazyhost-lock.sha256" 2>/dev/null)" = "$digest" ]; then
        continue
    fi
    step "installing the npm packages of $plugin_dir"
    # build.sh takes the same lock on package.json while it installs.
    (
        flock 9
        cd "$plugin_dir"
        npm ci --no-audit --no-fund >&2
        echo "$digest" >node_modules/.lazyhost-lock.sha256
    ) 9<"$plugin_dir/package.json"
done
