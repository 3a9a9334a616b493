//! The native container launcher: namespaces, one cgroup per instance, pivot_root into the probe rootfs.
