#!/usr/bin/env bash
# Validates the cluster side offline with the real tools: kustomize renders,
# kubeconform (strict, schemas kept in tools/schemas), the Kyverno CLI (test
# suites; every policy on the rendered app, and on the bad cases), promtool
# (rule checks and unit tests), the Falco rule checks, and checkov.
# Installs its pinned tools on first run (Go: ~/go/bin; Python: a venv under
# ~/.cache/cloudshop-k8s) and reuses them afterwards. Exits non-zero on any
# failure, after a short summary.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/pinned.sh # KUBECONFORM PROMETHEUS KYVERNO KUSTOMIZE CHECKOV PYYAML, $bin, have

venv="${XDG_CACHE_HOME:-$HOME/.cache}/cloudshop-k8s/venv"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
passed=() failed=()
step() { printf '\n==> %s\n' "$*"; }
check() { # check NAME COMMAND...: runs it, records the outcome, never aborts;
  # prints the tool's summary lines, or its whole output when it fails.
  local name="$1"; shift
  if "$@" >"$work/check.log" 2>&1; then
    passed+=("$name")
    printf 'ok    %s\n' "$name"
    { grep -Ei 'summary|passed|success|pass:|checked|structure' "$work/check.log" || true; } | awk '!seen[$0]++' | sed 's/^/      /'
  else
    failed+=("$name")
    cat "$work/check.log"
    printf 'FAIL  %s\n' "$name" >&2
  fi
}
refuses() { # refuses WHAT COMMAND...: the command must fail, naming WHAT
  local what="$1"; shift
  if "$@" >"$work/refused.log" 2>&1; then echo "expected a refusal"; return 1; fi
  grep -q -- "$what" "$work/refused.log" || { cat "$work/refused.log"; return 1; }
}

step "tools"
t0=$SECONDS
have kubeconform "$KUBECONFORM" || go install "${KUBECONFORM%@*}/cmd/kubeconform@${KUBECONFORM#*@}"
# remove_all_sd leaves out the service-discovery plugins (cloud SDKs) that
# rule checks and tests never use: a much shorter build.
have promtool "$PROMETHEUS" || go install -tags remove_all_sd "${PROMETHEUS%@*}/cmd/promtool@${PROMETHEUS#*@}"
# Prometheus itself, same module (its web UI's assets are not built in; the
# API is all we use): `cloudshop up --observe` and cli/tests/up/observe.rs.
have prometheus "$PROMETHEUS" || go install -tags remove_all_sd "${PROMETHEUS%@*}/cmd/prometheus@${PROMETHEUS#*@}"
if ! have kyverno "$KYVERNO"; then
  k0=$SECONDS
  (cd tools/kyverno && go build -o "$bin/kyverno" github.com/kyverno/kyverno/cmd/cli/kubectl-kyverno)
  echo "built the Kyverno CLI in $((SECONDS - k0)) s"
fi
if command -v kubectl >/dev/null; then
  render() { kubectl kustomize "$1"; }
else
  have kustomize "$KUSTOMIZE" || go install "$KUSTOMIZE"
  render() { "$bin/kustomize" build "$1"; }
fi
if ! "$venv/bin/checkov" --version 2>/dev/null | grep -qx "$CHECKOV"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "checkov==$CHECKOV" "pyyaml==$PYYAML"
fi
py="$venv/bin/python"
echo "tools ready in $((SECONDS - t0)) s"
scripts/check-programs.sh test-k8s
if [ "${1:-}" = --install ]; then exit 0; fi # scripts/test.sh --install: the tools only

step "generated files are up to date"
check "schemas match their sources" "$py" tools/schemas/generate.py --check
check "PrometheusRule matches rules.yml" "$py" tools/prometheusrule.py --check

step "render"
postgres_digest="sha256:$(printf 'postgres test fixture' | sha256sum | cut -d' ' -f1)"
"$py" tools/render-release.py k8s/testdata/release.json "$postgres_digest" "$work/release"
render "$work/release" >"$work/app.yaml"
render kyverno/policies >"$work/policies.yaml"
render kyverno/release >"$work/release-policies.yaml" # the GitHub release's (keyless)
render monitoring >"$work/monitoring.yaml"
render k8s/overlays/release >"$work/gitops-release.yaml" # what Argo CD syncs
render k8s/overlays/local >"$work/local.yaml"            # what `cloudshop cluster up` deploys
echo "rendered $(grep -c '^kind:' "$work/app.yaml") objects for cloudshop-prod"

step "kubeconform (strict)"
schemas=(-schema-location 'tools/schemas/kubernetes/{{.ResourceKind}}{{.KindSuffix}}.json'
  -schema-location 'tools/schemas/{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json')
