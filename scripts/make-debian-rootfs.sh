#!/usr/bin/env bash
# Builds a Debian 12 (bookworm) minbase root filesystem for user-workload runs and tests
# (`isobench run --rootfs DIR …`), with python3 (python3-minimal plus libpython3-stdlib, which
# holds http.server) and busybox, from the Debian mirror apt already uses on this host (no
# registry, no image download):
#
#   scripts/make-debian-rootfs.sh [DIR]     DIR defaults to /var/cache/isobench/debian-rootfs
#
# Writes DIR (the tree; DIR/.isobench-complete marks it finished and names suite and packages)
# and DIR.tar (the same tree as a tarball, for the archive path of --rootfs). Cached: does
# nothing when both exist and the marker names this script's suite and packages.
# Builds into DIR.tmp and renames, so an interrupted run never leaves a half tree at DIR;
# a leftover DIR.tmp is removed on the next run. Needs root and debootstrap.
set -euo pipefail

dir="${1:-/var/cache/isobench/debian-rootfs}"
dir="${dir%/}"
suite=bookworm
packages=python3-minimal,libpython3-stdlib,busybox
stamp="$suite $packages"

fail() { echo "make-debian-rootfs.sh: $*" >&2; exit 1; }

complete() { [ "$(cat "$dir/.isobench-complete" 2>/dev/null)" = "$stamp" ]; }
if complete && [ -f "$dir.tar" ]; then
  echo "Debian rootfs already in $dir (and $dir.tar)"
  exit 0
fi
[ "$(id -u)" -eq 0 ] || fail "run as root (debootstrap needs it)"
debootstrap=$(PATH="$PATH:/usr/sbin:/sbin" command -v debootstrap) ||
  fail "needs debootstrap: apt-get install debootstrap"

# The first Debian (not security) mirror in apt's sources: deb822 .sources files or
# one-line `deb URI SUITE …` entries.
mirror_from_sources() {
  local file
  for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$file" ] || continue
    case "$file" in
      *.sources) awk '/^URIs:/ { for (i = 2; i <= NF; i++) print $i }' "$file" ;;
      *) awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; break } }' "$file" ;;
    esac
  done | grep -E '/debian/?$' | grep -v security | head -n1
}
mirror="${ISOBENCH_DEBIAN_MIRROR:-$(mirror_from_sources)}"
[ -n "$mirror" ] || fail "no Debian mirror in /etc/apt/sources.list(.d) — set ISOBENCH_DEBIAN_MIRROR=URL"

# Unmounts whatever debootstrap left mounted under a tree (proc, sys on interruption).
unmount_under() {
  local mounts
  mounts=$(awk -v root="$1/" 'index($2, root) == 1 { print $2 }' /proc/mounts | sort -r)
  for m in $mounts; do umount -l "$m" 2>/dev/null || true; done
}
keep_log=
bootstrap_pid=
cleanup() {
  # debootstrap runs in its own process group (dpkg inside it ignores SIGINT): stop all of it.
  if [ -n "$bootstrap_pid" ]; then
    kill -TERM -- "-$bootstrap_pid" 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 -- "-$bootstrap_pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL -- "-$bootstrap_pid" 2>/dev/null || true
    wait "$bootstrap_pid" 2>/dev/null || true
  fi
  unmount_under "$dir.tmp"
  rm -rf "$dir.tmp" "$dir.tar.tmp"
  [ -n "$keep_log" ] || rm -f "$dir.tmp.log"
}
cleanup # a leftover from an interrupted run
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$(dirname "$dir")"
if ! complete; then
  echo "debootstrap --variant=minbase --include=$packages $suite $dir.tmp $mirror (a few minutes)"
  # In the background and waited for, so that Ctrl-C runs the trap at once.
  setsid "$debootstrap" --variant=minbase --include="$packages" "$suite" "$dir.tmp" "$mirror" >"$dir.tmp.log" 2>&1 &
  bootstrap_pid=$!
  wait "$bootstrap_pid" || {
    bootstrap_pid=
    tail -n 20 "$dir.tmp.log" >&2
    keep_log=1
    fail "debootstrap failed (log above, full log in $dir.tmp.log)"
  }
  bootstrap_pid=
  unmount_under "$dir.tmp"
  # apt's downloaded .deb files are not part of the system: leave them out of the image.
  rm -rf "$dir.tmp"/var/cache/apt/archives/*.deb
  echo "$stamp" >"$dir.tmp/.isobench-complete"
  rm -rf "$dir.tar" "$dir" # the old tarball too: it must never outlive its tree
  mv "$dir.tmp" "$dir"
fi
# The tarball: numeric owners, the marker left out, written beside and renamed.
tar --numeric-owner --exclude=./.isobench-complete -C "$dir" -cf "$dir.tar.tmp" .
mv "$dir.tar.tmp" "$dir.tar"
echo "Debian rootfs in $dir ($(du -sh "$dir" | cut -f1)), tarball $dir.tar"
