#!/usr/bin/env bash
# Installs the local cluster's pinned programs into Go's bin folder, each
# built from the Go module proxy and skipped when `go version -m` already
# shows its pinned version: kube-apiserver, kube-controller-manager,
# kube-scheduler, and the real node's kubelet and kube-proxy (tools/kubernetes), etcd (tools/etcd), Kyverno's admission
# controller (tools/kyverno, beside its CLI) and kwok. `cloudshop cluster up`
# runs them. A cold build took 546 s on 2 cores in the test command (modules
# fetched ahead, the Kyverno CLI built just before); alone, about 15 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/pinned.sh # KUBERNETES ETCD KYVERNO KWOK, $bin, have

mkdir -p "$bin"
# build DIR BIN PACKAGE [LDFLAGS]: builds PACKAGE with the tools module in DIR.
build() {
  local t0=$SECONDS
  echo "building $2 (${4:+version-stamped, }tools/$1) ..."
  (cd "tools/$1" && go build -trimpath -ldflags "-s -w ${4:-}" -o "$bin/$2" "$3")
  echo "built $2 in $((SECONDS - t0)) s"
}

v=${KUBERNETES#*@}
minor=${v#v1.}; minor=${minor%%.*}
# Without the version stamp the servers say v0.0.0-master, which kubectl refuses.
stamp="-X k8s.io/component-base/version.gitVersion=$v -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
for cmd in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy; do
  have "$cmd" "$KUBERNETES" || build kubernetes "$cmd" "k8s.io/kubernetes/cmd/$cmd" "$stamp"
done
have etcd "$ETCD" || build etcd etcd "${ETCD%@*}"
have kyverno-controller "$KYVERNO" || build kyverno kyverno-controller github.com/kyverno/kyverno/cmd/kyverno
if ! have kwok "$KWOK"; then
  echo "building kwok ..."
  go install -trimpath -ldflags "-s -w" "${KWOK%@*}/cmd/kwok@${KWOK#*@}"
fi
# kwok's stage definitions and Kyverno's CRDs are read from the module cache.
go mod download "$KWOK" "$KYVERNO"
scripts/node-tools.sh
echo "cluster tools ready in $bin"
