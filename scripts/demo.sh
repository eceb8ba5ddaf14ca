#!/usr/bin/env bash
# berth's main job, end to end, on built-in examples: a busybox base image made from Debian's
# busybox-static is imported, listed, inspected, saved, loaded back, and run as a container; an
# image is built from examples/build/app/Dockerfile (linted first, then built twice: the second
# time from the cache),
# scanned, and run as a web server that answers from inside its own network namespace.
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
# An application's files on top: a Python library at a version with a known advisory.
app=$work/app
mkdir -p "$app/usr/lib/python3/site-packages/requests-2.30.0.dist-info"
printf 'Metadata-Version: 2.1\nName: requests\nVersion: 2.30.0\n' > "$app/usr/lib/python3/site-packages/requests-2.30.0.dist-info/METADATA"
tar --numeric-owner -C "$app" -cf "$work/app.tar" .
# The vulnerability database: the shared advisory data when it is here, else one real advisory
# (PYSEC-2023-74: requests before 2.31.0 leaks proxy credentials) written as an OSV record.
shared=$(realpath -m ../shared/vulndb)
advisories=()
for d in pypi go crates maven-ghsa-fixture debian/security-tracker alpine/secdb; do
  [ -d "$shared/$d" ] && advisories+=("$shared/$d")
done
if [ ${#advisories[@]} -eq 0 ]; then
  advisories=("$work/advisories"); mkdir -p "$work/advisories"
  cat > "$work/advisories/PYSEC-2023-74.json" <<'EOF'
{"id": "PYSEC-2023-74", "aliases": ["CVE-2023-32681", "GHSA-j8r2-6x86-q33q"],
 "summary": "Unintended leak of Proxy-Authorization header in requests",
 "affected": [{"package": {"ecosystem": "PyPI", "name": "requests"},
   "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "2.3.0"}, {"fixed": "2.31.0"}]}]}]}
EOF
fi

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
# Security before anything runs: the packages an image installs, and their known advisories.
"$BERTH" import --change 'CMD ["sh"]' "$work/app.tar" app:demo
"$BERTH" db import "${advisories[@]}"
"$BERTH" sbom --format cyclonedx -o "$work/app.cdx.json" app:demo
"$BERTH" sbom app:demo
"$BERTH" scan app:demo
# Build an image from a Dockerfile in the repository (linted first: its findings are warnings
# and infos, so an error threshold lets it through), scan it, run it.
"$BERTH" lint --failure-threshold error examples/build/app/Dockerfile
"$BERTH" tag busybox:demo busybox:latest
"$BERTH" build -t web:demo examples/build/app
"$BERTH" build -t web:demo examples/build/app
"$BERTH" history web:demo
"$BERTH" scan web:demo
"$BERTH" run -d --name web web:demo
for _ in $(seq 50); do "$BERTH" exec web wget -qO- http://127.0.0.1:8080/ 2>/dev/null && break; sleep 0.1; done
"$BERTH" logs web
"$BERTH" rm -f web
# The admission policy (contrib/policy.toml) refuses a deliberately bad image, one with a
# password in its config, and says how to override it.
"$BERTH" build -q -t leaky:demo examples/build/leaky
if "$BERTH" --policy contrib/policy.toml run --rm leaky:demo; then
  echo "demo: the policy should have refused leaky:demo" >&2
  exit 1
fi
"$BERTH" audit image leaky:demo
