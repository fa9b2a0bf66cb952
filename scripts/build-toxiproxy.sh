#!/usr/bin/env bash
# Builds Toxiproxy (MIT), the fault-injecting TCP proxy the fault tests put between the
# service and its S3 server. Source from the Go module proxy; the binary goes into the
# per-user cache keyed by version (CI's fresh clones reuse it); .bin/toxiproxy-server
# links to it.
set -euo pipefail
TOXIPROXY_VERSION="${TOXIPROXY_VERSION:-v2.5.0}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${MINI_BIN_CACHE:-$HOME/.cache/mini-pipeline/bin}"
target="$cache/toxiproxy-server-$TOXIPROXY_VERSION"
mkdir -p "$cache" "$root/.bin"
exec 9>"$cache/.toxiproxy-$TOXIPROXY_VERSION.lock"
flock 9
if [ ! -x "$target" ]; then
  start=$(date +%s)
  echo "building toxiproxy-server $TOXIPROXY_VERSION (first time only)" >&2
  gobin="$(mktemp -d)"
  trap 'rm -rf "$gobin"' EXIT
  CGO_ENABLED=0 GOBIN="$gobin" GOFLAGS=-buildvcs=false \
    go install -trimpath "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION"
  mv "$gobin/server" "$target.partial"
  mv "$target.partial" "$target"
  echo "built toxiproxy-server in $(( $(date +%s) - start ))s" >&2
fi
ln -sfn "$target" "$root/.bin/toxiproxy-server"
