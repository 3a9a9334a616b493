//! The bare guest's workloads: the probe's `noop`, `touch`, `cpu` and `mem`, written as 32-bit
//! guest code, bracketed by work stamps on the boot-timer port so the VMM can time them.
//!
//! `cpu` is the probe's xorshift32 loop instruction for instruction (shift, xor, three times per
//! round, one million rounds per unit); `mem` fills a source buffer with 7s and copies it eight
//! times with `rep movsb`, as the probe's `memcpy` does on a buffer it allocated. `syscall`
//! needs a kernel (`microvm-linux`) and `io` a disk: both are refused.
//!
//! The stamps are `BOOT_TIMER_WORK_BEGIN` (124) and `BOOT_TIMER_WORK_END` (125) on the boot-timer
//! port: Firecracker's boot timer and other VMMs ignore values other than 123; isobench-vmm
//! reports both as phases.
use isobench_protocol::{BOOT_TIMER_PORT, BOOT_TIMER_WORK_BEGIN, BOOT_TIMER_WORK_END};

use super::asm::Asm;

/// Work memory starts at 2 MiB, after the image.
pub const WORK_MEMORY_START: u32 = 0x20_0000;
use isobench_protocol::guest_image::{MIB_BYTES as MIB, PAGE_BYTES as PAGE};
/// The probe's xorshift32 seed (the golden ratio) and rounds per unit.
const XORSHIFT_SEED: u32 = 0x9E37_79B9;
const ROUNDS_PER_UNIT: u32 = 1_000_000;
/// Copies per `mem` run, as in the probe.
const MEM_COPIES: u32 = 8;
/// Guest RAM is below 4 GiB in this 32-bit guest; keep `mem` buffers well inside it.
const MAX_WORK_MIB: u32 = 1024;

/// What the bare guest does before it is ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BareWork {
    Noop,
    /// One write per 4 KiB page over `mib` MiB.
    Touch {
        mib: u32,
    },
    /// `units` million rounds of xorshift32.
    Cpu {
        units: u32,
    },
    /// Fill `mib` MiB, then copy it `MEM_COPIES` times.
    Mem {
        mib: u32,
    },
}

impl BareWork {
    /// From a probe mode (`noop`, `touch:16`, `cpu:50`, `mem:64`), with the probe's defaults.
    pub fn from_mode(mode: &str) -> Result<BareWork, String> {
        let (name, value) = mode
            .split_once(':')
            .map_or((mode, None), |(n, v)| (n, Some(v)));
        let number = |default: u32| -> Result<u32, String> {
            let n = value.map_or(Ok(default), |v| {
                v.parse::<u32>()
                    .map_err(|_| format!("{mode:?}: {v:?} is not a whole number"))
            })?;
            Ok(n)
        };
        let work = match name {
            "noop" => BareWork::Noop,
            "touch" => BareWork::Touch { mib: number(16)? },
            "cpu" => BareWork::Cpu { units: number(50)? },
            "mem" => BareWork::Mem { mib: number(64)? },
            "io" => {
                return Err(format!(
                    "the bare guest has no disk for {mode:?} (microvm-linux has only a RAM /tmp, not comparable either); measure io with process and container-class isolators"
                ))
            }
            _ => {
                return Err(format!(
                    "the bare guest runs noop, touch:<MiB>, cpu:<M> and mem:<MiB>, not {mode:?}: syscall needs a kernel; use microvm-linux"
                ))
            }
        };
        if work.memory_mib() > MAX_WORK_MIB {
            return Err(format!(
                "{mode:?} needs {} MiB of guest memory; the bare guest keeps work under {MAX_WORK_MIB} MiB",
                work.memory_mib()
            ));
        }
        Ok(work)
    }

    /// MiB of guest memory the work writes, from [`WORK_MEMORY_START`].
    pub fn memory_mib(&self) -> u32 {
        match *self {
            BareWork::Noop | BareWork::Cpu { .. } => 0,
            BareWork::Touch { mib } => mib,
            BareWork::Mem { mib } => 2 * mib,
        }
    }

    /// Emits the work between a begin and an end stamp; registers are free to clobber.
    pub fn emit(&self, a: &mut Asm) {
        a.outb(BOOT_TIMER_PORT, BOOT_TIMER_WORK_BEGIN);
        match *self {
            BareWork::Noop => {}
            BareWork::Touch { mib } => emit_touch(a, mib),
            BareWork::Cpu { units } => emit_cpu(a, units),
            BareWork::Mem { mib } => emit_mem(a, mib),
        }
        a.outb(BOOT_TIMER_PORT, BOOT_TIMER_WORK_END);
    }
}

