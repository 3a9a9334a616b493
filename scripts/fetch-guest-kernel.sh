#!/usr/bin/env bash
# Fetches Debian's cloud kernel for microVM guests into the isobench cache, without
# installing it: `apt-get download` the linux-image-cloud-amd64 metapackage and the
# linux-image-<version>-cloud-amd64 package it depends on, unpack with `dpkg -x`, keep the
# kernel (bzImage) and the KVM modules the nested-KVM test loads.
#
#   $ISOBENCH_CACHE (default ~/.cache/isobench)/kernel/
#     vmlinuz  version  modules/{irqbypass,kvm,kvm-amd,kvm-intel}.ko
#
# Idempotent: does nothing when the cache already holds the same version.
set -euo pipefail

cache="${ISOBENCH_CACHE:-$HOME/.cache/isobench}/kernel"
meta=linux-image-cloud-amd64

fail() { echo "fetch-guest-kernel.sh: $*" >&2; exit 1; }
command -v apt-get >/dev/null || fail "needs apt-get (Debian or Ubuntu); otherwise pass --kernel to isobench"
command -v dpkg >/dev/null || fail "needs dpkg to unpack the package"

image=$(apt-cache depends "$meta" 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
if [ -z "$image" ]; then
  [ "$(id -u)" -eq 0 ] && apt-get update -q >/dev/null
  image=$(apt-cache depends "$meta" 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
fi
[ -n "$image" ] || fail "apt cannot find $meta or the kernel it depends on — run apt-get update, or pass --kernel"
version=${image#linux-image-}

if [ -f "$cache/vmlinuz" ] && [ "$(cat "$cache/version" 2>/dev/null)" = "$version" ]; then
  echo "guest kernel $version already in $cache"
  exit 0
fi

work=$(mktemp -d)
chmod 755 "$work"  # apt drops privileges to _apt for downloads
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download -q "$meta" "$image" >/dev/null) || fail "apt-get download $meta $image failed"
mkdir -p "$work/root"
for deb in "$work"/*.deb; do dpkg -x "$deb" "$work/root"; done

kernel="$work/root/boot/vmlinuz-$version"
[ -f "$kernel" ] || fail "the package has no /boot/vmlinuz-$version"
mkdir -p "$cache/modules"
cp "$kernel" "$cache/vmlinuz.tmp" && mv "$cache/vmlinuz.tmp" "$cache/vmlinuz"
for module in irqbypass kvm kvm-amd kvm-intel; do
  found=$(find "$work/root/lib/modules/$version" -name "$module.ko*" | head -n 1)
  [ -n "$found" ] || fail "module $module not found in $image"
  case "$found" in
    *.ko.xz) xz -dc "$found" > "$cache/modules/$module.ko" ;;
    *.ko.zst) zstd -qdc "$found" > "$cache/modules/$module.ko" ;;
    *) cp "$found" "$cache/modules/$module.ko" ;;
  esac
done
echo "$version" > "$cache/version"
echo "guest kernel $version in $cache ($(du -h "$cache/vmlinuz" | cut -f1))"
