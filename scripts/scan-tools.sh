#!/usr/bin/env bash
# The release's vulnerability scanner and its database builder, into ~/go/bin:
# trivy (about 9 minutes of Go compilation from nothing on 2 cores)
# and cloudshop-trivy-db (tools/trivy-db, ours: builds Trivy's database from
# the RustSec snapshot). Each is skipped when what is installed is current.
# scripts/test.sh runs this in the background from its tools step; alone:
#   scripts/scan-tools.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/go/bin:$PATH"
source tools/versions.env # TRIVY
version=${TRIVY#*@}
started=$SECONDS

# trivy needs Go's jsonv2 experiment and, to say its version, the stamp its
# own release builds set (a plain `go install` says "dev").
if ! trivy --version 2>/dev/null | grep -qx "Version: ${version#v}"; then
  echo "building trivy $version ..."
  GOEXPERIMENT=jsonv2 CGO_ENABLED=0 go install -trimpath \
    -ldflags "-s -w -X ${TRIVY%@*}/pkg/version/app.ver=${version#v}" \
    "${TRIVY%@*}/cmd/trivy@$version"
  echo "trivy $version built in $((SECONDS - started)) s"
fi
# Rebuilt when its sources change.
stamp="$(cat tools/trivy-db/go.mod tools/trivy-db/go.sum tools/trivy-db/main.go | sha256sum)"
if [ "$(cat "$HOME/go/bin/cloudshop-trivy-db.sources" 2>/dev/null)" != "$stamp" ]; then
  mkdir -p "$HOME/go/bin"
  (cd tools/trivy-db && go build -trimpath -o "$HOME/go/bin/cloudshop-trivy-db" .)
  echo "$stamp" >"$HOME/go/bin/cloudshop-trivy-db.sources"
  echo "cloudshop-trivy-db built"
fi
echo "$(trivy --version | head -n 1 | sed 's/^Version: /trivy v/') and cloudshop-trivy-db ready ($((SECONDS - started)) s)"
