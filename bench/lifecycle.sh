#!/usr/bin/env bash
# Benchmark: the container lifecycle, berth against podman in the same run.
#   run -d            berth run -d busybox sleep 600   vs  podman run -d --network none … (target ≤ 0.25×)
#   rm -f (running)   berth rm -f NAME                 vs  podman rm -f -t 0 NAME          (target ≤ 0.25×)
#   ps -a             with 500 created containers, berth alone                             (target < 50 ms)
#   memory per container, with 50 detached containers: RSS and PSS of berth-monitor against
#   podman's conmon (targets ≤ 1.0 MiB RSS, ≤ 0.3 MiB PSS)
# hyperfine times RUNS runs after 3 warm-ups and the script prints medians and ratios.
#
# Run from the project root, as root, after `cargo build --release && scripts/build-monitor.sh`:
#   bench/lifecycle.sh            # RUNS=20
# Missing tools (podman, runc, hyperfine, busybox-static) are installed with apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-20}
BERTH=$(realpath "${BERTH:-target/release/berth}")
. bench/lib.sh
bench_setup lifecycle podman runc hyperfine busybox-static
bench_busybox "$work/rootfs"

echo "== run -d ($RUNS runs)"
hyperfine -N --runs "$RUNS" --warmup 3 --export-json "$work/run.json" \
  -n berth "$BERTH run -d busybox:bench sleep 600" \
  -n podman "$P run -d --network none busybox:bench sleep 600" >/dev/null
read -r run_berth run_podman < <(median "$work/run.json")
ids=$("$BERTH" ps -aq); [ -z "$ids" ] || "$BERTH" rm -f $ids >/dev/null
$P rm -a -f -t 0 >/dev/null 2>&1

echo "== rm -f of a running container ($RUNS runs)"
hyperfine -N --runs "$RUNS" --warmup 3 --export-json "$work/rm.json" \
  --prepare "$BERTH run -d --name victim busybox:bench sleep 600" -n berth "$BERTH rm -f victim" >/dev/null
hyperfine -N --runs "$RUNS" --warmup 3 --export-json "$work/rm-podman.json" \
  --prepare "$P run -d --network none --name victim busybox:bench sleep 600" -n podman "$P rm -f -t 0 victim" >/dev/null
rm_berth=$(median "$work/rm.json"); rm_podman=$(median "$work/rm-podman.json")

echo "== memory per container (50 detached containers each)"
for i in $(seq 50); do "$BERTH" run -d busybox:bench sleep 600 >/dev/null; $P run -d --network none busybox:bench sleep 600 >/dev/null; done
mem() { # pids... -> "rss_kib pss_kib" averaged
  python3 - "$@" <<'PY'
import sys
pids = sys.argv[1:]
rss = pss = n = 0
for p in pids:
    try:  # a process that has just exited is not counted
        lines = open(f"/proc/{p}/smaps_rollup").read().splitlines()
    except OSError:
        continue
    n += 1
    for line in lines:
        if line.startswith("Rss:"): rss += int(line.split()[1])
        if line.startswith("Pss:"): pss += int(line.split()[1])
print(rss / n / 1024, pss / n / 1024)
PY
}
read -r berth_rss berth_pss < <(mem $(pgrep -x berth-monitor))
read -r conmon_rss conmon_pss < <(mem $(pgrep -x conmon))
ids=$("$BERTH" ps -aq); "$BERTH" rm -f $ids >/dev/null
$P rm -a -f -t 0 >/dev/null 2>&1

echo "== ps -a with 500 containers"
for i in $(seq 500); do echo "create busybox:bench true"; done | while read -r cmd img arg; do "$BERTH" create "$img" "$arg" >/dev/null; done
hyperfine -N --runs "$RUNS" --warmup 3 --export-json "$work/ps.json" -n berth "$BERTH ps -a" >/dev/null
ps_berth=$(median "$work/ps.json")

python3 - "$run_berth" "$run_podman" "$rm_berth" "$rm_podman" "$ps_berth" "$berth_rss" "$berth_pss" "$conmon_rss" "$conmon_pss" <<'PY'
import sys
rb, rp, mb, mp, ps, brss, bpss, crss, cpss = map(float, sys.argv[1:])
print(f"run -d:  berth {rb:.1f} ms, podman {rp:.1f} ms, ratio {rb/rp:.3f} (target <= 0.25)")
print(f"rm -f:   berth {mb:.1f} ms, podman {mp:.1f} ms, ratio {mb/mp:.3f} (target <= 0.25)")
print(f"ps -a (500 containers): berth {ps:.1f} ms (target < 50)")
print(f"per container: berth-monitor {brss:.2f} MiB RSS / {bpss:.2f} MiB PSS; conmon {crss:.2f} MiB RSS / {cpss:.2f} MiB PSS (targets <= 1.0 / <= 0.3)")
PY
