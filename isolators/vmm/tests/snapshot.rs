//! Snapshots on /dev/kvm: a guest snapshotted at its ready signal and restored resumes right
//! after it, with the same guest memory; each damaged or mismatched snapshot is refused in one
//! line before anything runs.
mod common;

use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Duration;

use common::guests::{elf64, Code, LOAD_ADDRESS};
use common::{check_kvm, monotonic_ns, pipe, run_if, write_file, Outcome, Run};

const MEM_MIB: &str = "16";

/// Boots a guest that signals ready, prints "R", echoes one serial byte and exits, with
/// `--snapshot dir`; the echo byte is sent only once the snapshot is written, so it is not
/// in the snapshot's serial FIFO. Returns the snapshot run's outcome.
fn take_snapshot(dir: &Path) -> Outcome {
    let code = Code::default()
        .ready()
        .print(b"R")
        .echo_one_serial_byte()
        .exit()
        .bytes();
    let kernel = write_file(dir, "guest.elf", &elf64(&code, true));
    let snapshot = dir.join("snap");
    let mut running = Run::kernel(
        &kernel,
        &[
            "--mem-mib",
            MEM_MIB,
            "--no-pit",
            "--snapshot",
            &snapshot.to_string_lossy(),
        ],
    )
    .spawn();
    running.wait_for("phase snapshot");
    running.write_stdin(b"a");
    let outcome = running.finish();
    assert_eq!(outcome.code, Some(0), "{outcome:?}");
    assert_eq!(outcome.stdout, b"Ra");
    outcome
}

fn restore(dir: &Path, extra: &[&str], stdin: &'static [u8]) -> Outcome {
    let mut run = Run::new(&["--restore", &dir.join("snap").to_string_lossy()]);
    run.args.extend(extra.iter().map(|a| a.to_string()));
    run.stdin = stdin;
    run.go()
}

fn kvm_or_skip(test: &str) -> bool {
    run_if(test, "kvm", check_kvm())
}

#[test]
fn a_restored_guest_resumes_after_its_ready_signal_with_the_same_memory() {
    if !kvm_or_skip("a_restored_guest_resumes_after_its_ready_signal_with_the_same_memory") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let taken = take_snapshot(dir.path());
    let taken_crc = taken.line("memory-crc32 ").expect("a checksum").to_string();
    // The port write was completed before the state was saved: the guest is past its `out`
    // (mov al, 123 · mov dx, 0x3f0 · out dx, al: 7 bytes from the load address), so a restore
    // resumes after its ready signal instead of repeating it. kvm_pvm exits with `rip` already
    // past the `out`; hardware KVM's fast port I/O advances it only on the next KVM_RUN, which
    // is what the snapshot's immediate-exit run is for (nested_restore checks it on kvm-amd).
    let snapshot = isobench_vmm::snapshot::load(&dir.path().join("snap"), None).unwrap();
    assert_eq!(snapshot.state.regs.rip, LOAD_ADDRESS + 7);
    assert_eq!(snapshot.header.mem_bytes, 16 << 20);
    let memory = dir.path().join("snap/memory");
    let size = std::fs::metadata(&memory).unwrap().len();
    assert_eq!(size, 16 << 20, "the memory file is the guest's RAM");
    let allocated = std::os::unix::fs::MetadataExt::blocks(&std::fs::metadata(&memory).unwrap());
    assert!(allocated * 512 < 1 << 20, "sparse: {allocated} blocks");

    // Twice from the same snapshot: copy-on-write leaves the file as it was.
    for echo in [&b"b"[..], b"c"] {
        let restored = restore(dir.path(), &["--verify-memory"], echo);
        assert_eq!(restored.code, Some(0), "{restored:?}");
        assert_eq!(restored.line("memory-crc32 "), Some(taken_crc.as_str()));
        // It runs on from the instruction after `out 0x3f0`: prints R, echoes, exits.
        let mut expected = b"R".to_vec();
        expected.extend_from_slice(echo);
        assert_eq!(restored.stdout, expected);
        let kinds: Vec<&str> = restored
            .report
            .iter()
            .map(|l| match l.split(' ').next().unwrap() {
                "phase" => l.split(' ').nth(1).unwrap(),
                other => other,
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "vmm-exec",
                "guest-ram",
                "snapshot-map",
                "restore-state",
                "memory-crc32",
                "resume",
                "ready",
                "exit"
            ],
            "{:?}",
            restored.report
        );
        assert!(restored.stamp("phase resume") <= restored.stamp("ready "));
        assert_eq!(restored.report.last().unwrap(), "exit exit-port");
    }
}

