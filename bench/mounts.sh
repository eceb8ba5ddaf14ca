# Shared by the benchmarks (sourced, not run).

# The settings bench/load.sh and bench/registry.sh take, checked: ROUNDS (default 5), BERTH
# (default target/release/berth, made absolute) and CACHE (default /var/cache/berth-bench).
# `rounds_settings NAME`.
rounds_settings() {
  local name=$1
  ROUNDS=${ROUNDS:-5}
  BERTH=${BERTH:-target/release/berth}
  CACHE=${CACHE:-/var/cache/berth-bench}
  [ "$(id -u)" = 0 ] || { echo "bench/$name.sh: run as root" >&2; exit 1; }
  [ -x "$BERTH" ] || { echo "bench/$name.sh: no berth binary at $BERTH (cargo build --release)" >&2; exit 1; }
  [[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "bench/$name.sh: ROUNDS must be a positive integer" >&2; exit 1; }
  BERTH=$(realpath "$BERTH")
}

# The median of the first column (seconds) and the largest second column (KiB, printed in MiB)
# of a file of `/usr/bin/time -f '%e %M'` lines.
median() { cut -d' ' -f1 "$1" | sort -n | awk '{ a[NR] = $1 } END { printf "%.3f", NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
peak() { cut -d' ' -f2 "$1" | sort -n | tail -1 | awk '{ printf "%.1f", $1 / 1024 }'; }

# Unmounts everything at or below a directory, deepest first.
unmount_under() {
  local d; d=$(realpath -m "$1")
  awk -v d="$d" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo |
    sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
}

# Puts every timed run on the same footing: writes back what earlier runs left dirty (berth
# syncs the filesystem before it references a layer, and must not pay for others' writes), drops
# the caches, then reads back in the files and directory trees given (inputs and executables;
# see `executables`).
#
# Dropping the caches matters on ext4 without a journal, as this machine's root filesystem is:
# there, while the inode-table block of an inode deleted in the last 60 seconds (6 minutes once
# the block is dirty again) is cached, every file creation in that block group checks and skips
# it, so after a large deletion (an earlier run's clean-up, a cargo build, a test run) each file
# created costs up to a millisecond, for every tool, for minutes. A block no longer cached counts
# as written out, so after `sync` and dropping the caches creation costs what it should.
fresh_caches() {
  sync
  echo 3 >/proc/sys/vm/drop_caches
  local p
  for p in "$@"; do
    if [ -d "$p" ]; then find "$p" -type f -exec cat {} + >/dev/null 2>&1 || true
    else cat "$p" >/dev/null 2>&1 || true; fi
  done
}

# The executables named (paths or commands on $PATH) and the shared libraries they load.
executables() {
  local e p
  for e in "$@"; do
    p=$(command -v "$e" || true)
    [ -n "$p" ] || continue
    echo "$p"
    ldd "$p" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'
  done | sort -u
}

# Mounts a fresh ext4 filesystem (a sparse image file beside the directory, loop-mounted) on the
# directory given, for the stores the tools write into, so that no run pays for what happened on
# the host's filesystem before (see fresh_caches: inodes deleted in the last minutes slow every
# file creation near them, and deleting a previous store is exactly that). The inode tables are
# written by mkfs, not lazily by the kernel during the runs. Without loop devices the directory
# stays on the host's filesystem, with a warning. Clean up with `unmount_under DIR` and
# `rm -rf DIR DIR.img`.
fresh_fs() {
  local dir=$1 size=${2:-32G} inodes=${3:-400000} dev
  if truncate -s "$size" "$dir.img" &&
     mkfs.ext4 -q -F -N "$inodes" -E lazy_itable_init=0,lazy_journal_init=0 "$dir.img" &&
     dev=$(losetup --direct-io=on -f --show "$dir.img") &&
     { mount "$dev" "$dir" || { losetup -d "$dev"; false; }; }; then
    # Detached once unmounted.
    losetup -d "$dev"
    return 0
  fi
  rm -f "$dir.img"
  echo "bench: could not mount a fresh ext4 filesystem on $dir; measuring on the host's" >&2
}
