# Shared by the container benchmarks (sourced, not run): checks, packages, a scratch store for berth
# and one for podman, a busybox image in both, clean-up, and medians from hyperfine's JSON.
# The sourcing script sets RUNS and BERTH first, then calls bench_setup NAME PACKAGE….

. "$(dirname "${BASH_SOURCE[0]}")/mounts.sh"

bench_setup() {
  local name=$1; shift
  [ "$(id -u)" = 0 ] || { echo "bench/$name.sh: run as root" >&2; exit 1; }
  [ -x "$BERTH" ] || { echo "bench/$name.sh: build first: cargo build --release" >&2; exit 1; }
  [[ $RUNS =~ ^[1-9][0-9]*$ ]] || { echo "bench/$name.sh: RUNS must be a positive integer" >&2; exit 1; }
  local missing=() p
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  fi
  work=$(mktemp -d "/tmp/berth-bench-$name.XXXXXX")
  export BERTH_ROOT=$work/berth BERTH_RUNROOT=$work/berth-run CONTAINERS_CONF=$work/containers.conf
  # podman needs no default ulimits (root here cannot raise them) and runc as its runtime.
  printf '[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\n' > "$CONTAINERS_CONF"
  podman_flags=(--root "$work/podman" --runroot "$work/podman-run" --tmpdir "$work/podman-tmp"
    --storage-driver overlay --cgroup-manager cgroupfs --events-backend none)
  P="podman ${podman_flags[*]}"
  trap bench_cleanup EXIT INT TERM
}

bench_cleanup() {
  trap - EXIT INT TERM
  local ids
  ids=$("$BERTH" ps -aq 2>/dev/null || true)
  [ -z "$ids" ] || "$BERTH" rm -f $ids >/dev/null 2>&1 || true
  $P rm -a -f -t 0 >/dev/null 2>&1 || true
  $P system reset --force >/dev/null 2>&1 || true
  unmount_under "$work"
  rm -rf "$work"
}

# A busybox root filesystem at $1, imported as busybox:bench into berth and podman.
bench_busybox() {
  local rootfs=$1
  mkdir -p "$rootfs"/{bin,etc,tmp,proc,sys,dev}
  cp /bin/busybox "$rootfs/bin/"
  for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$rootfs/bin/$a"; done
  echo 'root:x:0:0:root:/root:/bin/sh' > "$rootfs/etc/passwd"
  tar --numeric-owner -C "$rootfs" -cf "$work/busybox.tar" .
  "$BERTH" import "$work/busybox.tar" busybox:bench >/dev/null
  $P import "$work/busybox.tar" busybox:bench >/dev/null 2>&1
}

# The medians, in milliseconds, of every command in a hyperfine JSON export.
median() {
  python3 -c 'import json,sys; print(" ".join("%.1f" % (x["median"] * 1000) for x in json.load(open(sys.argv[1]))["results"]))' "$1"
}
