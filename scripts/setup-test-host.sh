#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian 12 host (as root):
# build and test tools, the peer engines, fonts for criterion's charts, headless Chromium
# for the HTML report test, the guest kernel, and a running Docker daemon.
# Idempotent. Never installs a kernel on the host (the guest kernel is unpacked into a cache).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

if [ "$(id -u)" -ne 0 ]; then
  echo "setup-test-host.sh: run as root (it installs Debian packages)" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt_install() {
  local tries=0
  until apt-get install -y -q --no-install-recommends "$@"; do
    tries=$((tries + 1))
    [ "$tries" -lt 5 ] || { echo "setup-test-host.sh: apt-get install $* failed" >&2; return 1; }
    sleep 5
  done
}

# The probe and isobench-vmm are built against musl when its Rust target is installed (glibc's
# static start-up probes the CPU with ~60 CPUID instructions, ~0.3 ms a launch where CPUID
# traps); without it they fall back to glibc and the build says so.
if command -v rustup >/dev/null; then
  rustup target add x86_64-unknown-linux-musl ||
    echo "setup-test-host.sh: rustup target add x86_64-unknown-linux-musl failed: the probe and VMM will be built with glibc" >&2
fi

apt-get update -q
# cpio: the initramfs test lists archives with it; hyperfine: one-shot comparisons;
# fonts-dejavu-core + fontconfig: criterion's HTML charts need a system font;
# chromium: the end-to-end HTML report test; util-linux: unshare; procps: ps in leak checks;
# kmod: depmod, which fetch-guest-kernel.sh runs on the unpacked kernel for its modules.dep;
# xz-utils, zstd: compressed kernel modules.
apt_install ca-certificates cpio hyperfine fonts-dejavu-core fontconfig chromium util-linux procps xz-utils zstd kmod
# busybox-static: the probe's exec-mode tests run its httpd and nc as real servers and clients;
# the user-workload VM tests build a static rootfs from it (tests/user_workload_vms.rs).
apt_install busybox-static

# debugfs: the VM teardown tests check that KVM removed the VM's /sys/kernel/debug/kvm entry.
if ! mountpoint -q /sys/kernel/debug; then
  mount -t debugfs nodev /sys/kernel/debug
fi

"$here/install-peers.sh" --with-podman --start-docker
"$here/fetch-guest-kernel.sh"
# The Debian minbase rootfs (python3-minimal, busybox) user-workload tests run: cached in /var/cache/isobench.
apt_install debootstrap && "$here/make-debian-rootfs.sh"
