//! Running the probe's workloads: nothing, memory to fault in, or a microbenchmark that times
//! itself. What they are and how they are spelled is `isobench_protocol::Workload`'s.
use std::hint::black_box;
use std::io::Write;
use std::time::Instant;

use isobench_protocol::{Mode, Workload};

const MIB: usize = 1 << 20;
const PAGE: usize = 4096;

/// Reads a workload (`noop`, `touch:<MiB>`, …, optionally `,delay_us=<N>`) with the one
/// grammar, `isobench_protocol::Workload`'s.
pub fn parse(text: &str) -> Result<Workload, String> {
    text.parse::<Workload>().map_err(|e| e.to_string())
}

/// What a workload did; memory it faulted in stays alive until this is dropped.
pub struct Outcome {
    mode_name: &'static str,
    work_ns: u128,
    held: Vec<u8>,
    checksum: u64,
}

impl Outcome {
    pub fn report(&self) -> String {
        format!(
            "mode={} work_ns={} held_bytes={} checksum={}",
            self.mode_name,
            self.work_ns,
            self.held.len(),
            self.checksum
        )
    }
}

/// Runs the workload; an `io` workload that cannot write its file is an error, never a zero.
pub fn run(mode: &Mode) -> Result<Outcome, String> {
    let start = Instant::now();
    let (held, checksum) = match *mode {
        Mode::Noop => (Vec::new(), 0),
        Mode::Touch { mib } => (touch(mib)?, 0),
        Mode::Cpu { million_iterations } => (Vec::new(), cpu(million_iterations)),
        Mode::Syscall { calls } => (Vec::new(), syscalls(calls)),
        Mode::Mem { mib } => (Vec::new(), memcpy(mib)?),
        Mode::Io { kib } => (Vec::new(), io(kib as usize)?),
        // Supervising a command is the supervisor's (main.rs dispatches before this).
        Mode::Exec => return Err("exec mode is run by the supervisor, not as a workload".into()),
    };
    Ok(Outcome {
        mode_name: mode.name(),
        work_ns: start.elapsed().as_nanos(),
        held,
        checksum,
    })
}

/// `mib` MiB of zeroed memory, or why it cannot be had (instead of an abort on a failed
/// allocation): the reservation is tried first and given back, then the zeroed buffer taken,
/// so pages are still faulted in by the workload's writes, not by a memset.
fn allocate(mode: &str, mib: u64) -> Result<Vec<u8>, String> {
    let cannot = |why: &dyn std::fmt::Display| {
        format!("{mode} workload: cannot allocate {mib} MiB: {why}; choose a smaller size")
    };
    let bytes = usize::try_from(mib)
        .ok()
        .and_then(|m| m.checked_mul(MIB))
        .ok_or_else(|| cannot(&"more than this address space holds"))?;
    Vec::<u8>::new()
        .try_reserve_exact(bytes)
        .map_err(|e| cannot(&e))?;
    Ok(vec![0u8; bytes])
}

/// Faults in `mib` MiB by writing one byte per page.
fn touch(mib: u64) -> Result<Vec<u8>, String> {
    let mut memory = allocate("touch", mib)?;
    for offset in (0..memory.len()).step_by(PAGE) {
        memory[offset] = 1;
    }
    black_box(&mut memory);
    Ok(memory)
}

/// A fixed amount of integer work: xorshift32 (13, 17, 5), one million rounds per unit. The
/// bare microVM guest runs this very loop in 32-bit code (`microvm::bare_work`), so the two
/// execute the same instruction stream.
fn cpu(million_iterations: u64) -> u64 {
    let mut state = 0x9E37_79B9u32;
    for _ in 0..million_iterations {
        for _ in 0..1_000_000 {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
        }
        state = black_box(state);
    }
    u64::from(state)
}

