# Shared by the benchmarks (sourced, not run).

# Unmounts everything at or below a directory, deepest first.
unmount_under() {
  local d; d=$(realpath -m "$1")
  awk -v d="$d" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo |
    sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
}
