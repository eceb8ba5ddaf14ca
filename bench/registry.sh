#!/usr/bin/env bash
# Benchmark: pulling from and pushing to a registry on 127.0.0.1.
#
# The Debian bookworm minbase image (one ~200 MB layer, ~70 MB gzipped) sits in Debian's
# docker-registry, pushed there by skopeo (which gzips it). Then, each round on fresh state:
#   berth pull     `berth pull` into an empty store (download, digest checks and unpacking)
#   podman pull    `podman pull` into an empty store (overlay driver)
#   podman pull+sync  the same followed by `sync -f` on its store: podman leaves its writes to the
#                  kernel's writeback, while berth syncs before it references a layer (for
#                  reference, no target)
#   berth push     `berth push` of the pulled image to an empty registry
#   skopeo push    `skopeo copy` of podman's pulled image (containers-storage, so compressed
#                  again, as `podman push` does) to an empty registry
#   skopeo push gz `skopeo copy` of the gzipped blobs from an OCI layout (for reference)
# Stores and registries live on a fresh ext4 filesystem made for the run (fresh_fs in
# bench/mounts.sh). Each tool runs once untimed, then ROUNDS timed rounds, each after `sync` with
# the caches dropped and its inputs and executables read back in (fresh_caches), under
# /usr/bin/time -f '%e %M'. It prints the median seconds and the largest peak RSS of each, and the
# median ratios against the targets (berth pull <= 0.25x podman pull, berth push <= 0.5x skopeo
# push, peak < 64 MiB).
#
# Run from the project root, as root, after `cargo build --release`:
#   bench/registry.sh              # ROUNDS=5
#   ROUNDS=3 BERTH=path/to/berth CACHE=/some/dir bench/registry.sh
# The image archive comes from bench/load.sh's cache ($CACHE, default /var/cache/berth-bench),
# which bench/load.sh makes on first use. Missing tools are installed with apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

. bench/mounts.sh
rounds_settings registry

need=()
for p in podman skopeo docker-registry time; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
archive=$CACHE/debian-minbase.docker.tar
if [ ! -f "$archive" ]; then
  echo "making $archive through bench/load.sh ..." >&2
  ROUNDS=1 BERTH=$BERTH CACHE=$CACHE bench/load.sh >/dev/null
fi

