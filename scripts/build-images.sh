#!/usr/bin/env bash
# Builds the two images from the repository's own Dockerfile.api and
# Dockerfile.processor, with buildah (Debian's package: no daemon, no registry),
# the way the tests and the real-node suite use them.
#
# * The base: nothing can be pulled here, so `debian:bookworm-slim` is made the
#   way it is made upstream: `debootstrap --variant=minbase bookworm`, slimmed
#   like the official image (dpkg path excludes, no apt lists), committed as
#   localhost/mini-pipeline-base:bookworm-<key> and passed as BASE_IMAGE (the
#   Dockerfiles default to the digest-pinned Docker Hub image). Rebuilt when the
#   Dockerfiles' pinned digest changes.
# * The build: `buildah bud --isolation chroot --storage-driver vfs --pull=never`,
#   the machine's CA bundle and pip.conf mounted into the build steps (apt and
#   pip reach their registries through it), never copied into an image.
# * The cache: each image is tagged ctx-<hash of its Dockerfile, the base key and
#   every file its COPY lines send>, saved as a docker-archive (what `docker save`
#   writes, so `ctr images import` registers it as docker.io/library/NAME:TAG
#   exactly as `make import` does) under ~/.cache/mini-pipeline/images. A second
#   run with the same inputs only relinks.
#
# Writes .bin/images.env (API_IMAGE, API_ARCHIVE, PROCESSOR_IMAGE,
# PROCESSOR_ARCHIVE, BASE_IMAGE) and prints how long each step took.
#
#   IMAGES_KEEP   archives kept per image (default 3; older ones are removed)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${MINI_IMAGE_CACHE:-$HOME/.cache/mini-pipeline/images}"
keep="${IMAGES_KEEP:-3}"
storage="$cache/storage"
runroot="/run/mini-pipeline-buildah"
mkdir -p "$cache" "$root/.bin"

log() { echo "build-images: $*" >&2; }
bash "$root/scripts/ensure-image-tools.sh"

# One build at a time per machine: a second caller waits, then finds the archives.
exec 9>"$cache/.build.lock"
flock 9

ba() { buildah --root "$storage" --runroot "$runroot" --storage-driver vfs "$@"; }

overall=$(date +%s)
tmp="$(mktemp -d)"
cleanup() {
  local c
  for c in "${containers[@]}"; do ba rm "$c" >/dev/null 2>&1 || true; done
  rm -rf "$tmp"
}
containers=()
trap cleanup EXIT

# ---- the base ------------------------------------------------------------------
pinned="$(sed -n 's/^ARG BASE_IMAGE=//p' "$root/Dockerfile.api" "$root/Dockerfile.processor" | sort -u)"
if [ "$(wc -l <<<"$pinned")" != 1 ]; then
  log "the Dockerfiles pin different bases: $pinned"
  exit 1
fi
suite="${pinned#*:}"
suite="${suite%%-*}"   # debian:bookworm-slim@sha256:... -> bookworm
# Bump BASE_RECIPE when the recipe below changes.
BASE_RECIPE=1
base_key="$(printf '%s\n%s\n' "$pinned" "$BASE_RECIPE" | sha256sum | cut -c1-12)"
base_ref="localhost/mini-pipeline-base:$suite-$base_key"

