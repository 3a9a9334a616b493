#!/usr/bin/env bash
# Builds a Debian 12 (bookworm) minbase root filesystem for user-workload runs and tests
# (`isobench run --rootfs DIR …`), with python3-minimal and busybox, from the Debian mirror
# apt already uses on this host (no registry, no image download):
#
#   scripts/make-debian-rootfs.sh [DIR]     DIR defaults to /var/cache/isobench/debian-rootfs
#
# Writes DIR (the tree, DIR/.isobench-complete marks it finished) and DIR.tar (the same tree
# as a tarball, for the archive path of --rootfs). Cached: does nothing when both exist.
# Builds into DIR.tmp and renames, so an interrupted run never leaves a half tree at DIR;
# a leftover DIR.tmp is removed on the next run. Needs root and debootstrap.
set -euo pipefail

dir="${1:-/var/cache/isobench/debian-rootfs}"
dir="${dir%/}"
suite=bookworm
packages=python3-minimal,busybox

fail() { echo "make-debian-rootfs.sh: $*" >&2; exit 1; }

if [ -f "$dir/.isobench-complete" ] && [ -f "$dir.tar" ]; then
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
cleanup() {
  unmount_under "$dir.tmp"
  rm -rf "$dir.tmp" "$dir.tar.tmp"
}
cleanup # a leftover from an interrupted run
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$(dirname "$dir")"
if [ ! -f "$dir/.isobench-complete" ]; then
  echo "debootstrap --variant=minbase --include=$packages $suite $dir.tmp $mirror (a few minutes)"
  "$debootstrap" --variant=minbase --include="$packages" "$suite" "$dir.tmp" "$mirror" >"$dir.tmp.log" 2>&1 || {
    tail -n 20 "$dir.tmp.log" >&2
    fail "debootstrap failed (log above, full log in $dir.tmp.log)"
  }
  rm -f "$dir.tmp.log"
  unmount_under "$dir.tmp"
  # apt's downloaded .deb files are not part of the system: leave them out of the image.
  rm -rf "$dir.tmp"/var/cache/apt/archives/*.deb
  touch "$dir.tmp/.isobench-complete"
  rm -rf "$dir"
  mv "$dir.tmp" "$dir"
fi
# The tarball: numeric owners, the marker left out, written beside and renamed.
tar --numeric-owner --exclude=./.isobench-complete -C "$dir" -cf "$dir.tar.tmp" .
mv "$dir.tar.tmp" "$dir.tar"
echo "Debian rootfs in $dir ($(du -sh "$dir" | cut -f1)), tarball $dir.tar"
