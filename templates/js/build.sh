#!/usr/bin/env bash
# Builds the {{name}} plugin into OUT_DIR/{{name_underscored}}.wasm with
# componentize-js, against the wit/ folder beside it or the repository's.
#
# Usage: plugins/{{name}}/build.sh OUT_DIR
#
# Exit codes: 0 built; 1 the build failed (the tool's error is printed);
# 3 a toolchain is missing (one line on stderr names the install command).
set -euo pipefail

plugin_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$plugin_dir/../.." && pwd)
component={{name_underscored}}
# The wit/ folder that `lazyhost new` writes beside a skeleton, else the
# repository's, for a plugin in plugins/<name>/.
if [ -d "$plugin_dir/wit" ]; then
    wit_dir=$plugin_dir/wit
else
    wit_dir=$repo_root/wit
fi
wit_package=lazyhost:plugin

if [ $# -ne 1 ]; then
    echo "usage: $0 OUT_DIR" >&2
    exit 1
fi
out_dir=$1

missing_toolchain() {
    echo "missing toolchain: $1; install it with: $2" >&2
    exit 3
}

command -v node >/dev/null || missing_toolchain "node (Node.js 18 or later)" "scripts/toolchains/javascript.sh"
command -v npm >/dev/null || missing_toolchain "npm" "scripts/toolchains/javascript.sh"

# Install the pinned componentize-js from package-lock.json into the plugin
# folder. A stamp of the lock file's digest in node_modules lets a later
# build skip the install until the lock changes. The flock on package.json
# keeps builds started at the same time from installing at once.
install_packages() {
    local stamp=$plugin_dir/node_modules/.lazyhost-lock.sha256
    local digest
    digest=$(sha256sum "$plugin_dir/package-lock.json" | cut -d' ' -f1)
    if [ -x "$plugin_dir/node_modules/.bin/componentize-js" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$digest" ]; then
        return
    fi
    local log
    log=$(mktemp)
    if ! (cd "$plugin_dir" && npm ci --no-audit --no-fund >"$log" 2>&1); then
        local reason
        reason=$(grep -m1 -i 'err' "$log" || tail -n1 "$log")
        rm -f "$log"
        missing_toolchain "@bytecodealliance/componentize-js from package-lock.json (npm ci failed: $reason)" \
            "cd $plugin_dir && npm ci"
    fi
    rm -f "$log"
    echo "$digest" >"$stamp"
}

exec 9<"$plugin_dir/package.json"
flock 9
install_packages
flock -u 9

# The WIT package version, such as 0.1.0, or empty for an unversioned package.
version=$(sed -n "s/^package $wit_package@\([^;]*\);.*/\1/p" "$wit_dir"/*.wit | head -n1)
suffix=${version:+@$version}

# componentize-js resolves an import only by its full versioned name, so the
# sources are copied and their unversioned host imports get the version.
work_dir=$(mktemp -d)
trap 'rm -rf "$work_dir"' EXIT
for source in "$plugin_dir"/src/*.js; do
    sed -E "s#(['\"])$wit_package/([a-z-]+)(['\"])#\1$wit_package/\2$suffix\3#g" "$source" \
        >"$work_dir/$(basename "$source")"
done

# The component is written under a hidden name and renamed into place, so
# OUT_DIR never contains a half-written file.
mkdir -p "$out_dir"
partial=$out_dir/.$component.wasm.part
trap 'rm -rf "$work_dir" "$partial"' EXIT
"$plugin_dir/node_modules/.bin/componentize-js" "$work_dir/plugin.js" \
    --wit "$wit_dir" \
    --world-name plugin \
    --disable http fetch-event \
    --out "$partial" >&2 || exit 1
mv "$partial" "$out_dir/$component.wasm"
echo "built $out_dir/$component.wasm" >&2
