#!/usr/bin/env bash
# Benchmark: loading an image into a fresh store.
#
# Measures the wall-clock time and peak resident memory of getting a Debian bookworm minbase
# image (one ~200 MB layer) from an archive on disk into a fresh, empty store:
#   berth load     `berth load -i debian-minbase.docker.tar`
#   podman load    `podman load -i debian-minbase.docker.tar` (overlay driver)
#   umoci unpack   `umoci unpack` of the same image from an OCI layout into a bundle
# Every store and bundle goes to a fresh ext4 filesystem made for the run (fresh_fs in
# bench/mounts.sh). Each tool runs once as an untimed warm-up, then ROUNDS timed rounds, each on
# fresh state, after
# `sync`, with the caches dropped and the inputs and executables read back in (fresh_caches in
# bench/mounts.sh), under /usr/bin/time -f '%e %M'. It prints the median seconds and the largest
# peak RSS of each tool, and the median ratios podman/berth and umoci/berth against their targets.
#
# Run from the project root, as root, after `cargo build --release`:
#   bench/load.sh                  # ROUNDS=5
#   ROUNDS=3 BERTH=path/to/berth CACHE=/some/dir bench/load.sh
# The first run builds the root filesystem with debootstrap (network: Debian's mirror) and the
# archives, and keeps them in $CACHE (default /var/cache/berth-bench); later runs reuse them.
# Missing tools (podman, skopeo, umoci, debootstrap, time) are installed with apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

. bench/mounts.sh
rounds_settings load

work=$(mktemp -d /tmp/berth-bench.XXXXXX)
cleanup() {
  trap - EXIT INT TERM
  local s
  for s in "$work"/podman.*/; do [ -d "$s/root" ] && pod_clean "$s"; done
  unmount_under "$work"
  unmount_under "$CACHE/rootfs.tmp"
  rm -rf "$work" "$work.img"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fresh_fs "$work"

# Tools, installed only where absent.
need=()
for t in podman skopeo umoci debootstrap; do command -v "$t" >/dev/null || need+=("$t"); done
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

cat >"$work/containers.conf" <<'EOF'
[containers]
default_ulimits = []
[engine]
runtime = "runc"
EOF
export CONTAINERS_CONF=$work/containers.conf
printf '{"default":[{"type":"insecureAcceptAnything"}]}\n' >"$work/policy.json"
pod() { local s=$1; shift; podman --root "$s/root" --runroot "$s/run" --storage-driver overlay "$@"; }
pod_clean() { pod "$1" system reset -f >/dev/null 2>&1 || true; unmount_under "$1"; rm -rf "$1"; }

# The root filesystem, once.
mkdir -p "$CACHE"
rootfs=$CACHE/rootfs
if [ ! -d "$rootfs" ]; then
  if [ ! -f "$CACHE/rootfs.tmp/etc/debian_version" ] || [ -d "$CACHE/rootfs.tmp/debootstrap" ]; then
    rm -rf "$CACHE/rootfs.tmp"
    echo "debootstrap bookworm into $CACHE/rootfs.tmp ..." >&2
    debootstrap --variant=minbase bookworm "$CACHE/rootfs.tmp" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 ||
      { tail -20 "$work/debootstrap.log" >&2; exit 1; }
  fi
  mv "$CACHE/rootfs.tmp" "$rootfs"
fi

# The archives, once: rootfs.tar -> podman import -> docker-archive -> OCI layout.
archive=$CACHE/debian-minbase.docker.tar
oci=$CACHE/debian-oci
if [ ! -f "$archive" ]; then
  echo "making $archive ..." >&2
  tar --numeric-owner -C "$rootfs" -cf "$CACHE/rootfs.tar.tmp" . && mv "$CACHE/rootfs.tar.tmp" "$CACHE/rootfs.tar"
  pod "$work/mk" import -q "$CACHE/rootfs.tar" bench/debian:minbase >/dev/null
  pod "$work/mk" save -q --format docker-archive -o "$archive.tmp" bench/debian:minbase
  pod_clean "$work/mk"
  mv "$archive.tmp" "$archive"
  rm -rf "$oci"
fi
if [ ! -f "$oci/index.json" ]; then
  rm -rf "$oci.tmp"
  skopeo --policy "$work/policy.json" copy -q "docker-archive:$archive" "oci:$oci.tmp:minbase"
  rm -rf "$oci" && mv "$oci.tmp" "$oci"
fi

# One run of a tool on fresh state: `run TOOL TIMES-FILE`; an empty TIMES-FILE means untimed.
run() {
  local tool=$1 out=$2 s cmd; s=$(mktemp -d "$work/$tool.XXXXXX")
  local t=(/usr/bin/time -f '%e %M' -o "$s.time")
  case $tool in
    berth) cmd=("$BERTH" --root "$s/root" --runroot "$s/run" load -i "$archive") ;;
    podman) cmd=(podman --root "$s/root" --runroot "$s/run" --storage-driver overlay load -i "$archive") ;;
    umoci) cmd=(umoci unpack --image "$oci:minbase" "$s/bundle") ;;
  esac
  fresh_caches "${warm[@]}"
  if ! "${t[@]}" "${cmd[@]}" >"$s.log" 2>&1; then
    echo "bench/load.sh: $tool failed:" >&2; tail -20 "$s.log" >&2; exit 1
  fi
  [ -z "$out" ] || tail -1 "$s.time" >>"$out"
  rm -f "$s.time" "$s.log"
}

# What every timed run reads back in after the caches are dropped (bench/mounts.sh).
mapfile -t warm < <(executables "$BERTH" podman umoci /usr/bin/time)
warm+=("$archive" "$oci")
tools=(berth podman umoci)
for tool in "${tools[@]}"; do run "$tool" ""; done
for ((i = 1; i <= ROUNDS; i++)); do
  for tool in "${tools[@]}"; do run "$tool" "$work/$tool.times"; done
done

mb=$(median "$work/berth.times") mp=$(median "$work/podman.times") mu=$(median "$work/umoci.times")
pb=$(peak "$work/berth.times")
printf '%-14s median %s s  peak %s MiB\n' "berth load" "$mb" "$pb" \
  "podman load" "$mp" "$(peak "$work/podman.times")" "umoci unpack" "$mu" "$(peak "$work/umoci.times")"
awk -v b="$mb" -v p="$mp" -v u="$mu" -v r="$pb" 'BEGIN {
  if (b <= 0) b = 0.001
  printf "ratio podman/berth %.2fx   target >= 4x\n", p / b
  printf "ratio umoci/berth  %.2fx   target >= 3x\n", u / b
  printf "peak berth %s MiB        target < 64 MiB\n", r
}'
