#!/usr/bin/env bash
# Put MathJax 3 into _vendor/mathjax so the website renders equations offline.
# Fetched from the npm registry once; skipped when already present.
set -euo pipefail
cd "$(dirname "$0")/.."
target=_vendor/mathjax
version=3.2.2
if [ -f "$target/tex-chtml.js" ]; then exit 0; fi
command -v npm >/dev/null || { echo "npm is needed to fetch MathJax (apt-get install npm)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "mathjax@$version" >/dev/null)
tar -xzf "$tmp"/mathjax-$version.tgz -C "$tmp"
mkdir -p "$target"
cp -r "$tmp"/package/es5/. "$target"/
echo "MathJax $version installed in $target"