fn emit_touch(a: &mut Asm, mib: u32) {
    if mib == 0 {
        return;
    }
    a.bytes(&[0xBF]).imm32(WORK_MEMORY_START); // mov edi, WORK_MEMORY_START
    a.bytes(&[0xB9]).imm32(mib * (MIB / PAGE)); // mov ecx, pages
    a.label("touch");
    a.bytes(&[0xC6, 0x07, 0x01]); // mov byte [edi], 1
    a.bytes(&[0x81, 0xC7]).imm32(PAGE); // add edi, PAGE
    a.bytes(&[0x49]).jump8(0x75, "touch"); // dec ecx; jnz touch
}

fn emit_cpu(a: &mut Asm, units: u32) {
    if units == 0 {
        return;
    }
    a.bytes(&[0xBA]).imm32(XORSHIFT_SEED); // mov edx, seed (the state)
    a.bytes(&[0xBB]).imm32(units); // mov ebx, units
    a.label("cpu_unit");
    a.bytes(&[0xB9]).imm32(ROUNDS_PER_UNIT); // mov ecx, 1000000
    a.label("cpu_round");
    a.bytes(&[0x89, 0xD0, 0xC1, 0xE0, 13, 0x31, 0xC2]); // mov eax, edx; shl eax, 13; xor edx, eax
    a.bytes(&[0x89, 0xD0, 0xC1, 0xE8, 17, 0x31, 0xC2]); // mov eax, edx; shr eax, 17; xor edx, eax
    a.bytes(&[0x89, 0xD0, 0xC1, 0xE0, 5, 0x31, 0xC2]); // mov eax, edx; shl eax, 5; xor edx, eax
    a.bytes(&[0x49]).jump8(0x75, "cpu_round"); // dec ecx; jnz cpu_round
    a.bytes(&[0x4B]).jump8(0x75, "cpu_unit"); // dec ebx; jnz cpu_unit
}

fn emit_mem(a: &mut Asm, mib: u32) {
    if mib == 0 {
        return;
    }
    let source = WORK_MEMORY_START;
    let target = WORK_MEMORY_START + mib * MIB;
    a.bytes(&[0xFC]); // cld
    a.bytes(&[0xBF]).imm32(source); // mov edi, source
    a.bytes(&[0xB9]).imm32(mib * MIB); // mov ecx, bytes
    a.mov_al(7).bytes(&[0xF3, 0xAA]); // mov al, 7; rep stosb
    a.bytes(&[0xBB]).imm32(MEM_COPIES); // mov ebx, 8
    a.label("mem_copy");
    a.bytes(&[0xBE]).imm32(source); // mov esi, source
    a.bytes(&[0xBF]).imm32(target); // mov edi, target
    a.bytes(&[0xB9]).imm32(mib * MIB); // mov ecx, bytes
    a.bytes(&[0xF3, 0xA4]); // rep movsb
    a.bytes(&[0x4B]).jump8(0x75, "mem_copy"); // dec ebx; jnz mem_copy
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_map_to_work_with_the_probe_defaults() {
        assert_eq!(BareWork::from_mode("noop"), Ok(BareWork::Noop));
        assert_eq!(
            BareWork::from_mode("touch"),
            Ok(BareWork::Touch { mib: 16 })
        );
        assert_eq!(BareWork::from_mode("cpu:3"), Ok(BareWork::Cpu { units: 3 }));
        assert_eq!(BareWork::from_mode("mem"), Ok(BareWork::Mem { mib: 64 }));
        assert_eq!(BareWork::from_mode("mem:8").unwrap().memory_mib(), 16);
        for refused in ["syscall:10", "io:64", "dance"] {
            let message = BareWork::from_mode(refused).unwrap_err();
            assert!(message.contains("microvm-linux"), "{message}");
        }
        assert!(BareWork::from_mode("io:64")
            .unwrap_err()
            .contains("no disk"));
        assert!(BareWork::from_mode("mem:900")
            .unwrap_err()
            .contains("1024 MiB"));
        assert!(BareWork::from_mode("cpu:x").is_err());
    }

    #[test]
    fn every_work_is_bracketed_by_the_two_stamps() {
        for work in [
            BareWork::Noop,
            BareWork::Touch { mib: 1 },
            BareWork::Cpu { units: 1 },
            BareWork::Mem { mib: 1 },
        ] {
            let mut a = Asm::new(0x10_0000);
            work.emit(&mut a);
            let code = a.finish();
            let begin = [0xB0, BOOT_TIMER_WORK_BEGIN, 0x66, 0xBA, 0xF0, 0x03, 0xEE];
            let end = [0xB0, BOOT_TIMER_WORK_END, 0x66, 0xBA, 0xF0, 0x03, 0xEE];
            assert_eq!(code[..7], begin, "{work:?}");
            assert_eq!(code[code.len() - 7..], end, "{work:?}");
        }
    }
}
