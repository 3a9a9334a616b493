#!/usr/bin/env bash
# Fetches a Debian kernel for microVM guests into the isobench cache, without installing it:
# `apt-get download` the linux-image-<version> package a metapackage depends on, unpack it
# with `dpkg -x`, keep the kernel (bzImage) and the KVM modules the nested-KVM test loads,
# with every module they depend on per the kernel's modules.dep, in load order.
#
#   ${ISOBENCH_CACHE:-~/.cache/isobench}/kernel/
#     vmlinuz  version  modules/<name>.ko  modules/order
#
# modules/order names the .ko files, one a line, in the order they load (dependencies
# first, as modprobe would), for kvm-amd and kvm-intel: e.g. irqbypass.ko kvm.ko kvm-amd.ko
# kvm-intel.ko. Compressed modules (.ko.xz, .ko.zst, .ko.gz) are stored decompressed.
#
# ISOBENCH_KERNEL_PACKAGE picks another metapackage (default linux-image-cloud-amd64; e.g.
# linux-image-amd64). Idempotent: does nothing when the cache already holds that version
# and every file.
set -euo pipefail

cache="${ISOBENCH_CACHE:-$HOME/.cache/isobench}/kernel"
meta="${ISOBENCH_KERNEL_PACKAGE:-linux-image-cloud-amd64}"
# The modules the nested-KVM test needs; their dependencies come from modules.dep.
targets=(kvm-amd kvm-intel)

fail() { echo "fetch-guest-kernel.sh: $*" >&2; exit 1; }
command -v apt-get >/dev/null || fail "needs apt-get (Debian or Ubuntu); otherwise pass --kernel to isobench"
command -v dpkg >/dev/null || fail "needs dpkg to unpack the package"
# depmod -b writes modules.dep into the unpacked tree (packages ship none); it is in sbin.
depmod=$(PATH="$PATH:/usr/sbin:/sbin" command -v depmod) ||
  fail "needs depmod (Debian package kmod) to read the modules' dependencies"

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
  [ -s "$cache/modules/order" ] || return 1
  while read -r module; do [ -f "$cache/modules/$module" ] || return 1; done <"$cache/modules/order"
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

# The package ships modules.order but not modules.dep, which depmod writes at install time:
# write it here, into the unpacked tree only.
tree="$work/root/lib/modules/$version"
if [ ! -d "$tree" ] && [ -d "$work/root/usr/lib/modules/$version" ]; then
  ln -s usr/lib "$work/root/lib" # a merged-/usr package; depmod -b looks under lib/modules
fi
[ -d "$tree" ] || fail "$image has no lib/modules/$version"
if [ ! -f "$tree/modules.dep" ]; then
  "$depmod" -b "$work/root" "$version" || fail "depmod -b failed on $image"
fi

# modules.dep: "path: dep dep …", every dependency listed, the last to be loaded first.
order=()
add() {
  local module
  for module in "${order[@]}"; do [ "$module" = "$1" ] && return; done
  order+=("$1")
}
for target in "${targets[@]}"; do
  line=$(grep -m 1 -E "(^|/)$target\.ko(\.xz|\.zst|\.gz)?:" "$tree/modules.dep") ||
    fail "module $target is not in the modules.dep of $image"
  read -r -a deps <<<"${line#*:}"
  for ((i = ${#deps[@]} - 1; i >= 0; i--)); do add "${deps[i]}"; done
  add "${line%%:*}"
done

mkdir -p "$cache"
rm -f "$cache/version" # written last: a cut-short run is redone next time
rm -rf "$cache/modules" # the modules of another version, or of another package
mkdir -p "$cache/modules"
cp "$kernel" "$cache/vmlinuz.tmp" && mv "$cache/vmlinuz.tmp" "$cache/vmlinuz"
names=()
for path in "${order[@]}"; do
  name=$(basename "$path")
  name="${name%.xz}" name="${name%.zst}" name="${name%.gz}"
  case "$path" in
    *.ko.xz) xz -dc "$tree/$path" >"$cache/modules/$name.tmp" ;;
    *.ko.zst) zstd -qdc "$tree/$path" >"$cache/modules/$name.tmp" ;;
    *.ko.gz) gzip -dc "$tree/$path" >"$cache/modules/$name.tmp" ;;
    *) cp "$tree/$path" "$cache/modules/$name.tmp" ;;
  esac || fail "cannot decompress $path (is xz, zstd or gzip installed?)"
  mv "$cache/modules/$name.tmp" "$cache/modules/$name"
  names+=("$name")
done
printf '%s\n' "${names[@]}" >"$cache/modules/order"
echo "$version" >"$cache/version"
echo "guest kernel $version in $cache ($(du -h "$cache/vmlinuz" | cut -f1)); modules in load order: ${names[*]}"
