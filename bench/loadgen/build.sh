#!/usr/bin/env bash
# Builds the load generator once into the cache the project uses for Centrifugo
# (~/.cache/messenger/), keyed by a hash of its sources, and prints the binary's path.
# Called by scripts/setup.sh and by bench/measure.py; quick when the binary is there.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${MESSENGER_CACHE_DIR:-$HOME/.cache/messenger}"
hash="$(cd "$here" && cat go.mod go.sum $(ls *.go | grep -v _test.go) | sha256sum | cut -c1-12)"
bin="$cache/loadgen-$hash/loadgen"
if [ ! -x "$bin" ]; then
  if ! command -v go >/dev/null; then
    echo "bench/loadgen is built from source: install Go 1.26 or newer" >&2
    exit 1
  fi
  mkdir -p "$(dirname "$bin")"
  (cd "$here" && GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -o "$bin.tmp" .)
  mv "$bin.tmp" "$bin"
fi
echo "$bin"
