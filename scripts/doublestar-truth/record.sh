#!/usr/bin/env bash
# record.sh DOUBLESTAR_DIR — rewrites test/fixtures/harbor/doublestar-v1.1.1.tsv from the real library (see README.md)
set -euo pipefail
src=${1:?usage: record.sh path/to/vendor/github.com/bmatcuk/doublestar}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/doublestar"
cp "$src"/*.go "$tmp/doublestar/"
rm -f "$tmp/doublestar/"*_test.go
printf 'module github.com/bmatcuk/doublestar\n\ngo 1.17\n' > "$tmp/doublestar/go.mod"
cp "$here/main.go" "$tmp/"
printf 'module truth\n\ngo 1.17\n\nrequire github.com/bmatcuk/doublestar v1.1.1\n\nreplace github.com/bmatcuk/doublestar => ./doublestar\n' > "$tmp/go.mod"
(cd "$tmp" && GOFLAGS=-mod=mod GOPROXY=off go build -o truth .)
node "$here/cases.cjs" | "$tmp/truth" | node "$here/keep.cjs" > "$root/test/fixtures/harbor/doublestar-v1.1.1.tsv"
wc -l "$root/test/fixtures/harbor/doublestar-v1.1.1.tsv"
