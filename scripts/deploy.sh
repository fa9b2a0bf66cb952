#!/usr/bin/env bash
# `make deploy`: create the Secrets once from random values, apply the MicroK8s
# overlay with the images `make build` tagged, then wait for the rollout.
#
#   scripts/deploy.sh           Secrets + apply + wait
#   scripts/deploy.sh render    print the manifests `make deploy` applies
#
# Environment:
#   KUBECTL          the kubectl command, words allowed ("microk8s kubectl")
#   API_IMAGE        full reference of the API image, with its tag
#   PROCESSOR_IMAGE  full reference of the processor image, with its tag
#   WAIT=0           do not wait for the rollout
#   ROLLOUT_TIMEOUT  per workload (default 300s)
#   OVERLAY          the kustomization the layer builds on (default k8s/overlays/microk8s;
#                    the real-node test passes a test-only overlay on top of it)
#   LAYER_DIR        where the layer is written (default build/deploy)
#   TLS              secret | cert-manager: TLS on the ingress (k8s/components/tls*)
#   METRICS          prometheus: a PodMonitor and Prometheus let in (k8s/components/prometheus)
#
# No secret value is committed or printed: they are generated here, written to a
# private temp dir for kubectl and removed. An existing Secret is never replaced
# (the database and MinIO were initialised with its values).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
read -r -a kubectl <<<"${KUBECTL:-kubectl}"
# Fixed by k8s/base/kustomization.yaml.
namespace=mini-pipeline
overlay=${OVERLAY:-$root/k8s/overlays/microk8s}
layer=${LAYER_DIR:-$root/build/deploy}
timeout=${ROLLOUT_TIMEOUT:-300s}
tmp=""
trap 'if [[ -n $tmp ]]; then rm -rf "$tmp"; fi' EXIT

k() { "${kubectl[@]}" "$@"; }