/// `calls` round trips into the kernel (getppid).
fn syscalls(calls: u64) -> u64 {
    let mut sum = 0u64;
    for _ in 0..calls {
        sum = sum.wrapping_add(std::os::unix::process::parent_id() as u64);
    }
    black_box(sum)
}

/// Copies a `mib` MiB buffer eight times (an empty one when `mib` is 0).
fn memcpy(mib: u64) -> Result<u64, String> {
    let mut source = allocate("mem", mib)?;
    source.fill(7);
    let mut target = allocate("mem", mib)?;
    for _ in 0..8 {
        target.copy_from_slice(black_box(&source));
    }
    Ok(black_box(
        target.get(target.len() / 2).map_or(0, |&b| u64::from(b)),
    ))
}

/// Writes `kib` KiB to a new file in `ISOBENCH_IO_DIR` (default /tmp), fsyncs it, removes it.
/// Returns the bytes written, or what went wrong and where.
fn io(kib: usize) -> Result<u64, String> {
    let dir = std::env::var("ISOBENCH_IO_DIR").unwrap_or_else(|_| "/tmp".into());
    let path = format!("{dir}/isobench-probe-io.{}", std::process::id());
    let block = vec![0x5au8; 4096];
    let result = (|| -> std::io::Result<u64> {
        let mut file = std::fs::File::create(&path)?;
        let mut written = 0u64;
        while (written as usize) < kib * 1024 {
            file.write_all(&block)?;
            written += block.len() as u64;
        }
        file.sync_all()?;
        Ok(written)
    })();
    let _ = std::fs::remove_file(&path);
    result.map_err(|e| {
        format!(
            "io workload: cannot write and fsync {path}: {e} (the instance needs a writable {dir})"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_with_the_protocol_grammar() {
        assert_eq!(parse("touch:8").unwrap().mode, Mode::Touch { mib: 8 });
        assert_eq!(parse("noop,delay_us=50").unwrap().startup_delay_us, 50);
        assert!(parse("dance").unwrap_err().contains("use noop"));
        assert!(parse("touch:x").is_err());
    }

    /// The grammar refuses these, but the probe may be handed a mode directly: never a panic
    /// (mem:0 indexed an empty buffer) or an abort (a failed allocation).
    #[test]
    fn sizes_it_cannot_run_are_errors_not_crashes() {
        let empty = run(&Mode::Mem { mib: 0 }).unwrap();
        assert!(empty.report().contains("mode=mem"));
        let error = run(&Mode::Touch { mib: 1 << 40 }).err().expect("must fail");
        assert!(
            error.contains("cannot allocate 1099511627776 MiB"),
            "{error}"
        );
        let error = run(&Mode::Mem { mib: u64::MAX }).err().expect("must fail");
        assert!(error.contains("choose a smaller size"), "{error}");
    }

    #[test]
    fn touch_holds_the_memory() {
        let outcome = run(&Mode::Touch { mib: 2 }).unwrap();
        assert_eq!(outcome.held.len(), 2 * MIB);
        assert!(outcome.report().contains("held_bytes=2097152"));
    }

    /// xorshift32 (13, 17, 5) from 0x9E3779B9 after 1 000 000 rounds, computed in Python.
    const XORSHIFT32_AFTER_ONE_MILLION: u64 = 1_287_555_766;

    #[test]
    fn cpu_is_xorshift32_from_the_golden_ratio() {
        // One million rounds, computed independently (Python, 32-bit masks).
        assert_eq!(cpu(1), XORSHIFT32_AFTER_ONE_MILLION);
    }

    #[test]
    fn io_into_a_missing_directory_is_an_error_that_names_it() {
        std::env::set_var("ISOBENCH_IO_DIR", "/nonexistent-isobench");
        let error = run(&Mode::Io { kib: 4 }).err().expect("must fail");
        std::env::remove_var("ISOBENCH_IO_DIR");
        assert!(error.contains("/nonexistent-isobench"), "{error}");
    }
}