/// Takes a snapshot, damages it with `damage` and checks the restore fails with one line
/// containing `needle`.
fn refused(test: &str, extra: &[&str], needle: &str, damage: impl FnOnce(&Path)) {
    if !kvm_or_skip(test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    take_snapshot(dir.path());
    damage(&dir.path().join("snap"));
    let outcome = restore(dir.path(), extra, b"x");
    outcome.assert_one_line_error(needle);
    assert_eq!(outcome.stdout, b"", "the guest never ran");
}

fn rewrite(path: &Path, at: u64, bytes: &[u8]) {
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.write_all_at(bytes, at).unwrap();
}

#[test]
fn a_snapshot_from_another_vmm_version_is_refused() {
    refused(
        "a_snapshot_from_another_vmm_version_is_refused",
        &[],
        "written by isobench-vmm 9.9.9",
        |snap| rewrite(&snap.join("vm.state"), 12, b"9.9.9\0"),
    );
}

#[test]
fn a_truncated_state_file_is_refused() {
    refused(
        "a_truncated_state_file_is_refused",
        &[],
        "truncated",
        |snap| {
            let state = snap.join("vm.state");
            let len = std::fs::metadata(&state).unwrap().len();
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(&state)
                .unwrap();
            file.set_len(len - 100).unwrap();
        },
    );
}

#[test]
fn a_truncated_memory_file_is_refused() {
    refused(
        "a_truncated_memory_file_is_refused",
        &[],
        "truncated",
        |snap| {
            let memory = std::fs::OpenOptions::new()
                .write(true)
                .open(snap.join("memory"))
                .unwrap();
            memory.set_len((16 << 20) - 4096).unwrap();
        },
    );
}

#[test]
fn a_different_guest_memory_size_is_refused() {
    refused(
        "a_different_guest_memory_size_is_refused",
        &["--mem-mib", "32"],
        "its guest has 16 MiB of RAM, --mem-mib asks for 32",
        |_| {},
    );
}

#[test]
fn a_bad_magic_is_refused() {
    refused("a_bad_magic_is_refused", &[], "bad magic", |snap| {
        rewrite(&snap.join("vm.state"), 0, b"NOTASNAP")
    });
}

#[test]
fn a_corrupted_state_is_refused() {
    refused(
        "a_corrupted_state_is_refused",
        &[],
        "checksum does not match",
        |snap| rewrite(&snap.join("vm.state"), 200, b"\xff\xfe\xfd"),
    );
}

#[test]
fn changed_guest_memory_is_refused_when_verified() {
    refused(
        "changed_guest_memory_is_refused_when_verified",
        &["--verify-memory"],
        "guest memory checksum",
        // The guest's code page, at 1 MiB.
        |snap| rewrite(&snap.join("memory"), 0x10_0000, b"\x90"),
    );
}

#[test]
fn a_missing_snapshot_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let outcome = restore(dir.path(), &[], b"");
    outcome.assert_one_line_error("no such file — take one first");
}

