#!/usr/bin/env bash
# The tools `make images` and the real-node tests use, from Debian's packages:
# buildah (builds the Dockerfiles, no daemon), debootstrap (the base image's root
# filesystem), containerd and runc (run the images, as MicroK8s does).
set -euo pipefail
need=()
for tool in buildah:buildah debootstrap:debootstrap containerd:containerd ctr:containerd runc:runc; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || need+=("${tool#*:}")
done
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing ${need[*]}; installing needs root: apt-get install -y ${need[*]}" >&2
  exit 1
fi
mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
echo "installing Debian's ${need[*]} for the image builds"
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -q
apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${need[@]}"
