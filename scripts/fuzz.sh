#!/usr/bin/env bash
# Fuzz targets (fuzz/, cargo-fuzz + libFuzzer): builds them all once, then
# runs each for FUZZ_SECONDS (default 20) from its seeds in fuzz/corpus/<target>/,
# FUZZ_JOBS targets at a time (default: one per core; libFuzzer uses one).
# Fails on the first crash; the input that crashed is kept in fuzz/artifacts/.
#
#   scripts/fuzz.sh                                  # every target, 20 s each
#   FUZZ_SECONDS=600 FUZZ_SANITIZER=address FUZZ_BUILD=release scripts/fuzz.sh   # the long run
#   scripts/fuzz.sh jwt_verify                       # one target (see fuzz/fuzz_targets/)
#
# cargo-fuzz needs nightly flags: the pinned stable toolchain accepts them with
# RUSTC_BOOTSTRAP=1. The short run (the test command's) is built without a
# sanitizer (FUZZ_SANITIZER=none): every crate here forbids `unsafe`, so what
# it finds are panics, arithmetic overflow (debug assertions are on), hangs
# and unbounded memory, which libFuzzer reports without AddressSanitizer; the
# sanitizer build of every dependency was most of the step's time. It is also
# a development build (FUZZ_BUILD=dev, `cargo fuzz build --dev`): cargo-fuzz's
# optimised build compiles every crate as one codegen unit at opt-level 3:
# about 760 s in a test run beside the static build, against 210 s for the
# development build beside the cluster tests (130 s alone), which runs 5 to
# 22 times fewer inputs in its 20 s (2026-12-07, against the optimised
# build: jwt_verify 35,000 against 199,000, order_payload 59,000 against
# 788,000, product_search 120,000 against 1,396,000, cart_cookie 11,000
# against 244,000: its HMAC is unoptimised Rust). The weekly `fuzz` workflow
# runs each target 10 minutes, optimised (FUZZ_BUILD=release) with
# AddressSanitizer, which also covers the C code in aws-lc.
# New corpus entries go to a temporary folder, never into the repository.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

export RUSTC_BOOTSTRAP=1
seconds="${FUZZ_SECONDS:-20}"
sanitizer="${FUZZ_SANITIZER:-none}"
jobs="${FUZZ_JOBS:-$(nproc)}"
case "${FUZZ_BUILD:-dev}" in
  dev) build=(--dev) ;;
  release) build=() ;; # cargo-fuzz's default: optimised, with debug assertions
  *) echo "FUZZ_BUILD is dev or release, not '$FUZZ_BUILD'" >&2; exit 2 ;;
esac
if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

cargo fuzz build "${build[@]}" --sanitizer "$sanitizer"

work="$(mktemp -d)"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
run() {
  local target=$1
  mkdir "$work/$target"
  # libFuzzer's progress goes to a log: the stats when it passes, the crash when not.
  cargo fuzz run "${build[@]}" --sanitizer "$sanitizer" "$target" "$work/$target" "corpus/$target" -- \
    -max_total_time="$seconds" -print_final_stats=1 >"$work/$target.log" 2>&1
}
report() {
  local target=$1 status=$2
  if [ "$status" != 0 ]; then
    # From the panic or sanitizer report to the end (the input, how to rerun it).
    sed -n '/panicked at\|ERROR: /,$p' "$work/$target.log" | grep . || tail -n 80 "$work/$target.log"
    printf '\nfuzz target %s failed: the input is in fuzz/artifacts/%s/\n' "$target" "$target" >&2
    exit 1
  fi
  printf '\n--> %s (%s s, %s build, sanitizer: %s)\n' "$target" "$seconds" "${FUZZ_BUILD:-dev}" "$sanitizer"
  grep -E '^(Done|stat::new_units_added)' "$work/$target.log"
}
# In batches of $jobs; each batch's results in the targets' order.
for ((i = 0; i < ${#targets[@]}; i += jobs)); do
  batch=("${targets[@]:i:jobs}")
  pids=()
  for target in "${batch[@]}"; do
    run "$target" &
    pids+=($!)
  done
  for j in "${!batch[@]}"; do
    status=0
    wait "${pids[j]}" || status=$?
    report "${batch[j]}" "$status"
  done
done
