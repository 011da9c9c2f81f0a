#!/usr/bin/env bash
# Installs the real node's pinned programs into Go's bin folder, each built
# from the Go module proxy and skipped when `go version -m` already shows its
# pinned version: containerd, its runc shim and runc (with seccomp, so cgo and
# libseccomp-dev), crictl, CoreDNS (its image is built by `cloudshop cluster
# up`), kube-router (the NetworkPolicy enforcer, firewall only) and Traefik
# (the Ingress controller), Prometheus with Kubernetes discovery and
# kube-state-metrics and Alertmanager (the cluster's monitoring), Argo CD and kustomize
# (`cloudshop cluster gitops`). kubelet and
# kube-proxy come from tools/kubernetes, built by scripts/cluster-tools.sh.
# runc is installed as cloudshop-runc: podman on this machine keeps Debian's.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/pinned.sh # CONTAINERD RUNC CRICTL COREDNS KUBE_ROUTER TRAEFIK PROMETHEUS PROMETHEUS_OPERATOR KUBE_STATE_METRICS ALERTMANAGER ARGOCD KUSTOMIZE, $bin, have

mkdir -p "$bin"
# install BIN MODULE@VERSION PACKAGE [GO-BUILD-FLAGS...]: builds PACKAGE at
# MODULE's pinned version into $bin/BIN unless it is there.
install() {
  local name=$1 pin=$2 package=$3; shift 3
  have "$name" "$pin" && return 0
  local t0=$SECONDS work
  echo "building $name (${pin#*@}) ..."
  work="$(mktemp -d)"
  GOBIN="$work" go install -trimpath "$@" "$package@${pin#*@}"
  local built; built="$(basename "$package")"
  # go names a major-version path's binary after the element before it
  [[ ! $built =~ ^v[0-9]+$ ]] || built="$(basename "$(dirname "$package")")"
  mv "$work/$built" "$bin/$name"
  rmdir "$work"
  echo "built $name in $((SECONDS - t0)) s"
}

c=${CONTAINERD%@*}
CGO_ENABLED=0 install containerd "$CONTAINERD" "$c/cmd/containerd" -ldflags "-s -w"
# no_grpc: the shim's ttrpc-only build, as containerd's own release builds it.
CGO_ENABLED=0 install containerd-shim-runc-v2 "$CONTAINERD" "$c/cmd/containerd-shim-runc-v2" -tags no_grpc -ldflags "-s -w"
CGO_ENABLED=1 install cloudshop-runc "$RUNC" "${RUNC%@*}" -tags seccomp -ldflags "-s -w"
CGO_ENABLED=0 install crictl "$CRICTL" "${CRICTL%@*}/cmd/crictl" -ldflags "-s -w"
CGO_ENABLED=0 install coredns "$COREDNS" "${COREDNS%@*}" -ldflags "-s -w"
CGO_ENABLED=0 install kube-router "$KUBE_ROUTER" "${KUBE_ROUTER%@*}/cmd/kube-router" -ldflags "-s -w"
# Traefik (the Ingress controller) repeats its go.mod's replace lines in tools/traefik.
if ! have traefik "$TRAEFIK"; then
  t0=$SECONDS
  echo "building traefik (${TRAEFIK#*@}, tools/traefik) ..."
  (cd tools/traefik && CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=${TRAEFIK#*@}" \
    -o "$bin/traefik" "${TRAEFIK%@*}/cmd/traefik")
  echo "built traefik in $((SECONDS - t0)) s"
fi
# Prometheus with Kubernetes discovery and no other (the cluster's
# monitoring); scripts/test-k8s.sh's `prometheus` is built without any.
CGO_ENABLED=0 install prometheus-kubernetes "$PROMETHEUS" "${PROMETHEUS%@*}/cmd/prometheus" \
  -tags "remove_all_sd enable_kubernetes_sd" -ldflags "-s -w"
CGO_ENABLED=0 install kube-state-metrics "$KUBE_STATE_METRICS" "${KUBE_STATE_METRICS%@*}" -ldflags "-s -w"
CGO_ENABLED=0 install alertmanager "$ALERTMANAGER" "${ALERTMANAGER%@*}/cmd/alertmanager" -ldflags "-s -w"
# The ServiceMonitor and PrometheusRule CRDs come from prometheus-operator's
# module; nothing of it is built.
go mod download "$PROMETHEUS_OPERATOR"
# Argo CD (one binary; the component is chosen by ARGOCD_BINARY_NAME) repeats
# its go.mod's replace lines in tools/argocd, whose go directive fetches the
# Go toolchain it needs (GOTOOLCHAIN=auto) through the module proxy.
if ! have argocd "$ARGOCD"; then
  t0=$SECONDS
  echo "building argocd (${ARGOCD#*@}, tools/argocd; about 7 minutes on two cores) ..."
  (cd tools/argocd && GOTOOLCHAIN=auto CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w -X github.com/argoproj/argo-cd/v3/common.version=${ARGOCD#*@}" \
    -o "$bin/argocd" "${ARGOCD%@*}/cmd")
  echo "built argocd in $((SECONDS - t0)) s"
fi
# Argo CD's repo server renders the shop's kustomizations with kustomize.
CGO_ENABLED=0 install kustomize "$KUSTOMIZE" "${KUSTOMIZE%@*}" -ldflags "-s -w"
echo "node tools ready in $bin"
