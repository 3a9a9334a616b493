//! Adapters for real engines found on the host: crun, runc, runsc, bwrap, unshare, qemu, firecracker, cloud-hypervisor, podman, docker.
