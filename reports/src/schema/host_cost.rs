//! Host cost as stored: what the whole host paid, read from /proc/meminfo and the system's CPU
//! accounting, while a batch of instances of one isolator was held at once, beside what the
//! instances' own accounting (PSS, cgroup kernel memory) attributed to them.
use serde::{Deserialize, Serialize};

/// One batch: `instances` held at once, the host read before launching and while all were held.
///
/// Growths are "while held" minus "before launching", over the whole batch (divide by
/// `instances` for one instance). Negative when the host freed more than the batch took.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostCostSample {
    /// Instances that were held (ready and alive) when the host was read.
    pub instances: u32,
    /// Growth of memory in use: MemTotal − free pages (MemFree plus the per-CPU free lists of
    /// /proc/zoneinfo) − Buffers − (Cached − Shmem). Page-cache churn moves free and cached
    /// memory together and leaves it alone, so it is the headline system-wide figure.
    pub used_growth_bytes: i64,
    /// Drop of MemAvailable (the kernel's own estimate; moves with page-cache churn).
    pub mem_available_drop_bytes: i64,
    /// Growth of Slab (reclaimable and not), SUnreclaim alone, PageTables, SecPageTables (KVM's
    /// and IOMMU page tables; 0 where the kernel does not report it), KernelStack and Percpu.
    pub slab_growth_bytes: i64,
    pub slab_unreclaimable_growth_bytes: i64,
    pub page_tables_growth_bytes: i64,
    pub secondary_page_tables_growth_bytes: i64,
    pub kernel_stack_growth_bytes: i64,
    pub percpu_growth_bytes: i64,
    /// Sum over the held instances of what their own accounting says: user-space PSS of
    /// anonymous and shmem memory (file pages are page cache, which `used` leaves out), and
    /// kernel memory (charged to their cgroups, or estimated from page tables and stacks).
    pub attributed_user_bytes: u64,
    pub attributed_kernel_bytes: u64,
    /// System-wide CPU time (user + system, every process and kernel thread) from the first launch
    /// until the last instance was gone, minus what the host burned at its idle rate over the
    /// same time. None where no system-wide CPU counter could be read.
    pub cpu_ns: Option<i64>,
    /// First launch until the last instance was gone.
    pub wall_ns: u64,
    /// How far memory in use moved during the quiet window before launching, while nothing was
    /// launched; large values mean something else on the host was allocating or freeing.
    pub quiet_drift_bytes: i64,
    /// Why this batch's memory figures cannot be trusted (the host moved while nothing was
    /// launched, or did not come back after teardown), if so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disturbed: Option<String>,
}

impl HostCostSample {
    /// Per-instance `used` growth.
    pub fn per_instance_used_bytes(&self) -> Option<f64> {
        (self.instances > 0).then(|| self.used_growth_bytes as f64 / f64::from(self.instances))
    }
    /// Per-instance attributed (user + kernel).
    pub fn per_instance_attributed_bytes(&self) -> Option<f64> {
        (self.instances > 0).then(|| {
            (self.attributed_user_bytes + self.attributed_kernel_bytes) as f64
                / f64::from(self.instances)
        })
    }
    /// Per-instance CPU for one launch → ready → teardown.
    pub fn per_instance_cpu_ns(&self) -> Option<f64> {
        let cpu = self.cpu_ns?;
        (self.instances > 0).then(|| cpu as f64 / f64::from(self.instances))
    }
}

/// An isolator's host cost in `isobench run`: repeated batches and their per-instance medians.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostCost {
    /// Instances asked for per batch.
    pub batch: u32,
    /// Every batch, in run order (disturbed ones included, marked).
    pub samples: Vec<HostCostSample>,
    /// Medians over the undisturbed batches, per instance. None when every batch was disturbed.
    pub per_instance_used_bytes: Option<f64>,
    pub per_instance_attributed_bytes: Option<f64>,
    pub per_instance_attributed_kernel_bytes: Option<f64>,
    pub per_instance_mem_available_drop_bytes: Option<f64>,
    /// System-wide CPU for one launch → ready → teardown (median over batches).
    pub launch_cpu_ns: Option<f64>,
    /// per_instance_used_bytes minus the process baseline's in the same run.
    pub overhead_bytes: Option<f64>,
    /// (max − min) / median of the per-instance `used` over undisturbed batches.
    pub spread: Option<f64>,
}
