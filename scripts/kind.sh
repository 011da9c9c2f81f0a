#!/usr/bin/env bash
# CloudShop on Kind: `scripts/kind.sh up` creates a Kind cluster with a local
# registry, installs cert-manager and Kyverno (Helm, pinned), applies the
# admission policies with your cosign public key, releases (pushes, signs and
# attests) the images into the local registry, generates the secrets, renders
# the overlay with the release's digests, applies it, waits and prints the
# URLs. `scripts/kind.sh down` removes it all. `secrets` and `render` run one
# step alone. Needs docker, go, kubectl, cargo, openssl and python3.
set -euo pipefail
cd "$(dirname "$0")/.."

CLUSTER=cloudshop
REGISTRY=kind-registry     # container name: resolves on the kind network
REGISTRY_PORT=5001         # host side: localhost:5001
REGISTRY_IMAGE=docker.io/library/registry:3
POSTGRES_IMAGE=docker.io/library/postgres:17-alpine
state=.cloudshop/kind
COSIGN_KEY="${COSIGN_KEY:-$state/cosign.key}"
export COSIGN_PASSWORD="${COSIGN_PASSWORD:-}"
source scripts/pinned.sh # KIND HELM CRANE COSIGN CERT_MANAGER_CHART KYVERNO_CHART KYVERNO, $bin, have
export PATH="$bin:$PATH"
log() { printf '==> %s\n' "$*"; }

tool() { # tool NAME MODULE@VERSION PACKAGE: go install unless that version is there
  have "$1" "$2" || go install "$3@${2#*@}"
}

tools() {
  tool kind "$KIND" sigs.k8s.io/kind
  tool helm "$HELM" helm.sh/helm/v3/cmd/helm
  tool crane "$CRANE" github.com/google/go-containerregistry/cmd/crane
  tool cosign "$COSIGN" github.com/sigstore/cosign/v3/cmd/cosign
}

cosign_key() {
  mkdir -p "$state"
  if [ ! -f "$COSIGN_KEY" ]; then
    log "cosign key pair ($COSIGN_KEY, empty password: a local development key)"
    cargo run --release -p cloudshop -- release keygen --out "${COSIGN_KEY%.key}"
  fi
}

registry_and_cluster() {
  if [ -z "$(docker ps -q -f "name=^${REGISTRY}$")" ]; then
    # The registry image is pulled by the digest its tag has right now.
    local digest; digest="$(crane digest "$REGISTRY_IMAGE")"
    docker run -d --restart=always -p "127.0.0.1:${REGISTRY_PORT}:5000" --name "$REGISTRY" \
      "${REGISTRY_IMAGE%:*}@${digest}"
  fi
  if ! kind get clusters | grep -qx "$CLUSTER"; then
    kind create cluster --name "$CLUSTER" --wait 120s --config - <<'EOF'
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
containerdConfigPatches:
  - |-
    [plugins."io.containerd.grpc.v1.cri".registry]
      config_path = "/etc/containerd/certs.d"
EOF
  fi
  docker network connect kind "$REGISTRY" 2>/dev/null || true
  # Nodes pull kind-registry:5000 (what pods name) and localhost:5001 over
  # plain HTTP from the registry container on the kind network.
  for node in $(kind get nodes --name "$CLUSTER"); do
    for host in "${REGISTRY}:5000" "localhost:${REGISTRY_PORT}"; do
      docker exec "$node" mkdir -p "/etc/containerd/certs.d/$host"
      printf '[host."http://%s:5000"]\n' "$REGISTRY" |
        docker exec -i "$node" cp /dev/stdin "/etc/containerd/certs.d/$host/hosts.toml"
    done
  done
  kubectl apply -f - <<EOF
apiVersion: v1
kind: ConfigMap
metadata:
  name: local-registry-hosting
  namespace: kube-public
data:
  localRegistryHosting.v1: |
    host: "localhost:${REGISTRY_PORT}"
    hostFromClusterNetwork: "${REGISTRY}:5000"
EOF
}

