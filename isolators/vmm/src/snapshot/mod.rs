//! Warm starts: taking a snapshot of a running guest at its ready point (`--snapshot DIR`) and
//! loading one back (`--restore DIR`, see `restore.rs`).
//!
//! A snapshot directory holds two files: `memory`, guest RAM as a sparse file
//! ([`memory_file`]), and `vm.state`, a versioned header and the vCPU, chip and device state
//! ([`format`], [`state`]).
pub mod format;
pub mod memory_file;
pub mod state;

use std::path::{Path, PathBuf};

use kvm_ioctls::{Kvm, VcpuFd, VmFd};
use vm_memory::GuestMemoryMmap;

use crate::devices::serial::Uart;
use crate::error::{Error, Result};
use format::{Header, FORMAT_VERSION, HEADER_BYTES, VMM_VERSION};
use state::{ChipsOf, VmState};

pub const STATE_FILE: &str = "vm.state";
pub const MEMORY_FILE: &str = "memory";

/// The snapshot's CRC-32 (ISO-HDLC, zlib's polynomial), slice-by-16 from tables built at
/// compile time. Not crc32fast: its first hash detects CPU features at run time, nine or so
/// CPUID instructions, and CPUID exits to the hypervisor wherever the VMM host is itself a VM
/// (about 5 µs each on our build hosts: ~45 µs of every restore, which checks the state's
/// CRC). The state is ~11 KiB; table-driven is fast enough for it and for guest RAM.
pub(crate) const CRC32: crc::Crc<u32, crc::Table<16>> =
    crc::Crc::<u32, crc::Table<16>>::new(&crc::CRC_32_ISO_HDLC);

/// Snapshots the VM whose vCPU just left `KVM_RUN` at the guest's boot-timer write; returns
/// the guest memory checksum written in the header. `chips` says which interrupt controllers
/// the VM has: KVM's (with its PIT or without) or a split irqchip with the VMM's I/O APIC.
///
/// KVM finishes a port write (advancing the guest past the `out`) only when userspace enters
/// `KVM_RUN` again, so first `KVM_RUN` runs once with `immediate_exit` set: it completes the
/// pending I/O and returns EINTR without running guest code. The state saved is then the
/// guest's just after its ready signal, and resuming it runs the instructions that follow.
pub fn take(
    kvm: &Kvm,
    vm: &VmFd,
    vcpu: &mut VcpuFd,
    memory: &GuestMemoryMmap,
    uart: &Uart,
    chips: ChipsOf,
    dir: &Path,
) -> Result<u32> {
    vcpu.set_kvm_immediate_exit(1);
    let completed = match vcpu.run() {
        Err(e) if e.errno() == libc::EINTR => Ok(()),
        Err(source) => Err(Error::Kvm {
            what: "complete the pending I/O",
            source,
        }),
        Ok(exit) => Err(Error::SnapshotState(format!(
            "KVM_RUN with immediate_exit returned {exit:?} instead of EINTR"
        ))),
    };
    vcpu.set_kvm_immediate_exit(0);
    completed?;
    let state = VmState::capture(kvm, vm, vcpu, chips, uart.state())?;
    std::fs::create_dir_all(dir).map_err(|source| Error::Host {
        what: "create the snapshot directory",
        source,
    })?;
    let memory_crc32 = memory_file::write(memory, &dir.join(MEMORY_FILE))?;
    let body = state.encode();
    let header = Header {
        format_version: FORMAT_VERSION,
        vmm_version: VMM_VERSION.into(),
        mem_bytes: vm_memory::GuestMemoryBackend::iter(memory)
            .map(vm_memory::GuestMemoryRegion::len)
            .sum(),
        state_len_bytes: body.len() as u64,
        state_crc32: CRC32.checksum(&body),
        memory_crc32,
    };
    let mut bytes = header.to_bytes();
    bytes.extend_from_slice(&body);
    std::fs::write(dir.join(STATE_FILE), bytes).map_err(|source| Error::Host {
        what: "write the snapshot state file",
        source,
    })?;
    Ok(memory_crc32)
}

/// A checked snapshot: its header, its state, and where its memory file is.
pub struct Snapshot {
    pub header: Header,
    pub state: VmState,
    pub state_path: PathBuf,
    pub memory_path: PathBuf,
}

/// Reads `dir/vm.state` and checks it before anything else happens: magic, versions, the
/// guest memory size against `mem_mib` (when the caller names one), length, checksum.
pub fn load(dir: &Path, mem_mib: Option<u32>) -> Result<Snapshot> {
    let state_path = dir.join(STATE_FILE);
    let bytes = std::fs::read(&state_path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => Error::Snapshot {
            path: state_path.clone(),
            detail: "no such file — take one first with isobench-vmm --snapshot DIR".into(),
        },
        _ => Error::Read {
            path: state_path.clone(),
            source,
        },
    })?;
    let header = Header::parse(&bytes, &state_path)?;
    if let Some(asked_mib) = mem_mib {
        if header.mem_bytes != u64::from(asked_mib) << 20 {
            return Err(Error::SnapshotMemorySize {
                path: state_path,
                snapshot_mib: header.mem_bytes >> 20,
                asked_mib,
            });
        }
    }
    let bad = |detail: String| Error::Snapshot {
        path: state_path.clone(),
        detail,
    };
    let body = &bytes[HEADER_BYTES..];
    if (body.len() as u64) != header.state_len_bytes {
        let what = match (body.len() as u64) < header.state_len_bytes {
            true => "truncated",
            false => "too long",
        };
        return Err(bad(format!(
            "{what}: {} bytes of state where its header says {} — take the snapshot again",
            body.len(),
            header.state_len_bytes
        )));
    }
    if CRC32.checksum(body) != header.state_crc32 {
        return Err(bad(
            "corrupted: the state's checksum does not match its header — take the snapshot again"
                .into(),
        ));
    }
    let state = VmState::decode(body)?;
    Ok(Snapshot {
        header,
        state,
        state_path,
        memory_path: dir.join(MEMORY_FILE),
    })
}
