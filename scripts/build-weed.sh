#!/usr/bin/env bash
# Builds the SeaweedFS server (Apache-2.0), the real S3 server under test.
# Source comes from the Go module proxy. `go install pkg@version` refuses it
# because its go.mod carries a replace directive, so the module is built as
# the main module from a writable copy of its source (its own go.mod/go.sum
# then apply verbatim). The binary goes into a per-user cache keyed by version
# so CI's fresh clones reuse one build; .bin/weed links to it.
set -euo pipefail
WEED_VERSION="${WEED_VERSION:-v0.0.0-20261109003541-7506e5f91cd6}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${MINI_BIN_CACHE:-$HOME/.cache/mini-pipeline/bin}"
target="$cache/weed-$WEED_VERSION"
mkdir -p "$cache" "$root/.bin"
# One build at a time per cache (test sessions and `make servers` may race);
# a waiter then finds the binary and only relinks.
exec 9>"$cache/.weed-$WEED_VERSION.lock"
flock 9
if [ ! -x "$target" ]; then
  start=$(date +%s)
  echo "building weed $WEED_VERSION (first time only; takes a while)" >&2
  src="$(GOFLAGS=-mod=mod go mod download -json "github.com/seaweedfs/seaweedfs@$WEED_VERSION" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
  tmp="$(mktemp -d)"
  trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
  cp -r "$src" "$tmp/src" && chmod -R u+w "$tmp/src"
  (cd "$tmp/src" && CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -trimpath -o "$target.partial" ./weed)
  mv "$target.partial" "$target"
  echo "built weed in $(( $(date +%s) - start ))s" >&2
fi
ln -sfn "$target" "$root/.bin/weed"
