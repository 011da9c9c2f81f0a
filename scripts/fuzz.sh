#!/usr/bin/env bash
# Fuzz targets (fuzz/, cargo-fuzz + libFuzzer): builds them all once, then
# runs each for FUZZ_SECONDS (default 20) from its seeds in fuzz/corpus/<target>/.
# Fails on the first crash; the input that crashed is kept in fuzz/artifacts/.
#
#   scripts/fuzz.sh                       # every target, 20 s each
#   FUZZ_SECONDS=600 scripts/fuzz.sh      # longer
#   scripts/fuzz.sh jwt_verify            # one target (see fuzz/fuzz_targets/)
#
# cargo-fuzz needs nightly flags: the pinned stable toolchain accepts them with
# RUSTC_BOOTSTRAP=1. Built with AddressSanitizer (cargo-fuzz's default).
# New corpus entries go to a temporary folder, never into the repository.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

export RUSTC_BOOTSTRAP=1
seconds="${FUZZ_SECONDS:-20}"
if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

cargo fuzz build --sanitizer address

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for target in "${targets[@]}"; do
  printf '\n--> %s (%s s)\n' "$target" "$seconds"
  mkdir "$work/$target"
  # libFuzzer's progress goes to a log: the stats when it passes, the crash when not.
  if ! cargo fuzz run --sanitizer address "$target" "$work/$target" "corpus/$target" -- \
    -max_total_time="$seconds" -print_final_stats=1 >"$work/$target.log" 2>&1; then
    # From the panic or sanitizer report to the end (the input, how to rerun it).
    sed -n '/panicked at\|ERROR: /,$p' "$work/$target.log" | grep . || tail -n 80 "$work/$target.log"
    printf '\nfuzz target %s failed: the input is in fuzz/artifacts/%s/\n' "$target" "$target" >&2
    exit 1
  fi
  grep -E '^(Done|stat::new_units_added)' "$work/$target.log"
done
