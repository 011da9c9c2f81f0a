#!/usr/bin/env bash
# Installs the RustSec advisory snapshot from ../shared/advisory-db as the git
# repository cargo-deny reads offline. Does nothing when it is absent (GitHub
# Actions fetches the live database instead).
set -euo pipefail
snapshot="$(cd "$(dirname "$0")/.." && pwd)/../shared/advisory-db"
[ -d "$snapshot" ] || { echo "no advisory snapshot at $snapshot; cargo deny will fetch" >&2; exit 0; }
db="${CARGO_HOME:-$HOME/.cargo}/advisory-dbs/advisory-db-3157b0e258782691"
rm -rf "$db" && mkdir -p "$db" && cp -r "$snapshot/." "$db"
git -C "$db" init -q && git -C "$db" add -A
git -C "$db" -c user.name=snapshot -c user.email=snapshot@localhost commit -qm snapshot
