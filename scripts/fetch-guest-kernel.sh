#!/usr/bin/env bash
# Fetches Debian's cloud kernel for microVM guests into the isobench cache, without
# installing it: `apt-get download` the linux-image-cloud-amd64 metapackage and the
# linux-image-<version>-cloud-amd64 package it depends on, unpack with `dpkg -x`, keep the
# kernel (bzImage) and the KVM modules the nested-KVM test loads.
#
#   ${ISOBENCH_CACHE:-~/.cache/isobench}/kernel/
#     vmlinuz  version  modules/{irqbypass,kvm,kvm-amd,kvm-intel}.ko
#
# ISOBENCH_KERNEL_PACKAGE picks another metapackage (e.g. linux-image-amd64).
# Idempotent: does nothing when the cache already holds that version and every file.
set -euo pipefail

cache="${ISOBENCH_CACHE:-$HOME/.cache/isobench}/kernel"
meta="${ISOBENCH_KERNEL_PACKAGE:-linux-image-cloud-amd64}"
modules=(irqbypass kvm kvm-amd kvm-intel)

fail() { echo "fetch-guest-kernel.sh: $*" >&2; exit 1; }
command -v apt-get >/dev/null || fail "needs apt-get (Debian or Ubuntu); otherwise pass --kernel to isobench"
command -v dpkg >/dev/null || fail "needs dpkg to unpack the package"

depends() { { apt-cache depends "$meta" 2>/dev/null || true; } | awk '/Depends: linux-image-[0-9]/ { print $2; exit }'; }
image=$(depends)
if [ -z "$image" ] && [ "$(id -u)" -eq 0 ]; then
  apt-get update -q >/dev/null || true
  image=$(depends)
fi
[ -n "$image" ] || fail "apt cannot find $meta or the linux-image-<version> package it depends on — run apt-get update (as root), or pass --kernel"
version=${image#linux-image-}

complete() {
  [ -f "$cache/vmlinuz" ] && [ "$(cat "$cache/version" 2>/dev/null)" = "$version" ] || return 1
  for module in "${modules[@]}"; do [ -f "$cache/modules/$module.ko" ] || return 1; done
}
if complete; then
  echo "guest kernel $version already in $cache"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# As root, apt downloads as user _apt, which cannot write into our private temp dir.
sandbox=()
[ "$(id -u)" -eq 0 ] && sandbox=(-o APT::Sandbox::User=root)
(cd "$work" && apt-get download -q "${sandbox[@]}" "$meta" "$image" >/dev/null) ||
  fail "apt-get download $meta $image failed — check apt's sources, or pass --kernel"
mkdir -p "$work/root"
for deb in "$work"/*.deb; do dpkg -x "$deb" "$work/root"; done

kernel="$work/root/boot/vmlinuz-$version"
[ -f "$kernel" ] || fail "$image has no /boot/vmlinuz-$version"
mkdir -p "$cache/modules"
rm -f "$cache/version" # written last: a cut-short run is redone next time
cp "$kernel" "$cache/vmlinuz.tmp" && mv "$cache/vmlinuz.tmp" "$cache/vmlinuz"
for module in "${modules[@]}"; do
  found=$(find "$work/root/lib/modules/$version" -name "$module.ko" -o -name "$module.ko.xz" -o -name "$module.ko.zst" | head -n 1)
  [ -n "$found" ] || fail "module $module not found in $image"
  case "$found" in
    *.ko.xz) xz -dc "$found" >"$cache/modules/$module.ko.tmp" ;;
    *.ko.zst) zstd -qdc "$found" >"$cache/modules/$module.ko.tmp" ;;
    *) cp "$found" "$cache/modules/$module.ko.tmp" ;;
  esac
  mv "$cache/modules/$module.ko.tmp" "$cache/modules/$module.ko"
done
echo "$version" >"$cache/version"
echo "guest kernel $version in $cache ($(du -h "$cache/vmlinuz" | cut -f1))"