if ! ba inspect --type image "$base_ref" >/dev/null 2>&1; then
  start=$(date +%s)
  log "making the $suite base with debootstrap (first time only)"
  rootfs="$tmp/rootfs"
  nice -n 10 debootstrap --variant=minbase "$suite" "$rootfs" http://deb.debian.org/debian \
    >"$tmp/debootstrap.log" 2>&1 || { tail -20 "$tmp/debootstrap.log" >&2; exit 1; }
  # What the official slim image does on top of minbase (debuerreotype's slimify
  # and the docker apt settings): no docs, man pages or locales, no apt lists.
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
CFG
  cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'CFG'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CFG
  echo 'Acquire::Languages "none";' >"$rootfs/etc/apt/apt.conf.d/docker-no-languages"
  echo 'APT::AutoRemove::SuggestsImportant "false";' >"$rootfs/etc/apt/apt.conf.d/docker-autoremove-suggests"
  find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$rootfs"/usr/share/{man,info,groff,lintian,linda,locale}/* \
    "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
    "$rootfs"/var/log/* "$rootfs"/tmp/*
  c="$(ba from scratch)"
  containers+=("$c")
  mnt="$(ba mount "$c")"
  tar -C "$rootfs" -cf - . | tar -C "$mnt" -xpf -
  ba umount "$c" >/dev/null
  ba config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --cmd bash --os linux --arch amd64 "$c"
  ba commit --quiet --rm "$c" "$base_ref" >/dev/null
  containers=()
  chmod -R u+w "$rootfs" 2>/dev/null || true
  rm -rf "$rootfs"
  log "base $base_ref made in $(($(date +%s) - start))s"
  ba images --format '{{.Name}}:{{.Tag}}' | grep '/mini-pipeline-base:' | grep -vxF "$base_ref" |
    xargs -r -n1 buildah --root "$storage" --runroot "$runroot" --storage-driver vfs rmi >/dev/null 2>&1 || true
fi

# ---- the images ----------------------------------------------------------------
# Every file a COPY line of this Dockerfile sends (generated files the
# .dockerignore drops are left out here too).
context_files() {
  local dockerfile="$1" src
  awk 'toupper($1) == "COPY" && $2 !~ /^--from/ { for (i = 2; i < NF; i++) print $i }' "$dockerfile" |
    while read -r src; do
      (cd "$root" && find "$src" -type f \
        -not -path '*/__pycache__/*' -not -name '*.pyc' -not -name '*.so' -not -path '*.egg-info/*')
    done | sort -u
}

image_key() {
  local dockerfile="$1"
  {
    echo "$base_ref"
    sha256sum "$dockerfile" "$root/.dockerignore" "$0" | cut -c1-64
    (cd "$root" && context_files "$dockerfile" | xargs -d '\n' sha256sum)
  } | sha256sum | cut -c1-16
}

# This machine's CA bundle (the one pip here trusts, for PyPI) goes to the pip
# step as the build secret `ca` (Dockerfile: RUN --mount=type=secret,id=ca):
# never written into a layer.
ca_file="${PIP_CERT:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}"
secrets=()
if [ -r "$ca_file" ]; then secrets+=(--secret "id=ca,src=$ca_file"); fi

declare -A refs archives
for name in api processor; do
  dockerfile="$root/Dockerfile.$name"
  key="$(image_key "$dockerfile")"
  ref="mini-pipeline-$name:ctx-$key"
  archive="$cache/mini-pipeline-$name-$key.docker.tar"
  if [ ! -s "$archive" ]; then
    start=$(date +%s)
    log "building $ref from Dockerfile.$name"
    (cd "$root" && nice -n 10 buildah --root "$storage" --runroot "$runroot" --storage-driver vfs \
      bud --isolation chroot --pull=never --layers=false --quiet \
      --build-arg "BASE_IMAGE=$base_ref" "${secrets[@]}" \
      -f "Dockerfile.$name" -t "$ref" . >"$tmp/build-$name.log" 2>&1) ||
      { tail -40 "$tmp/build-$name.log" >&2; exit 1; }
    ba push --quiet "$ref" "docker-archive:$archive.partial:$ref" >/dev/null
    mv -f "$archive.partial" "$archive"
    log "built $ref in $(($(date +%s) - start))s"
    # Older builds of this image: keep the newest $keep archives, no stored images.
    ls -t "$cache/mini-pipeline-$name-"*.docker.tar | tail -n +"$((keep + 1))" | xargs -r rm -f
    ba images --format '{{.Name}}:{{.Tag}}' | grep "/mini-pipeline-$name:" | grep -v ":ctx-$key\$" |
      xargs -r -n1 buildah --root "$storage" --runroot "$runroot" --storage-driver vfs rmi >/dev/null 2>&1 || true
  fi
  touch "$archive"
  refs[$name]="$ref"
  archives[$name]="$archive"
  log "$ref: $(du -m "$archive" | cut -f1) MiB ($archive)"
done
# Dangling images (a failed or superseded build) hold whole vfs copies.
ba rmi --prune >/dev/null 2>&1 || true

cat >"$root/.bin/images.env.tmp" <<ENV
BASE_IMAGE=$base_ref
API_IMAGE=${refs[api]}
API_ARCHIVE=${archives[api]}
PROCESSOR_IMAGE=${refs[processor]}
PROCESSOR_ARCHIVE=${archives[processor]}
ENV
mv -f "$root/.bin/images.env.tmp" "$root/.bin/images.env"
log "images ready in $(($(date +%s) - overall))s (.bin/images.env)"
