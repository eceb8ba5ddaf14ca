#!/usr/bin/env bash
# Builds berth-monitor as it ships: without Rust's standard library (panic = abort), statically
# linked against the C library and not position-independent, so that each container's monitor
# costs well under 1 MiB of resident memory. Installs it next to the release berth binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
triple=$(rustc -vV | sed -n 's/^host: //p')
RUSTFLAGS="-C panic=abort -C target-feature=+crt-static -C relocation-model=static" \
  cargo build --release -p berth-monitor --target "$triple"
mkdir -p target/release
install -m 0755 "target/$triple/release/berth-monitor" target/release/berth-monitor
echo "target/$triple/release/berth-monitor"
