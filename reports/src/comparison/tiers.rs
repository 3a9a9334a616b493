//! Which VMs each tier of the comparison sets against containers: the OS tier takes VMs that
//! boot a Linux kernel, the floor tier the bare guest; within a tier, the VMs of the most
//! trustworthy virtualization present (hardware KVM, else software KVM, else emulated), never
//! a mix. Warm starts (a restored snapshot) are no VMs of a tier: the tiers compare boots.
use crate::schema::{Flag, GuestKind, IsolatorRecord, Kind, RunRecord, Status};

/// The tiers, in the order every renderer shows them: the headline first.
pub const TIERS: [Tier; 2] = [Tier::Os, Tier::Floor];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// VMs that boot a Linux kernel, the textbook's sense: the headline verdicts.
    Os,
    /// The bare PVH guest (no OS): the least a VM costs.
    Floor,
}

impl Tier {
    /// The guest a VM of this tier runs.
    pub fn guest(self) -> GuestKind {
        match self {
            Tier::Os => GuestKind::Linux,
            Tier::Floor => GuestKind::Bare,
        }
    }

    /// The tier's name in `comparison.json`.
    pub fn key(self) -> &'static str {
        match self {
            Tier::Os => "os",
            Tier::Floor => "floor",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Tier::Os => "With an OS (the textbook's sense)",
            Tier::Floor => "Floor (no OS)",
        }
    }

    /// What the tier compares, in a few words.
    pub fn summary(self) -> &'static str {
        match self {
            Tier::Os => "containers against VMs that boot a Linux kernel",
            Tier::Floor => "containers against the bare guest, the least a VM costs",
        }
    }

    /// The header of the VM column.
    pub fn vm_label(self) -> &'static str {
        match self {
            Tier::Os => "VMs with Linux",
            Tier::Floor => "bare-guest VMs",
        }
    }

    /// `Linux-guest`, `bare-guest`: how the reason for a missing tier names its VMs.
    fn guest_words(self) -> &'static str {
        match self {
            Tier::Os => "Linux-guest",
            Tier::Floor => "bare-guest",
        }
    }
}

/// How a VM's guest instructions ran, most trustworthy first: a tier takes the first present.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Virtualization {
    /// KVM on the CPU's virtualization (or nested on it): not flagged software-kvm.
    HardwareKvm,
    /// KVM emulated in software (kvm_pvm): flagged software-kvm.
    SoftwareKvm,
    /// No KVM at all: QEMU's TCG emulates every instruction; flagged emulated.
    Emulated,
}

impl Virtualization {
    /// How `vm` ran, from its record: emulated, else flagged software-kvm, else hardware.
    pub fn of(vm: &IsolatorRecord) -> Virtualization {
        if is_emulated(vm) {
            Virtualization::Emulated
        } else if vm.flags.contains(&Flag::SoftwareKvm) {
            Virtualization::SoftwareKvm
        } else {
            Virtualization::HardwareKvm
        }
    }

    /// The name in `comparison.json`.
    pub fn key(self) -> &'static str {
        match self {
            Virtualization::HardwareKvm => "hardware-kvm",
            Virtualization::SoftwareKvm => "software-kvm",
            Virtualization::Emulated => "emulated",
        }
    }

    /// How the heading of a tier says it.
    pub fn describe(self) -> &'static str {
        match self {
            Virtualization::HardwareKvm => "on hardware KVM",
            Virtualization::SoftwareKvm => "on software KVM (timings mean little)",
            Virtualization::Emulated => "emulated: no hardware virtualization (QEMU TCG)",
        }
    }
}

/// Whether the isolator ran with no hardware virtualization (recorded, or flagged so).
pub(super) fn is_emulated(isolator: &IsolatorRecord) -> bool {
    isolator.emulated || isolator.flags.contains(&Flag::Emulated)
}

/// The VMs `tier` compares and how they ran: the measured VMs of the tier's guest with the most
/// trustworthy [`Virtualization`] among them; or why there are none, in one line.
pub(super) fn select(
    record: &RunRecord,
    tier: Tier,
) -> Result<(Virtualization, Vec<&IsolatorRecord>), String> {
    let of_tier: Vec<&IsolatorRecord> = record
        .isolators
        .iter()
        .filter(|i| i.kind == Kind::Microvm && i.guest() == tier.guest() && !i.warm_start)
        .collect();
    let measured: Vec<&IsolatorRecord> = of_tier
        .iter()
        .copied()
        .filter(|i| super::measured(i))
        .collect();
    let best = measured.iter().map(|i| Virtualization::of(i)).min();
    match best {
        Some(best) => Ok((
            best,
            measured
                .into_iter()
                .filter(|i| Virtualization::of(i) == best)
                .collect(),
        )),
        None => Err(missing(tier, &of_tier)),
    }
}

/// `no Linux-guest VM measured: microvm-linux unavailable, qemu-tcg failed to prepare`.
fn missing(tier: Tier, of_tier: &[&IsolatorRecord]) -> String {
    let why = if of_tier.is_empty() {
        "none in this run".to_string()
    } else {
        let each: Vec<String> = of_tier
            .iter()
            .map(|i| {
                let what = match i.status {
                    Status::Unavailable { .. } => "unavailable",
                    Status::PrepareFailed { .. } => "failed to prepare",
                    Status::Available => "had no successful trial",
                };
                format!("{} {what}", i.name)
            })
            .collect();
        each.join(", ")
    };
    format!("no {} VM measured: {why}", tier.guest_words())
}
