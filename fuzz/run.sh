#!/usr/bin/env bash
# Runs berth's fuzz targets with cargo-fuzz on the machine's stable toolchain (libFuzzer needs
# nightly flags; RUSTC_BOOTSTRAP lets stable rustc take them). New inputs go to a scratch
# directory; to keep the interesting ones, merge them into fuzz/corpus/<target> with -merge=1.
#   fuzz/run.sh                 # every target, 120 s each
#   SECONDS_EACH=600 fuzz/run.sh apply_layer
set -euo pipefail
cd "$(dirname "$0")"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(apply_layer load_archive package_databases advisories dockerfile dockerignore registry_answers signatures)
for t in "${targets[@]}"; do
  scratch=$(mktemp -d "/tmp/berth-fuzz-$t.XXXXXX")
  RUSTC_BOOTSTRAP=1 cargo fuzz run -O "$t" "$scratch" "corpus/$t" -- \
    -max_total_time="${SECONDS_EACH:-120}" -rss_limit_mb=2048
  echo "$t: new inputs in $scratch; crashes, if any, in fuzz/artifacts/$t"
done