# Litmus publishes no Go module the proxy serves, so there is no ChaosEngine
# schema: chaos/ is checked for everything else (see docs/kubernetes.md).
mapfile -t manifests < <(find k8s kyverno gitops chaos monitoring/servicemonitors.yaml \
  monitoring/prometheusrule.yaml monitoring/dashboards -name '*.yaml' \
  ! -name kustomization.yaml ! -path 'k8s/overlays/kind/release/*' | sort)
check "kubeconform: rendered app, policies, monitoring and ${#manifests[@]} files" \
  "$bin/kubeconform" -strict -summary -skip ChaosEngine "${schemas[@]}" \
  "$work/app.yaml" "$work/policies.yaml" "$work/release-policies.yaml" "$work/monitoring.yaml" "$work/gitops-release.yaml" \
  "$work/local.yaml" "${manifests[@]}"
sed 's/^  replicas: 2$/  replicas: 2\n  replicaz: 2/' "$work/app.yaml" >"$work/unknown-field.yaml"
check "kubeconform refuses an unknown field" refuses replicaz "$bin/kubeconform" -strict "${schemas[@]}" "$work/unknown-field.yaml"

step "kyverno test"
for suite in kyverno/tests/*/ kyverno/release/tests/*/; do
  check "kyverno test ${suite%/}" "$bin/kyverno" test "$suite" --remove-color
done

step "kyverno apply: the rendered app passes every policy, every bad case fails"
# applied FAILS ERRORS POLICY... --resource FILE: kyverno reports exactly that many
# failures and errors (an error is a denial under failurePolicy Fail).
applied() {
  local fails="$1" errors="$2"; shift 2
  "$bin/kyverno" apply "$@" --remove-color >"$work/apply.log" 2>&1 || true
  grep -E '^pass: [0-9]+, fail: [0-9]+' "$work/apply.log" | tail -1 | tee "$work/apply.sum"
  grep -Eq "fail: ${fails}, warn: 0, error: ${errors}," "$work/apply.sum" || { cat "$work/apply.log"; return 1; }
}
vpols=()
for p in kyverno/policies/*.yaml; do if grep -q '^kind: ValidatingPolicy$' "$p"; then vpols+=("$p"); fi; done
# verify-cloudshop-images needs the registry's signatures: the e2e workflow applies it.
check "rendered app passes ${#vpols[@]} policies" applied 0 0 "${vpols[@]}" --resource "$work/app.yaml"
# The GitHub release's overlay, under the release's own policy set.
"$py" - "$work/release-policies.yaml" "$work/release-vpols.yaml" <<'EOF'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d.get("kind") == "ValidatingPolicy"]
yaml.safe_dump_all(docs, open(sys.argv[2], "w"))
EOF
check "rendered release overlay passes the release's ValidatingPolicies" applied 0 0 "$work/release-vpols.yaml" --resource "$work/gitops-release.yaml"
for suite in kyverno/tests/*/; do
  name="$(basename "$suite")"
  bad="$("$py" - "$suite/resources.yaml" "$work/bad.yaml" <<'EOF'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
bad = [d for d in docs if not d["metadata"]["name"].startswith(("good-", "plain-", "nginx-in-kyverno"))]
yaml.safe_dump_all(bad, open(sys.argv[2], "w"))
print(len(bad))
EOF
)"
  if [ "$name" = verify-cloudshop-images ]; then # unverifiable offline: errors, see kyverno/README.md
    check "$name refuses its $bad bad cases" applied 0 "$bad" "kyverno/policies/$name.yaml" --resource "$work/bad.yaml"
  else
    check "$name refuses its $bad bad cases" applied "$bad" 0 "kyverno/policies/$name.yaml" --resource "$work/bad.yaml"
  fi
done

step "promtool"
check "promtool check rules" "$bin/promtool" check rules monitoring/rules.yml
check "promtool test rules" "$bin/promtool" test rules monitoring/tests/rules_test.yml

step "falco rules"
check "falco rules structure and names" "$py" tools/falco-check.py falco/values.yaml
check "falco check refuses broken rules" refuses cloudshop_pod_typo "$py" tools/falco-check.py falco/testdata/broken-rules.yaml

step "checkov (k8s/, images/, .github/)"
dirs=()
for d in k8s images .github; do [ -d "$d" ] && dirs+=(-d "$d"); done
check "checkov: no failed checks" "$venv/bin/checkov" "${dirs[@]}" --quiet --compact \
  --framework kubernetes kustomize dockerfile github_actions --skip-download

printf '\nk8s: %d passed, %d failed\n' "${#passed[@]}" "${#failed[@]}"
for f in "${failed[@]}"; do echo "  failed: $f"; done
[ ${#failed[@]} -eq 0 ]