work=$(mktemp -d /tmp/berth-bench-registry.XXXXXX)
registries=()
cleanup() {
  trap - EXIT INT TERM
  local p s
  for p in "${registries[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  podman --root "$work/podstore" --runroot /run/bbr.seed --storage-driver overlay system reset -f >/dev/null 2>&1 || true
  unmount_under /run/bbr.seed; rm -rf /run/bbr.seed
  for s in "$work"/podman-pull*.*/; do
    [ -d "$s/root" ] || continue
    podman --root "$s/root" --runroot "$(cat "$s/runroot")" --tmpdir "$s/tmp" --storage-driver overlay \
      system reset -f >/dev/null 2>&1 || true
    unmount_under "$(cat "$s/runroot")"; rm -rf "$(cat "$s/runroot")"
  done
  unmount_under "$work"
  rm -rf "$work" "$work.img"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fresh_fs "$work"

cat >"$work/containers.conf" <<'EOF'
[containers]
default_ulimits = []
[engine]
runtime = "runc"
EOF
export CONTAINERS_CONF=$work/containers.conf
printf '{"default":[{"type":"insecureAcceptAnything"}]}\n' >"$work/policy.json"
# podman's run root must be short (under 50 characters): /run/bbr.N, one per run.
n=0

# Starts a registry storing under $1 on a free port; sets $port and records the pid.
start_registry() {
  local dir=$1 i
  mkdir -p "$dir"
  for i in 1 2 3 4 5; do
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    printf 'version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
      "$dir/data" "$port" >"$dir/config.yml"
    docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
    registry_pid=$!
    registries+=("$registry_pid")
    for _ in $(seq 100); do
      if curl -fs "http://127.0.0.1:$port/v2/" >/dev/null 2>&1; then return 0; fi
      kill -0 "$registry_pid" 2>/dev/null || break
      sleep 0.05
    done
    kill "$registry_pid" 2>/dev/null || true
  done
  echo "bench/registry.sh: docker-registry did not start" >&2; exit 1
}
stop_registry() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

start_registry "$work/source"
src=127.0.0.1:$port/bench/debian:minbase
skopeo --policy "$work/policy.json" copy -q --dest-tls-verify=false "docker-archive:$archive" "docker://$src"
# What each tool pushes is the image as its own pull left it: berth's store keeps the gzipped
# blobs, podman's store (read by skopeo) keeps unpacked layers, which skopeo compresses again,
# as `podman push` does. skopeo also pushes the gzipped blobs from an OCI layout, for reference.
"$BERTH" --root "$work/pushstore" --runroot "$work/pushrun" pull -q "$src" >/dev/null
podman --root "$work/podstore" --runroot /run/bbr.seed --storage-driver overlay pull -q --tls-verify=false "$src" >/dev/null
storage="containers-storage:[overlay@$work/podstore+/run/bbr.seed]$src"
skopeo --policy "$work/policy.json" copy -q --src-tls-verify=false "docker://$src" "oci:$work/layout:minbase"

# One run: `run TOOL TIMES-FILE`; an empty TIMES-FILE means untimed.
run() {
  local tool=$1 out=$2 s cmd dst=""; s=$(mktemp -d "$work/$tool.XXXXXX")
  n=$((n + 1)); echo "/run/bbr.$n" >"$s/runroot"
  case $tool in
    berth-push | skopeo-push | skopeo-push-gz) start_registry "$s/registry"; dst=127.0.0.1:$port/pushed/debian:minbase ;;
  esac
  case $tool in
    berth-pull) cmd=("$BERTH" --root "$s/root" --runroot "$s/run" pull -q "$src") ;;
    podman-pull) cmd=(podman --root "$s/root" --runroot "/run/bbr.$n" --tmpdir "$s/tmp" --storage-driver overlay
      pull -q --tls-verify=false "$src") ;;
    podman-pull-sync) cmd=(sh -c 'podman "$@" && sync -f "$2"' sh --root "$s/root" --runroot "/run/bbr.$n"
      --tmpdir "$s/tmp" --storage-driver overlay pull -q --tls-verify=false "$src") ;;
    berth-push) cmd=("$BERTH" --root "$work/pushstore" --runroot "$work/pushrun" push -q "$src" "$dst") ;;
    skopeo-push) cmd=(skopeo --policy "$work/policy.json" copy -q --dest-tls-verify=false "$storage" "docker://$dst") ;;
    skopeo-push-gz) cmd=(skopeo --policy "$work/policy.json" copy -q --dest-tls-verify=false
      "oci:$work/layout:minbase" "docker://$dst") ;;
  esac
  case $tool in
    berth-pull | podman-pull | podman-pull-sync) fresh_caches "${warm[@]}" "$work/source/data" ;;
    berth-push) fresh_caches "${warm[@]}" "$work/pushstore/blobs" "$work/pushstore/berth.db" ;;
    skopeo-push) fresh_caches "${warm[@]}" "$work/podstore" ;;
    skopeo-push-gz) fresh_caches "${warm[@]}" "$work/layout" ;;
  esac
  if ! /usr/bin/time -f '%e %M' -o "$s.time" "${cmd[@]}" >"$s.log" 2>&1; then
    echo "bench/registry.sh: $tool failed:" >&2; tail -20 "$s.log" >&2; exit 1
  fi
  [ -z "$out" ] || tail -1 "$s.time" >>"$out"
  [ -z "$dst" ] || stop_registry "$registry_pid"
  case $tool in podman-pull*) unmount_under "/run/bbr.$n" ;; esac
  rm -f "$s.time" "$s.log"
}

# What every timed run reads back in after the caches are dropped (bench/mounts.sh), with the
# inputs of its own.
mapfile -t warm < <(executables "$BERTH" podman skopeo docker-registry /usr/bin/time sh sync)
tools=(berth-pull podman-pull podman-pull-sync berth-push skopeo-push skopeo-push-gz)
for tool in "${tools[@]}"; do run "$tool" ""; done
for ((i = 1; i <= ROUNDS; i++)); do
  for tool in "${tools[@]}"; do run "$tool" "$work/$tool.times"; done
done

for tool in "${tools[@]}"; do
  printf '%-17s median %s s  peak %s MiB\n' "${tool//-/ }" "$(median "$work/$tool.times")" "$(peak "$work/$tool.times")"
done
awk -v bp="$(median "$work/berth-pull.times")" -v pp="$(median "$work/podman-pull.times")" \
    -v ps="$(median "$work/podman-pull-sync.times")" -v bu="$(median "$work/berth-push.times")" -v su="$(median "$work/skopeo-push.times")" \
    -v sg="$(median "$work/skopeo-push-gz.times")" \
    -v m1="$(peak "$work/berth-pull.times")" -v m2="$(peak "$work/berth-push.times")" 'BEGIN {
  if (pp <= 0) pp = 0.001; if (su <= 0) su = 0.001
  printf "ratio berth pull / podman pull  %.3fx   target <= 0.25x\n", bp / pp
  printf "(ratio berth pull / podman pull+sync  %.3fx, no target)\n", bp / (ps > 0 ? ps : 0.001)
  printf "ratio berth push / skopeo push  %.3fx   target <= 0.5x\n", bu / su
  printf "(ratio berth push / skopeo push of the gzipped blobs  %.3fx, no target)\n", bu / (sg > 0 ? sg : 0.001)
  printf "peak berth pull %s MiB, push %s MiB   target < 64 MiB\n", m1, m2
}'
