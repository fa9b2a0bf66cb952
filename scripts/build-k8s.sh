#!/usr/bin/env bash
# Builds a real Kubernetes control plane for the tests, from source through the
# Go module proxy: etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl and kwok (a fake kubelet that keeps a Node Ready).
#
# k8s.io/kubernetes and go.etcd.io/etcd/server/v3 cannot be `go install`ed:
# their go.mod files replace modules with directories of their own repository.
# Each is built from a throw-away wrapper module (scripts/kube/wrapper-gomod.py
# writes its go.mod) that requires the upstream module and lists the binaries
# as `tool`s; for Kubernetes it also replaces every staging module (the list
# is read from the upstream go.mod, not hard-coded) with its released
# v0.<minor>.<patch> version.
#
# Binaries go into a per-user cache keyed by name and version
# (~/.cache/mini-pipeline/bin/<name>-<version>, built under a temporary name
# and renamed, so a killed build leaves nothing half-written) and
# .bin/<name> links to them. A second run only checks and relinks.
#
#   KUBE_VERSION  default v1.35.4 (served alternatives: v1.34.x, v1.36.x)
#   ETCD_VERSION  default: the etcd version that Kubernetes release names in
#                 build/dependencies.yaml (falls back to its go.mod)
#   KWOK_VERSION  default v0.8.0
#   BUILD_JOBS    go build -p, default 2 (peak memory stays around 2-3 GB)
#   WITH_KUBELET=1  also build kubelet from the same source (the real node:
#                   scripts/build-node.sh, tests/servers/node.py)
set -euo pipefail
KUBE_VERSION="${KUBE_VERSION:-v1.35.4}"
KWOK_VERSION="${KWOK_VERSION:-v0.8.0}"
BUILD_JOBS="${BUILD_JOBS:-2}"
root="$(cd "$(dirname "$0")/.." && pwd)"
here="$root/scripts/kube"
cache="${MINI_BIN_CACHE:-$HOME/.cache/mini-pipeline/bin}"
mkdir -p "$cache" "$root/.bin"

export CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOTOOLCHAIN=local

# One build at a time per user: a second caller waits, then finds the binaries.
exec 9>"$cache/.build-k8s.lock"
flock 9

overall=$(date +%s)
tmp="$(mktemp -d)"
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT

log() { echo "build-k8s: $*" >&2; }
have() { [ -x "$cache/$1-$2" ]; }
link() { ln -sfn "$cache/$1-$2" "$root/.bin/$1"; }
# mod_json MODULE@VERSION FIELD: a field of `go mod download -json`.
mod_json() {
  (cd "$tmp" && GOFLAGS=-mod=mod go mod download -json "$1") \
    | python3 -c 'import json,sys; d=json.load(sys.stdin); e=d.get("Error"); sys.exit("go mod download: "+e) if e else print(d[sys.argv[1]])' "$2"
}
# wrapper DIR UPSTREAM@VERSION [--staging-version vX] TOOL...: a tidy wrapper module.
wrapper() {
  local dir="$1" modver="$2"; shift 2
  mkdir -p "$dir"
  python3 "$here/wrapper-gomod.py" "$(mod_json "$modver" GoMod)" "$modver" "$@" >"$dir/go.mod"
  (cd "$dir" && go mod tidy)
}
# build WRAPPER_DIR NAME VERSION PACKAGE [LDFLAGS]
build() {
  local dir="$1" name="$2" version="$3" pkg="$4" ldflags="${5:-}"
  local target="$cache/$name-$version" start=$(date +%s)
  log "building $name $version"
  (cd "$dir" && go build -p "$BUILD_JOBS" -trimpath -ldflags "-s -w $ldflags" \
     -o "$target.partial" "$pkg")
  mv -f "$target.partial" "$target"
  log "built $name $version in $(( $(date +%s) - start ))s"
}

# ---- Kubernetes ------------------------------------------------------------
kube_bins=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
if [ "${WITH_KUBELET:-0}" = 1 ]; then kube_bins+=(kubelet); fi
etcd_stamp="$cache/kubernetes-$KUBE_VERSION.etcd-version"
need_kube=0
for b in "${kube_bins[@]}"; do have "$b" "$KUBE_VERSION" || need_kube=1; done

