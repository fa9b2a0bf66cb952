#!/usr/bin/env bash
# What the real test node needs beyond the control plane (scripts/build-k8s.sh):
#
# * kubelet, from the same Kubernetes source and version as the control plane;
# * containerd and runc (Debian's packages, scripts/ensure-image-tools.sh);
# * a sandbox ("pause") image: scripts/node/pause.go built static and committed
#   FROM scratch with buildah, saved as a docker-archive for `ctr images import`.
#
# Cached like the rest: ~/.cache/mini-pipeline/{bin,images}. Writes .bin/node.env
# (PAUSE_IMAGE, PAUSE_ARCHIVE) and prints how long each step took.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${MINI_IMAGE_CACHE:-$HOME/.cache/mini-pipeline/images}"
storage="$cache/storage"
runroot="/run/mini-pipeline-buildah"
mkdir -p "$cache" "$root/.bin"
log() { echo "build-node: $*" >&2; }
overall=$(date +%s)

bash "$root/scripts/ensure-image-tools.sh"
start=$(date +%s)
WITH_KUBELET=1 bash "$root/scripts/build-k8s.sh"
log "control plane and kubelet ready in $(($(date +%s) - start))s"

key="$(cat "$root/scripts/node/pause.go" "$root/scripts/node/go.mod" | sha256sum | cut -c1-12)"
name="localhost/mini-pipeline-pause:$key"
archive="$cache/mini-pipeline-pause-$key.docker.tar"
exec 9>"$cache/.build.lock"
flock 9
if [ ! -s "$archive" ]; then
  start=$(date +%s)
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$root/scripts/node" && CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOTOOLCHAIN=local \
    go build -trimpath -ldflags "-s -w" -o "$tmp/pause" .)
  ba() { buildah --root "$storage" --runroot "$runroot" --storage-driver vfs "$@"; }
  c="$(ba from scratch)"
  ba copy "$c" "$tmp/pause" /pause >/dev/null
  ba config --entrypoint '["/pause"]' --user 65535:65535 --os linux --arch amd64 "$c"
  ba commit --quiet --rm "$c" "$name" >/dev/null
  ba push --quiet "$name" "docker-archive:$archive.partial:$name" >/dev/null
  ba rmi "$name" >/dev/null 2>&1 || true
  mv -f "$archive.partial" "$archive"
  log "pause image $name built in $(($(date +%s) - start))s"
fi
printf 'PAUSE_IMAGE=%s\nPAUSE_ARCHIVE=%s\n' "$name" "$archive" >"$root/.bin/node.env.tmp"
mv -f "$root/.bin/node.env.tmp" "$root/.bin/node.env"
log "node ready in $(($(date +%s) - overall))s (.bin/node.env)"
