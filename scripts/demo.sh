#!/usr/bin/env bash
# berth's main job, end to end, on a built-in example: a busybox base image made from Debian's
# busybox-static is imported, listed, inspected, saved, loaded back, and run as a container.
set -euo pipefail
cd "$(dirname "$0")/.."
for p in busybox-static libseccomp-dev pkg-config; do
  dpkg -s "$p" >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$p"; }
done
[ -n "${BERTH:-}" ] || { cargo build --release --bin berth --bin berth-runtime && ./scripts/build-monitor.sh >/dev/null; }
BERTH=${BERTH:-target/release/berth}
export BERTH_ROOT=${BERTH_ROOT:-$(mktemp -d /tmp/berth-demo.XXXXXX)}
export BERTH_RUNROOT=${BERTH_RUNROOT:-$BERTH_ROOT/run}
work=$(mktemp -d /tmp/berth-demo-work.XXXXXX)
trap 'rm -rf "$work"' EXIT

# A busybox root filesystem: the static binary and its applet links.
rootfs=$work/rootfs
mkdir -p "$rootfs"/{bin,etc,tmp,root}
cp /bin/busybox "$rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do [ "$applet" = busybox ] || ln -s busybox "$rootfs/bin/$applet"; done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$rootfs/etc/group"
tar --numeric-owner -C "$rootfs" -cf "$work/busybox.tar" .

set -x
"$BERTH" import --change 'CMD ["sh"]' --change 'ENV PATH=/bin' "$work/busybox.tar" busybox:demo
"$BERTH" images
"$BERTH" image inspect --format '{{.Id}} {{json .Config.Cmd}} {{json .RootFS.Layers}}' busybox:demo
"$BERTH" history busybox:demo
"$BERTH" save -o "$work/busybox-save.tar" busybox:demo
"$BERTH" rmi busybox:demo
"$BERTH" load -i "$work/busybox-save.tar"
"$BERTH" images busybox
"$BERTH" system df
"$BERTH" system check
# A container from the image: its own PID 1, hostname and network (loopback only), Podman's 11
# capabilities, no_new_privs and the default seccomp profile.
"$BERTH" run --rm --name demo busybox:demo sh -c 'echo "pid $$ on $(hostname)"; ls /sys/class/net; grep -E "^(CapEff|NoNewPrivs|Seccomp):" /proc/self/status'
"$BERTH" run --rm --read-only --memory 64m busybox:demo sh -c 'touch /x 2>&1 || true'
