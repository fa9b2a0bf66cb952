#!/usr/bin/env bash
# Builds the test-only stand-ins for the images the manifests pull from registries
# this machine cannot reach (tests/deploy/standins/README.md), so the real-node
# test deploys the whole MicroK8s overlay:
#
#   mini-standin-s3        for quay.io/minio/minio and quay.io/minio/mc: SeaweedFS
#                          (scripts/build-weed.sh) with `minio` and `mc` shims
#   mini-standin-postgres  for postgres:17.6-bookworm: Debian's postgresql-15
#
# Same way as scripts/build-images.sh, on the debootstrap'd base it made (it runs
# first when there is none): buildah, chroot isolation, vfs storage, --pull=never;
# cached by a hash of the Dockerfile, the files it copies, the base, the weed
# version and RECIPE, as docker-archives in ~/.cache/mini-pipeline/images. Writes .bin/standins.env
# (S3_IMAGE, S3_ARCHIVE, POSTGRES_IMAGE, POSTGRES_ARCHIVE) and prints build times.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${MINI_IMAGE_CACHE:-$HOME/.cache/mini-pipeline/images}"
storage="$cache/storage"
runroot="/run/mini-pipeline-buildah"
src="$root/tests/deploy/standins"
log() { echo "build-standins: $*" >&2; }

# Bump RECIPE when what this script puts in the images changes.
RECIPE=1
overall=$(date +%s)
ba() { buildah --root "$storage" --runroot "$runroot" --storage-driver vfs "$@"; }
# Only the base is needed from `make images`: reuse the one it last made rather than
# rebuild the project's images for a code change they do not depend on.
base="$(sed -n 's/^BASE_IMAGE=//p' "$root/.bin/images.env" 2>/dev/null || true)"
if [ -z "$base" ] || ! ba inspect --type image "$base" >/dev/null 2>&1; then
  bash "$root/scripts/build-images.sh"
  base="$(sed -n 's/^BASE_IMAGE=//p' "$root/.bin/images.env")"
fi
bash "$root/scripts/build-weed.sh"
weed="$(readlink -f "$root/.bin/weed")"

exec 9>"$cache/.build.lock"
flock 9
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

declare -A refs archives
for name in s3 postgres; do
  dockerfile="$src/Dockerfile.$name"
  files=()
  while read -r f; do files+=("$f"); done < <(
    awk 'toupper($1) == "COPY" { for (i = 2; i < NF; i++) print $i }' "$dockerfile")
  key="$(
    {
      echo "$base"
      basename "$weed"  # its version is in its name
      sha256sum <"$dockerfile"
      echo "$RECIPE"
      for f in "${files[@]}"; do
        [ "$f" = weed ] || sha256sum <"$src/$f"
      done
    } | sha256sum | cut -c1-16
  )"
  ref="mini-standin-$name:ctx-$key"
  archive="$cache/mini-standin-$name-$key.docker.tar"
  if [ ! -s "$archive" ]; then
    start=$(date +%s)
    log "building $ref"
    ctx="$tmp/$name"
    mkdir -p "$ctx"
    for f in "${files[@]}"; do
      if [ "$f" = weed ]; then cp "$weed" "$ctx/weed"; else cp "$src/$f" "$ctx/$f"; fi
    done
    (cd "$ctx" && nice -n 10 buildah --root "$storage" --runroot "$runroot" --storage-driver vfs \
      bud --isolation chroot --pull=never --layers=false --quiet \
      --build-arg "BASE_IMAGE=$base" -f "$dockerfile" -t "$ref" . >"$tmp/build-$name.log" 2>&1) ||
      { tail -40 "$tmp/build-$name.log" >&2; exit 1; }
    ba push --quiet "$ref" "docker-archive:$archive.partial:$ref" >/dev/null
    mv -f "$archive.partial" "$archive"
    # The archive is what the tests import; the stored copy is not needed again.
    ba rmi "$ref" >/dev/null 2>&1 || true
    ls -t "$cache/mini-standin-$name-"*.docker.tar | tail -n +3 | xargs -r rm -f
    log "built $ref in $(($(date +%s) - start))s"
  fi
  touch "$archive"
  refs[$name]="$ref"
  archives[$name]="$archive"
  log "$ref: $(du -m "$archive" | cut -f1) MiB"
done
ba rmi --prune >/dev/null 2>&1 || true

printf '%s\n' "S3_IMAGE=${refs[s3]}" "S3_ARCHIVE=${archives[s3]}" \
  "POSTGRES_IMAGE=${refs[postgres]}" "POSTGRES_ARCHIVE=${archives[postgres]}" \
  >"$root/.bin/standins.env.tmp"
mv -f "$root/.bin/standins.env.tmp" "$root/.bin/standins.env"
log "stand-in images ready in $(($(date +%s) - overall))s (.bin/standins.env)"