if [ "$need_kube" = 1 ] || [ ! -s "$etcd_stamp" ]; then
  log "resolving k8s.io/kubernetes@$KUBE_VERSION"
  kube_dir="$(mod_json "k8s.io/kubernetes@$KUBE_VERSION" Dir)"
  kube_gomod="$(mod_json "k8s.io/kubernetes@$KUBE_VERSION" GoMod)"
  # The etcd release Kubernetes is tested and shipped with.
  etcd_v="$(awk '/name: "etcd"$/ {f=1; next} f && /version:/ {print $2; exit}' \
              "$kube_dir/build/dependencies.yaml" 2>/dev/null || true)"
  if [ -n "$etcd_v" ] && (cd "$tmp" && GOFLAGS=-mod=mod go mod download "go.etcd.io/etcd/server/v3@v${etcd_v#v}") >/dev/null 2>&1; then
    etcd_v="v${etcd_v#v}"
  else
    # Fallback: the etcd server library version Kubernetes' go.mod requires.
    etcd_v="$(awk '$1 == "go.etcd.io/etcd/server/v3" {print $2; exit}' "$kube_gomod")"
  fi
  [ -n "$etcd_v" ] || { log "cannot tell which etcd $KUBE_VERSION needs"; exit 1; }
  echo "$etcd_v" >"$etcd_stamp.tmp" && mv -f "$etcd_stamp.tmp" "$etcd_stamp"
fi
ETCD_VERSION="${ETCD_VERSION:-$(cat "$etcd_stamp")}"

if [ "$need_kube" = 1 ]; then
  minor="${KUBE_VERSION#v}"; major="${minor%%.*}"; minor="${minor#*.}"; minor="${minor%%.*}"
  staging="v0.${KUBE_VERSION#v1.}"
  build_date="$(mod_json "k8s.io/kubernetes@$KUBE_VERSION" Info | xargs python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["Time"])')"
  ldflags=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.gitCommit= -X $pkg.buildDate=$build_date"
  done
  start=$(date +%s)
  wrapper "$tmp/kubernetes" "k8s.io/kubernetes@$KUBE_VERSION" --staging-version "$staging" \
    "${kube_bins[@]/#/k8s.io/kubernetes/cmd/}"
  log "resolved the Kubernetes wrapper module in $(( $(date +%s) - start ))s"
  for b in "${kube_bins[@]}"; do
    have "$b" "$KUBE_VERSION" || build "$tmp/kubernetes" "$b" "$KUBE_VERSION" "k8s.io/kubernetes/cmd/$b" "$ldflags"
  done
fi
for b in "${kube_bins[@]}"; do link "$b" "$KUBE_VERSION"; done

# ---- etcd ------------------------------------------------------------------
if ! have etcd "$ETCD_VERSION"; then
  wrapper "$tmp/etcd" "go.etcd.io/etcd/server/v3@$ETCD_VERSION" go.etcd.io/etcd/server/v3
  build "$tmp/etcd" etcd "$ETCD_VERSION" go.etcd.io/etcd/server/v3
fi
link etcd "$ETCD_VERSION"

# ---- kwok ------------------------------------------------------------------
if ! have kwok "$KWOK_VERSION"; then
  start=$(date +%s)
  log "building kwok $KWOK_VERSION"
  GOBIN="$tmp/kwok-bin" go install -p "$BUILD_JOBS" -trimpath -ldflags "-s -w" \
    "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  cp "$tmp/kwok-bin/kwok" "$cache/kwok-$KWOK_VERSION.partial"
  mv -f "$cache/kwok-$KWOK_VERSION.partial" "$cache/kwok-$KWOK_VERSION"
  log "built kwok $KWOK_VERSION in $(( $(date +%s) - start ))s"
fi
link kwok "$KWOK_VERSION"

log "kubernetes $KUBE_VERSION, etcd $ETCD_VERSION, kwok $KWOK_VERSION ready in .bin/ ($(( $(date +%s) - overall ))s)"