split_image() {  # "reg:5000/name:tag" -> "reg:5000/name tag"
  local ref=$1 tag=${1##*:}
  if [[ $ref != *:* || $tag == */* ]]; then
    echo "deploy: image reference '$ref' has no tag" >&2
    return 1
  fi
  printf '%s %s\n' "${ref%:*}" "$tag"
}

# make deploy's own layer on top of the overlay: the images just built, and the
# processor image the API gives its Jobs.
write_layer() {
  local api proc api_name api_tag proc_name proc_tag
  api=$(split_image "${API_IMAGE:?set API_IMAGE}")
  proc=$(split_image "${PROCESSOR_IMAGE:?set PROCESSOR_IMAGE}")
  read -r api_name api_tag <<<"$api"
  read -r proc_name proc_tag <<<"$proc"
  mkdir -p "$layer"
  local base components
  base=$(realpath --relative-to="$layer" "$overlay")
  components=$(realpath --relative-to="$layer" "$root/k8s/components")
  cat >"$layer/kustomization.yaml" <<YAML
# Written by scripts/deploy.sh; not committed (build/ is git-ignored).
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - $base
images:
  - name: mini-pipeline-api
    newName: $api_name
    newTag: "$api_tag"
  - name: mini-pipeline-processor
    newName: $proc_name
    newTag: "$proc_tag"
patches:
  - target:
      kind: ConfigMap
      name: mini-config
    patch: |-
      - op: replace
        path: /data/MINI_RUNNER__KUBERNETES__IMAGE
        value: "$PROCESSOR_IMAGE"
YAML
  local chosen=()
  # TLS on the ingress (README: TLS): TLS=secret (a certificate you provide in the
  # Secret mini-tls) or TLS=cert-manager (issued by the cert-manager add-on).
  case "${TLS:-}" in
    "") ;;
    secret) chosen+=(tls) ;;
    cert-manager) chosen+=(tls-cert-manager) ;;
    *)
      echo "deploy: TLS must be 'secret' or 'cert-manager', not '$TLS'" >&2
      return 1
      ;;
  esac
  # METRICS=prometheus: a PodMonitor and the NetworkPolicy that lets Prometheus scrape
  # the API (README: For operators, Metrics).
  case "${METRICS:-}" in
    "") ;;
    prometheus) chosen+=(prometheus) ;;
    *)
      echo "deploy: METRICS must be 'prometheus' or empty, not '$METRICS'" >&2
      return 1
      ;;
  esac
  if ((${#chosen[@]})); then
    printf 'components:\n' >>"$layer/kustomization.yaml"
    local c
    for c in "${chosen[@]}"; do
      printf '  - %s/%s\n' "$components" "$c" >>"$layer/kustomization.yaml"
    done
  fi
}

random_hex() { od -An -N24 -tx1 /dev/urandom | tr -d ' \n'; }

create_secret() {  # name env-file
  k -n "$namespace" create secret generic "$1" --from-env-file="$2" \
    --dry-run=client -o yaml |
    k label --local -f - -o yaml app.kubernetes.io/name=mini-pipeline |
    k create -f -
}

secret_value() {  # secret key
  k -n "$namespace" get secret "$1" -o "jsonpath={.data.$2}" | base64 -d
}

# The API's Secret holds everything; the processor Jobs get only the S3 keys, the
# reconciler the S3 keys and the database URL (k8s/base/config.yaml).
split_secrets() {  # from mini-secrets, as created or as an older deploy left it
  local db access secret
  db=$(secret_value mini-secrets MINI_DATABASE_URL)
  access=$(secret_value mini-secrets MINI_STORAGE__ACCESS_KEY)
  secret=$(secret_value mini-secrets MINI_STORAGE__SECRET_KEY)
  (
    umask 077
    printf '%s\n' "MINI_STORAGE__ACCESS_KEY=$access" "MINI_STORAGE__SECRET_KEY=$secret" \
      >"$tmp/processor.env"
    printf '%s\n' "MINI_DATABASE_URL=$db" "MINI_STORAGE__ACCESS_KEY=$access" \
      "MINI_STORAGE__SECRET_KEY=$secret" >"$tmp/reconciler.env"
  )
  create_secret mini-processor-secrets "$tmp/processor.env"
  create_secret mini-reconciler-secrets "$tmp/reconciler.env"
}

ensure_secrets() {
  local found
  found=$(k -n "$namespace" get secret mini-secrets mini-infra-secrets mini-processor-secrets \
    mini-reconciler-secrets --ignore-not-found -o name | sort | tr '\n' ' ')
  tmp=$(umask 077 && mktemp -d)
  case "$found" in
    "secret/mini-infra-secrets secret/mini-processor-secrets secret/mini-reconciler-secrets secret/mini-secrets ")
      echo "deploy: Secrets exist, kept"
      return
      ;;
    "secret/mini-infra-secrets secret/mini-secrets ")
      echo "deploy: splitting the processor's and the reconciler's Secrets off mini-secrets"
      split_secrets
      return
      ;;
    "") ;;
    *)
      echo "deploy: only '$found' exists in $namespace; the Secrets share the" \
        "database password and the S3 keys, so create none by hand: delete it and re-run" >&2
      return 1
      ;;
  esac
  local pg_password
  pg_password=$(random_hex)
  (
    umask 077
    printf '%s\n' \
      "MINIO_ROOT_USER=mini-root" \
      "MINIO_ROOT_PASSWORD=$(random_hex)" \
      "POSTGRES_PASSWORD=$pg_password" >"$tmp/infra.env"
    printf '%s\n' \
      "MINI_API_KEYS=$(random_hex)" \
      "MINI_WEBHOOKS__SECRET=$(random_hex)" \
      "MINI_DATABASE_URL=postgresql+psycopg://mini:$pg_password@postgres:5432/mini" \
      "MINI_STORAGE__ACCESS_KEY=mini-app" \
      "MINI_STORAGE__SECRET_KEY=$(random_hex)" >"$tmp/app.env"
  )
  create_secret mini-infra-secrets "$tmp/infra.env"
  create_secret mini-secrets "$tmp/app.env"
  split_secrets
}

wait_rollout() {
  local w
  for w in statefulset/postgres statefulset/minio; do
    k -n "$namespace" rollout status "$w" --timeout="$timeout"
  done
  k -n "$namespace" wait --for=condition=complete job/minio-init --timeout="$timeout"
  k -n "$namespace" rollout status deployment/mini-api --timeout="$timeout"
}

case "${1:-deploy}" in
  render)
    write_layer
    k kustomize "$layer"
    ;;
  deploy)
    write_layer
    k apply -f "$root/k8s/base/namespace.yaml"
    ensure_secrets
    # A Job's pod template is immutable, and re-running the init is harmless.
    k -n "$namespace" delete job minio-init --ignore-not-found
    k apply -k "$layer"
    if [[ ${WAIT:-1} != 0 ]]; then
      wait_rollout
    fi
    echo "deploy: done. API key:" \
      "${kubectl[*]} -n $namespace get secret mini-secrets -o jsonpath='{.data.MINI_API_KEYS}' | base64 -d"
    ;;
  *)
    echo "usage: $0 [deploy|render]" >&2
    exit 2
    ;;
esac
