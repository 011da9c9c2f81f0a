#!/usr/bin/env bash
# The full test command: installs what the tests need, then runs every check
# and every test. Reruns reuse what is installed. For a quick loop on one
# crate: `cargo test -p cloudshop-auth`.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "toolchain (rust-toolchain.toml)"
rustup toolchain install --no-self-update >/dev/null
rustc --version

step "system packages"
need=()
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
command -v runuser >/dev/null || need+=(util-linux)
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi

step "cargo tools"
if ! cargo deny --version 2>/dev/null | grep -q '^cargo-deny 0.20.2'; then
  cargo install --locked cargo-deny@0.20.2
fi

step "format"
cargo fmt --all --check

step "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "dependency gate (cargo deny)"
scripts/setup-advisory-db.sh
if [ -d ../shared/advisory-db ]; then cargo deny --offline check; else cargo deny check; fi

step "tests"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked 2>&1 | tee "$log"
# One closing line for the whole run (cargo prints one per test binary).
awk '/^test result:/ { p += $4; f += $6 } END { printf "\ntests: %d passed, %d failed\n", p, f }' "$log"
