#!/usr/bin/env bash
# Benchmark: starting a container.
#
# Two comparisons, each run in one go, of the same busybox image and bundle:
#   berth run --rm busybox true        against  podman run --rm --network none busybox true
#   berth-runtime run of a bundle      against  crun run and runc run of the same bundle
# berth and podman run on this machine's cgroup layout as it is. crun 1.8 refuses the hybrid
# layout (its cgroup2 mount carries a controller), so the three runtimes run in one private mount
# namespace where /sys/fs/cgroup/unified is hidden, every side alike. podman gets a
# containers.conf with no default ulimits (root here cannot raise them) and runc as its runtime.
#
# A third comparison times `berth run` with an empty admission policy and with one that denies
# critical vulnerabilities, secrets, privileges, sensitive mounts and other registries (the
# image's scan is cached by the warm-up runs).
#
# hyperfine times RUNS runs after 3 warm-ups; the script prints each median and the ratios
# against their targets, and the peak RSS of berth's processes during one run (/usr/bin/time's
# %M: the largest of the process and the children it waited for).
#
# Run from the project root, as root, after `cargo build --release`:
#   bench/run.sh            # RUNS=30
#   RUNS=100 bench/run.sh
# Missing tools (podman, runc, crun, hyperfine, busybox-static, time) are installed with apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-30}
BERTH=$(realpath "${BERTH:-target/release/berth}")
RUNTIME=$(realpath "${BERTH_RUNTIME:-$(dirname "$BERTH")/berth-runtime}")
[ -x "$RUNTIME" ] || { echo "bench/run.sh: build first: cargo build --release" >&2; exit 1; }
. bench/lib.sh
bench_setup run podman runc crun hyperfine busybox-static time
# One busybox root filesystem: an image for berth and podman, a bundle for the runtimes.
bench_busybox "$work/bundle/rootfs"
(cd "$work/bundle" && runc spec && sed -i 's/"terminal": true/"terminal": false/; s/"sh"$/"true"/' config.json)

echo "== berth run --rm vs podman run --rm --network none ($RUNS runs)"
hyperfine -N --runs "$RUNS" --warmup 3 --export-json "$work/engine.json" \
  -n berth "$BERTH run --rm busybox:bench true" \
  -n podman "podman ${podman_flags[*]} run --rm --network none busybox:bench true" >/dev/null
read -r berth_ms podman_ms < <(median "$work/engine.json")

echo "== berth run --rm with and without an admission policy ($RUNS runs, scan cached by the warm-up)"
cat > "$work/policy.toml" <<'POLICY'
[[rule]]
name = "no-critical"
action = "deny"
vulnerabilities = "critical"
[[rule]]
name = "no-secrets"
action = "deny"
secrets = true
[[rule]]
name = "no-privileged"
action = "deny"
privileged = true
capabilities = true
[[rule]]
name = "mounts"
action = "deny"
audit = ["CTR007", "CTR008"]
[[rule]]
name = "registries"
action = "deny"
registries = ["docker.io"]
POLICY
hyperfine -N --runs "$RUNS" --warmup 3 --export-json "$work/policy.json" \
  -n none "$BERTH --policy /dev/null run --rm busybox:bench true" \
  -n policy "$BERTH --policy $work/policy.toml run --rm busybox:bench true" >/dev/null
read -r nopolicy_ms policy_ms < <(median "$work/policy.json")

echo "== berth-runtime run vs crun run vs runc run ($RUNS runs, unified cgroup mount hidden)"
unshare -m --propagation private sh -c "umount -l /sys/fs/cgroup/unified 2>/dev/null || true
  cd '$work/bundle' && hyperfine -N --runs '$RUNS' --warmup 3 --export-json '$work/runtime.json' \
    -n berth-runtime '$RUNTIME --root $work/rt-berth run bench' \
    -n crun 'crun --root $work/rt-crun run bench' \
    -n runc 'runc --root $work/rt-runc run bench'" >/dev/null
read -r rt_ms crun_ms runc_ms < <(median "$work/runtime.json")

rss_run=$(/usr/bin/time -f %M "$BERTH" run --rm busybox:bench true 2>&1 >/dev/null | tail -1)
rss_rt=$(cd "$work/bundle" && /usr/bin/time -f %M "$RUNTIME" --root "$work/rt-berth" run bench 2>&1 >/dev/null | tail -1)

python3 - "$berth_ms" "$podman_ms" "$rt_ms" "$crun_ms" "$runc_ms" "$rss_run" "$rss_rt" "$nopolicy_ms" "$policy_ms" <<'PY'
import sys
berth, podman, rt, crun, runc, rss_run, rss_rt, nopolicy, policy = map(float, sys.argv[1:])
print(f"admission: berth run {nopolicy:.1f} ms with an empty policy, {policy:.1f} ms with five rules: +{policy - nopolicy:.1f} ms  (target < 10 ms)")
print(f"median ms: berth run {berth:.1f}, podman run {podman:.1f}, berth-runtime {rt:.1f}, crun {crun:.1f}, runc {runc:.1f}")
print(f"berth run / podman run  = {berth/podman:.3f}  (target <= 0.2)")
print(f"berth run / crun run    = {berth/crun:.2f}   (target <= 2.0)")
print(f"berth-runtime / crun    = {rt/crun:.2f}   (target <= 1.0)")
print(f"berth-runtime / runc    = {rt/runc:.2f}")
print(f"peak RSS: berth run (with its runtime children) {rss_run/1024:.1f} MiB, berth-runtime run {rss_rt/1024:.1f} MiB  (target < 10 MiB)")
PY
