#!/usr/bin/env bash
# Benchmark: `berth build` against `podman build` in the same run, on a Dockerfile FROM busybox
# with three RUN steps and a COPY:
#   cold           --no-cache: every step runs                  (target ≤ 0.5× podman)
#   fully cached   nothing changed since the last build         (target ≤ 0.3× podman)
# hyperfine times RUNS runs after 3 warm-ups and the script prints medians and ratios.
#
# Run from the project root, as root, after `cargo build --release && scripts/build-monitor.sh`:
#   bench/build.sh            # RUNS=10
# Missing tools (podman, runc, hyperfine, busybox-static) are installed with apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-10}
BERTH=$(realpath "${BERTH:-target/release/berth}")
export BERTH_MONITOR=${BERTH_MONITOR:-$(dirname "$BERTH")/berth-monitor}
. bench/lib.sh
bench_setup build podman runc hyperfine busybox-static
bench_busybox "$work/rootfs"

ctx=$work/context
mkdir -p "$ctx"
head -c 65536 /dev/urandom > "$ctx/payload.bin"
cat > "$ctx/Dockerfile" <<'DOCKERFILE'
FROM busybox:bench
RUN mkdir -p /app && echo one > /app/one
RUN echo two > /app/two && ls /app > /app/list
COPY payload.bin /app/payload.bin
RUN sha256sum /app/payload.bin > /app/payload.sum
DOCKERFILE

echo "== cold build, --no-cache ($RUNS runs)"
hyperfine -N --runs "$RUNS" --warmup 3 --export-json "$work/cold.json" \
  -n berth "$BERTH build --no-cache -q -t bench:cold $ctx" \
  -n podman "$P build --no-cache --pull=never -q -t bench:cold $ctx" >/dev/null
read -r cold_berth cold_podman < <(median "$work/cold.json")

echo "== fully cached build ($RUNS runs)"
"$BERTH" build -q -t bench:cached "$ctx" >/dev/null
$P build --pull=never -q -t bench:cached "$ctx" >/dev/null 2>&1
hyperfine -N --runs "$RUNS" --warmup 3 --export-json "$work/cached.json" \
  -n berth "$BERTH build -q -t bench:cached $ctx" \
  -n podman "$P build --pull=never -q -t bench:cached $ctx" >/dev/null
read -r cached_berth cached_podman < <(median "$work/cached.json")

python3 - "$cold_berth" "$cold_podman" "$cached_berth" "$cached_podman" <<'PY'
import sys
cb, cp, kb, kp = map(float, sys.argv[1:])
print(f"{'':14} {'berth':>10} {'podman':>10} {'ratio':>7}  target")
print(f"{'cold':14} {cb:8.1f}ms {cp:8.1f}ms {cb/cp:7.3f}  <= 0.5")
print(f"{'fully cached':14} {kb:8.1f}ms {kp:8.1f}ms {kb/kp:7.3f}  <= 0.3")
PY
