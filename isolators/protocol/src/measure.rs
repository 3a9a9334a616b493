//! What an isolator is and what it measured, in the shape the result schema stores: the class
//! of an isolator, whose kernel runs the workload, which guest a VM boots, and one instance's
//! memory and disk. Isolators fill these; reports read them; nothing copies them field by field.

/// The class of an isolator, which decides the group it lands in on the comparison table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum Kind {
    /// No isolation: the baseline.
    Process,
    /// Shared host kernel plus namespaces and cgroups.
    Container,
    /// A user-space kernel between workload and host (gVisor).
    Sandbox,
    /// Own guest kernel under hardware virtualization.
    Microvm,
}

/// Whose kernel runs the workload's system calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum KernelKind {
    Shared,
    Userspace,
    Own,
}

/// Which guest a VM boots: none (not a VM), isobench's bare PVH code, or a Linux kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum GuestKind {
    None,
    Bare,
    Linux,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Process => "process",
            Kind::Container => "container",
            Kind::Sandbox => "sandbox",
            Kind::Microvm => "microvm",
        }
    }
}

impl KernelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            KernelKind::Shared => "shared",
            KernelKind::Userspace => "userspace",
            KernelKind::Own => "own",
        }
    }
}

/// One memory sample of one instance, taken while the probe holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct MemoryUsage {
    /// PSS summed over every host process of the instance (smaps_rollup).
    pub pss_bytes: u64,
    /// RSS summed likewise (double-counts shared pages; for reference).
    pub rss_bytes: u64,
    /// The part of the PSS that is anonymous or shmem memory (Pss_Anon + Pss_Shmem): what the
    /// instance allocated. The rest is file pages, already in the host's page cache. None
    /// where smaps_rollup has no Pss_Anon (Linux before 5.8).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub pss_anon_bytes: Option<u64>,
    /// How many host processes were measured.
    pub processes: u32,
    /// Total charged to the instance's cgroup (v2 memory.current; v1 rss+cache+kernel).
    pub cgroup_bytes: Option<u64>,
    /// Kernel memory charged to the cgroup (slab, stacks, page tables), not in any PSS.
    pub cgroup_kernel_bytes: Option<u64>,
    /// Why the cgroup's kernel memory is not measured (the kernel has no such file, or the
    /// instance has no cgroup of its own), when it is not. Never silently 0.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub kernel_not_measured: Option<String>,
    /// Kernel memory of the instance's processes that sit in no cgroup of the instance, from
    /// /proc/PID/status: page tables (VmPTE) plus one kernel stack per thread. A lower bound:
    /// task structures and other slab objects are not in it.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub kernel_estimate_bytes: Option<u64>,
    /// VMs: guest RAM pages resident on the host.
    pub guest_ram_resident_bytes: Option<u64>,
    /// VMs: resident memory of the VMM outside guest RAM (Firecracker's definition).
    pub vmm_overhead_bytes: Option<u64>,
}

impl MemoryUsage {
    /// What the instance costs the host by its own accounting: PSS plus kernel memory charged to
    /// its cgroup plus the estimate for its processes outside it.
    pub fn footprint_bytes(&self) -> u64 {
        self.pss_bytes + self.kernel_bytes()
    }

    /// Kernel memory attributed to the instance: cgroup-charged plus estimated.
    pub fn kernel_bytes(&self) -> u64 {
        self.cgroup_kernel_bytes.unwrap_or(0) + self.kernel_estimate_bytes.unwrap_or(0)
    }
}

/// What an isolator needs on disk to run the probe: runtime (engine executables, helpers and
/// the shared libraries they load, deduplicated) and image (rootfs, bundle, kernel + initramfs,
/// guest ELF), apparent (file sizes) and allocated (blocks in use).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct DiskFootprint {
    pub runtime_apparent_bytes: u64,
    pub runtime_allocated_bytes: u64,
    pub image_apparent_bytes: u64,
    pub image_allocated_bytes: u64,
    /// Every runtime file counted, for the curious.
    #[cfg_attr(feature = "serde", serde(default))]
    pub runtime_files: Vec<String>,
    #[cfg_attr(feature = "serde", serde(default))]
    pub image_files: Vec<String>,
}

impl DiskFootprint {
    pub fn total_apparent_bytes(&self) -> u64 {
        self.runtime_apparent_bytes + self.image_apparent_bytes
    }
    pub fn total_allocated_bytes(&self) -> u64 {
        self.runtime_allocated_bytes + self.image_allocated_bytes
    }
}