addons() {
  log "cert-manager $CERT_MANAGER_CHART and Kyverno chart $KYVERNO_CHART"
  helm upgrade --install cert-manager cert-manager --repo https://charts.jetstack.io \
    --version "$CERT_MANAGER_CHART" --namespace cert-manager --create-namespace \
    --set crds.enabled=true --wait --timeout 5m
  helm upgrade --install kyverno kyverno --repo https://kyverno.github.io/kyverno/ \
    --version "$KYVERNO_CHART" --namespace kyverno --create-namespace \
    --set features.registryClient.allowInsecure=true --wait --timeout 5m
  local minor=${KYVERNO#*@}; minor=${minor%.*} # v1.19: the chart's image tag may carry any patch
  kubectl -n kyverno get deploy kyverno-admission-controller -o jsonpath='{..image}' | grep -qF ":$minor." ||
    { echo "Kyverno chart $KYVERNO_CHART does not run Kyverno $minor" >&2; exit 1; }
}

policies() { # the policies, with the cosign public key in place of the placeholder
  kubectl apply -f k8s/base/namespace/namespace.yaml
  kubectl kustomize kyverno/policies | python3 tools/policy-key.py "${COSIGN_KEY%.key}.pub" | kubectl apply -f -
  log "waiting until the policies refuse nginx:latest"
  for _ in $(seq 60); do
    if ! kubectl -n cloudshop-prod run policy-probe --image=nginx:latest --dry-run=server >/dev/null 2>&1; then return; fi
    sleep 2
  done
  echo "the policies are not enforced after 120 s" >&2; exit 1
}

secrets() { # generates every secret once, as files, straight into Secrets
  kubectl apply -f k8s/base/namespace/namespace.yaml
  if kubectl -n cloudshop-prod get secret auth-secrets >/dev/null 2>&1; then
    log "secrets exist (delete them to regenerate)"; return
  fi
  local dir; dir="$(mktemp -d)"
  (umask 077
    for name in postgres-password db-password-auth db-password-products db-password-orders admin-password; do
      openssl rand -base64 32 | tr -d '\n' >"$dir/$name"
    done
    printf 'admin@cloudshop.local' >"$dir/admin-email"
    openssl rand -base64 96 | tr -d '\n' >"$dir/cookie-key"
    openssl genpkey -algorithm ed25519 -out "$dir/jwt-signing-key.pem"
    openssl pkey -in "$dir/jwt-signing-key.pem" -pubout -out "$dir/public-keys.pem")
  local k="kubectl -n cloudshop-prod create secret generic"
  $k postgres-secrets --from-file="$dir/postgres-password" --from-file="$dir/db-password-auth" \
    --from-file="$dir/db-password-products" --from-file="$dir/db-password-orders"
  $k auth-secrets --from-file="$dir/db-password-auth" --from-file="$dir/jwt-signing-key.pem" \
    --from-file="$dir/admin-email" --from-file="$dir/admin-password"
  $k products-secrets --from-file="$dir/db-password-products"
  $k orders-secrets --from-file="$dir/db-password-orders"
  $k storefront-secrets --from-file="$dir/cookie-key"
  kubectl -n cloudshop-prod create configmap jwt-public-keys --from-file="$dir/public-keys.pem"
  rm -rf "$dir"
}

render() { # k8s/overlays/kind/release from dist/release.json and PostgreSQL's digest now
  local digest; digest="$(crane digest "$POSTGRES_IMAGE")"
  python3 tools/render-release.py dist/release.json "$digest" k8s/overlays/kind/release
  kubectl kustomize k8s/overlays/kind/release >"$state/cloudshop.yaml"
  log "rendered $state/cloudshop.yaml"
}

up() {
  tools; cosign_key; registry_and_cluster; addons; policies
  log "release: build, push, sign and attest into localhost:${REGISTRY_PORT}"
  cargo run --release -p cloudshop -- release --registry "localhost:${REGISTRY_PORT}" \
    --key "$COSIGN_KEY" --public-key "${COSIGN_KEY%.key}.pub"
  secrets; render
  kubectl apply -f "$state/cloudshop.yaml"
  kubectl -n cloudshop-prod wait --for=condition=Ready certificate --all --timeout=180s
  kubectl -n cloudshop-prod rollout status statefulset/postgres --timeout=300s
  # Every deployment the manifests made (one per service), not a copy of the list.
  for d in $(kubectl -n cloudshop-prod get deployments -o name); do
    kubectl -n cloudshop-prod rollout status "$d" --timeout=300s
  done
  kubectl -n cloudshop-prod port-forward svc/storefront 3000:3000 >"$state/port-forward-storefront.log" 2>&1 &
  echo $! >"$state/port-forward-storefront.pid"
  kubectl -n cloudshop-prod port-forward svc/api-gateway 8080:8080 >"$state/port-forward-gateway.log" 2>&1 &
  echo $! >"$state/port-forward-gateway.pid"
  cat <<EOF

CloudShop is running on Kind (cluster "$CLUSTER").
  storefront   http://127.0.0.1:3000  (kubectl port-forward; shop.local with an ingress controller)
  API gateway  https://127.0.0.1:8080 (internal CA: kubectl -n cloudshop-prod get secret cloudshop-root-ca -o jsonpath='{.data.ca\.crt}' | base64 -d)
  admin        admin@cloudshop.local, password: kubectl -n cloudshop-prod get secret auth-secrets -o jsonpath='{.data.admin-password}' | base64 -d
  stop         scripts/kind.sh down
EOF
}

down() {
  for f in "$state"/port-forward-*.pid; do
    [ -f "$f" ] && { kill "$(cat "$f")" 2>/dev/null || true; rm -f "$f"; }
  done
  go version -m "$bin/kind" >/dev/null 2>&1 && kind delete cluster --name "$CLUSTER" || true
  docker rm -f "$REGISTRY" >/dev/null 2>&1 || true
  rm -rf k8s/overlays/kind/release
  log "cluster and registry removed (the cosign key stays in $state)"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  secrets) secrets ;;
  render) tool crane "$CRANE" github.com/google/go-containerregistry/cmd/crane; mkdir -p "$state"; render ;;
  policies) tools; cosign_key; policies ;;
  *) echo "usage: $0 up|down|secrets|render|policies" >&2; exit 2 ;;
esac
