//! The end of a VM: the order in which `isobench-vmm` hands its VM back to the kernel.
//!
//! Closing the last VM descriptor runs the kernel's `kvm_destroy_vm` in our process, before
//! it exits, so the harness reaps the VMM only once the VM is freed. On Linux 6.18 that
//! destruction ends with `srcu_barrier(&kvm->srcu)`: it waits for every callback still queued
//! on the VM's SRCU domain. Creating the in-kernel irqchip queues some (the I/O buses that the
//! PIC, ELCR and IOAPIC registrations replaced are freed after a *normal* SRCU grace period,
//! several scheduler ticks), and the bare guest lives a few milliseconds, less than that
//! grace period: its teardown waited 9–10 ms in `srcu_barrier` (traced with ftrace).
//!
//! Deleting guest RAM's memory slots first makes KVM ask for an *expedited* grace period on
//! the same domain (`synchronize_srcu_expedited` when the active memslots are swapped), which
//! also completes the callbacks queued before it without their own tick of delay. It cannot
//! bring forward the grace period's worker, queued 1–2 ticks after the irqchip was made, so a
//! VM younger than that still waits for it (README, "Teardown: where the time goes"). The
//! kernel does the same work either way, in our process and before it exits.
//!
//! A VM with a split irqchip (`--split-irqchip`, `devices::ioapic`) makes no such registrations,
//! so nothing waits at all and its slots are not deleted first.
use kvm_bindings::kvm_userspace_memory_region;
use kvm_ioctls::{VcpuFd, VmFd};
use vm_memory::{GuestMemoryBackend, GuestMemoryMmap, GuestMemoryRegion};

/// Frees the VM: deletes its memory slots, then closes the vCPU and the VM (the kernel
/// destroys the VM in the last close). Guest RAM itself is unmapped later by its owner.
pub fn end_vm(vm: VmFd, vcpu: VcpuFd, memory: &GuestMemoryMmap) {
    delete_memory_slots(&vm, memory);
    drop(vcpu);
    drop(vm);
}

/// Frees a VM with a split irqchip (`--split-irqchip`): closes the vCPU and the VM at once.
/// No I/O bus registration queued callbacks on its SRCU domain, so `kvm_destroy_vm`'s
/// `srcu_barrier` has nothing to wait for, and deleting the slots first would only add an
/// expedited grace period (a 2 MiB VM on the build host, medians of 40 in four runs: delete
/// and close 0.15–0.30 ms, close alone 0.14–0.16 ms).
pub fn end_split_irqchip_vm(vm: VmFd, vcpu: VcpuFd) {
    drop(vcpu);
    drop(vm);
}

/// Deletes each memory slot [`crate::memory::register`] made (a slot of size 0 is a deletion).
/// Only the time of the teardown depends on it: a kernel that refused would free the slots
/// when the VM is destroyed, so a failure is not reported.
fn delete_memory_slots(vm: &VmFd, memory: &GuestMemoryMmap) {
    for (slot, region) in memory.iter().enumerate() {
        let deletion = kvm_userspace_memory_region {
            slot: slot as u32,
            guest_phys_addr: region.start_addr().0,
            memory_size: 0,
            userspace_addr: region.as_ptr() as u64,
            flags: 0,
        };
        // SAFETY: deleting a slot only removes KVM's reference to guest RAM; the vCPU no
        // longer runs, and the mapping outlives the VM either way.
        let _ = unsafe { vm.set_user_memory_region(deletion) };
    }
}