/// `--start-fd`: the VMM comes up, says `vmm-exec`, and does nothing of the restore until the
/// start byte arrives (its next line is `restore-start`, stamped after the byte was sent); a
/// start pipe closed without a byte ends it in one line, the guest never having run.
#[test]
fn a_restore_started_ahead_waits_for_its_start_byte() {
    if !kvm_or_skip("a_restore_started_ahead_waits_for_its_start_byte") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    take_snapshot(dir.path());
    let snapshot = dir.path().join("snap");
    for send_start in [true, false] {
        let (start_read, start_write) = pipe();
        let start_fd = start_read.as_raw_fd().to_string();
        let mut run = Run::new(&[
            "--restore",
            &snapshot.to_string_lossy(),
            "--start-fd",
            &start_fd,
        ]);
        run.inherit_fds = vec![start_read.as_raw_fd()];
        let mut running = run.spawn();
        drop(start_read);
        running.wait_for("phase vmm-exec");
        std::thread::sleep(Duration::from_millis(200));
        assert!(running.child.try_wait().unwrap().is_none(), "it waits");
        if !send_start {
            drop(start_write);
            let outcome = running.finish();
            outcome.assert_one_line_error("closed before the start byte");
            assert_eq!(outcome.stdout, b"", "the guest never ran");
            assert_eq!(outcome.report.len(), 2, "{:?}", outcome.report);
            continue;
        }
        let sent_ns = monotonic_ns();
        std::fs::File::from(start_write).write_all(b"s").unwrap();
        let next = running.wait_for("");
        let stamp: u64 = next
            .strip_prefix("phase restore-start ")
            .unwrap_or_else(|| panic!("the next line is not restore-start: {next:?}"))
            .parse()
            .unwrap();
        assert!(
            stamp >= sent_ns,
            "restore-start {stamp} before the byte at {sent_ns}"
        );
        running.write_stdin(b"s");
        let outcome = running.finish();
        assert_eq!(outcome.code, Some(0), "{outcome:?}");
        assert_eq!(outcome.stdout, b"Rs");
        assert!(outcome.stamp("phase restore-start") <= outcome.stamp("phase snapshot-map"));
        assert_eq!(outcome.report.last().unwrap(), "exit exit-port");
    }
}

/// A VM with a split irqchip is snapshotted with the VMM's I/O APIC registers and restored on
/// a split irqchip again: the guest programmed pin 4 before its ready signal and, restored,
/// reads the entry back from the restored I/O APIC.
#[test]
fn a_split_irqchip_snapshot_restores_the_vmms_io_apic() {
    if !kvm_or_skip("a_split_irqchip_snapshot_restores_the_vmms_io_apic") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (index, data) = (0xfec0_0000, 0xfec0_0010);
    let mut code = Code::default();
    code.store32(index, 0x10 + 2 * 4).store32(data, 0x24); // pin 4: vector 0x24, unmasked
    code.ready();
    code.store32(index, 0x10 + 2 * 4)
        .load_eax_from(data)
        .print_al();
    code.echo_one_serial_byte().exit();
    let kernel = write_file(dir.path(), "pvh.elf", &elf64(&code.bytes(), true));
    let snapshot = dir.path().join("snap");
    let mut running = Run::kernel(
        &kernel,
        &[
            "--mem-mib",
            MEM_MIB,
            "--no-pit",
            "--split-irqchip",
            "--snapshot",
            &snapshot.to_string_lossy(),
        ],
    )
    .spawn();
    running.wait_for("phase snapshot");
    running.write_stdin(b"a");
    let taken = running.finish();
    assert_eq!(taken.code, Some(0), "{taken:?}");
    assert_eq!(taken.stdout, [0x24, b'a']);

    let loaded = isobench_vmm::snapshot::load(&snapshot, None).unwrap();
    match &loaded.state.chips {
        isobench_vmm::snapshot::state::Chips::Split { ioapic } => {
            assert_eq!(ioapic.redirection[4], 0x24, "pin 4 as the guest left it")
        }
        _ => panic!("a split irqchip's snapshot should say so"),
    }
    let restored = restore(dir.path(), &[], b"b");
    assert_eq!(restored.code, Some(0), "{restored:?}");
    assert_eq!(restored.stdout, [0x24, b'b'], "{restored:?}");
    assert_eq!(restored.report.last().unwrap(), "exit exit-port");
}
