//! Real boots on /dev/kvm: hand-assembled guests through each entry protocol (PVH, 64-bit
//! ELF, bzImage), each way a guest ends the VM, and a real Linux kernel.
mod common;

use std::path::Path;
use std::time::Duration;

use common::guests::{bzimage, elf64, Code};
use common::{check_kvm, guest_kernel, required, run_if, software_kvm, write_file};
use common::{Outcome, Run};

fn kvm_or_skip(test: &str) -> bool {
    run_if(test, "kvm", check_kvm())
}

/// Asserts a clean end with `reason` and every report line in protocol order.
fn assert_clean_end(outcome: &Outcome, reason: &str) {
    assert_eq!(outcome.code, Some(0), "{outcome:?}");
    assert_eq!(outcome.stderr, "", "nothing on stderr");
    let kinds: Vec<&str> = outcome
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
            "kvm-create",
            "guest-ram",
            "memory",
            "kernel-load",
            "first-run",
            "ready",
            "exit"
        ],
        "report lines: {:?}",
        outcome.report
    );
    assert_eq!(outcome.report.last().unwrap(), &format!("exit {reason}"));
    let stamps: Vec<u64> = ["phase vmm-exec", "phase kvm-create", "phase memory"]
        .into_iter()
        .chain(["phase kernel-load", "phase first-run", "ready "])
        .map(|prefix| outcome.stamp(prefix))
        .collect();
    assert!(outcome.spawned_ns <= stamps[0], "vmm-exec after the spawn");
    assert!(stamps.is_sorted(), "stamps in order: {stamps:?}");
}

/// (host address, bytes) of the one guest RAM region.
fn guest_ram(outcome: &Outcome) -> (u64, u64) {
    let line = outcome.line("guest-ram ").unwrap();
    let mut fields = line.split(' ').skip(1);
    let start = u64::from_str_radix(fields.next().unwrap(), 16).unwrap();
    (start, fields.next().unwrap().parse().unwrap())
}

#[test]
fn minimal_pvh_guest_boots_and_reports_every_phase() {
    if !kvm_or_skip("minimal_pvh_guest_boots_and_reports_every_phase") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // mov al,123; out 0x3f0; mov al,'R'; out 0x3f8; out 0xf4; hlt
    let code = Code::default().ready().print(b"R").exit().bytes();
    let kernel = write_file(dir.path(), "pvh.elf", &elf64(&code, true));
    let outcome = Run::kernel(&kernel, &["--mem-mib", "64"]).go();
    assert_clean_end(&outcome, "exit-port");
    assert_eq!(outcome.stdout, b"R");
    let (start, len) = guest_ram(&outcome);
    assert!(start > 0 && start % 4096 == 0);
    assert_eq!(len, 64 << 20);
    let ready = outcome.stamp("ready ");
    eprintln!(
        "launch→ready {:.2} ms (vmm-exec→ready {:.2} ms, first-run→ready {:.2} ms)",
        (ready - outcome.spawned_ns) as f64 / 1e6,
        (ready - outcome.stamp("phase vmm-exec")) as f64 / 1e6,
        (ready - outcome.stamp("phase first-run")) as f64 / 1e6,
    );
}

#[test]
fn pvh_guest_gets_start_info_cmdline_initrd_and_serial_input() {
    if !kvm_or_skip("pvh_guest_gets_start_info_cmdline_initrd_and_serial_input") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut code = Code::default();
    code.ready();
    code.load_eax_from_ebx(0).print_al(); // start_info.magic, low byte 0x78
    code.load_eax_from_ebx(24).load_al_from_eax().print_al(); // *cmdline_paddr
    code.load_eax_from_ebx(16).load_eax_from_eax(); // modlist[0].paddr
    code.load_al_from_eax().print_al(); // first byte of the initrd
    code.echo_one_serial_byte().exit();
    let kernel = write_file(dir.path(), "pvh.elf", &elf64(&code.bytes(), true));
    let initrd = write_file(dir.path(), "initrd", b"Initrd bytes");
    let initrd = initrd.to_string_lossy();
    let mut run = Run::kernel(&kernel, &["--cmdline", "hello", "--initrd", &initrd]);
    run.stdin = b"z\n";
    let outcome = run.go();
    assert_clean_end(&outcome, "exit-port");
    assert_eq!(outcome.stdout, [0x78, b'h', b'I', b'z']);
}

/// With `--split-irqchip` the I/O APIC's registers are the VMM's: the guest reads back its
/// version and a redirection entry it wrote through MMIO, and the serial line and the exit
/// port work as with KVM's irqchip.
#[test]
fn split_irqchip_guest_reads_the_vmms_io_apic() {
    if !kvm_or_skip("split_irqchip_guest_reads_the_vmms_io_apic") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (index, data) = (0xfec0_0000, 0xfec0_0010);
    let mut code = Code::default();
    code.ready();
    code.store32(index, 1).load_eax_from(data).print_al(); // version: 0x11
    code.store32(index, 0x10 + 2 * 4).store32(data, 0x24); // pin 4: vector 0x24, unmasked
    code.load_eax_from(data).print_al();
    code.echo_one_serial_byte().exit();
    let kernel = write_file(dir.path(), "pvh.elf", &elf64(&code.bytes(), true));
    let mut run = Run::kernel(&kernel, &["--no-pit", "--split-irqchip"]);
    run.stdin = b"z";
    let outcome = run.go();
    assert_clean_end(&outcome, "exit-port");
    assert_eq!(outcome.stdout, [0x11, 0x24, b'z']);
}

/// More input than the 64-byte receive FIFO holds: the reader waits for the guest to drain
/// it, and every byte arrives, in order.
#[test]
fn serial_input_larger_than_the_fifo_arrives_whole() {
    if !kvm_or_skip("serial_input_larger_than_the_fifo_arrives_whole") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let code = Code::default()
        .ready()
        .echo_serial_bytes(300)
        .exit()
        .bytes();
    let kernel = write_file(dir.path(), "pvh.elf", &elf64(&code, true));
    let input: Vec<u8> = (0..300u32).map(|i| b'a' + (i % 26) as u8).collect();
    let mut run = Run::kernel(&kernel, &[]);
    run.stdin = &input;
    let outcome = run.go();
    assert_clean_end(&outcome, "exit-port");
    assert_eq!(outcome.stdout, input);
}

/// Prints `tag`, then bytes the guest finds through rsi (the zero page): `fields` at their
/// offsets, then the first byte of the command line and of the initrd.
fn zero_page_reader(tag: u8, fields: &[u32]) -> Vec<u8> {
    let mut code = Code::default();
    code.ready().print(&[tag]);
    for &offset in fields {
        code.load_al_from_rsi(offset).print_al();
    }
    code.load_eax_from_rsi(0x228).load_al_from_eax().print_al(); // *cmd_line_ptr
    code.load_eax_from_rsi(0x218).load_al_from_eax().print_al(); // *ramdisk_image
    code.exit().bytes()
}

fn boot_with_cmdline_and_initrd(dir: &Path, kernel: &Path) -> Outcome {
    let initrd = write_file(dir, "initrd", b"Initrd bytes");
    let initrd = initrd.to_string_lossy();
    Run::kernel(kernel, &["--cmdline", "hello", "--initrd", &initrd]).go()
}

#[test]
fn elf64_guest_starts_in_long_mode_with_the_zero_page() {
    if !kvm_or_skip("elf64_guest_starts_in_long_mode_with_the_zero_page") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // type_of_loader (0x210), e820_entries (0x1e8)
    let code = zero_page_reader(b'L', &[0x210, 0x1e8]);
    let kernel = write_file(dir.path(), "vmlinux", &elf64(&code, false));
    let outcome = boot_with_cmdline_and_initrd(dir.path(), &kernel);
    assert_clean_end(&outcome, "exit-port");
    assert_eq!(outcome.stdout, [b'L', 0xff, 2, b'h', b'I']);
}

#[test]
fn bzimage_guest_starts_at_0x200_with_its_setup_header() {
    if !kvm_or_skip("bzimage_guest_starts_at_0x200_with_its_setup_header") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // header version low byte (0x206, from the image), type_of_loader (0x210)
    let code = zero_page_reader(b'B', &[0x206, 0x210]);
    let kernel = write_file(dir.path(), "bzImage", &bzimage(&code));
    let outcome = boot_with_cmdline_and_initrd(dir.path(), &kernel);
    assert_clean_end(&outcome, "exit-port");
    assert_eq!(outcome.stdout, [b'B', 0x0f, 0xff, b'h', b'I']);
}

#[test]
fn i8042_reset_ends_the_vm() {
    if !kvm_or_skip("i8042_reset_ends_the_vm") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let code = Code::default().ready().i8042_reset().bytes();
    let kernel = write_file(dir.path(), "pvh.elf", &elf64(&code, true));
    assert_clean_end(&Run::kernel(&kernel, &[]).go(), "i8042-reset");
}

#[test]
fn triple_fault_is_a_shutdown() {
    if !kvm_or_skip("triple_fault_is_a_shutdown") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let code = Code::default().ready().triple_fault().bytes();
    let kernel = write_file(dir.path(), "pvh.elf", &elf64(&code, true));
    assert_clean_end(&Run::kernel(&kernel, &[]).go(), "shutdown");
}

/// Resident KiB of `pid` (outside, inside) the host ranges in `ram`, from /proc/PID/smaps.
fn resident_kib(pid: u32, ram: &[(u64, u64)]) -> (u64, u64) {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap();
    let (mut outside, mut inside, mut in_ram) = (0, 0, false);
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or("");
        if let Some((start, _)) = first.split_once('-').filter(|_| !first.ends_with(':')) {
            let start = u64::from_str_radix(start, 16).unwrap();
            in_ram = ram.iter().any(|&(s, len)| (s..s + len).contains(&start));
        } else if first == "Rss:" {
            let kib: u64 = fields.next().unwrap().parse().unwrap();
            *(if in_ram { &mut inside } else { &mut outside }) += kib;
        }
    }
    (outside, inside)
}

/// Firecracker's VMM overhead, resident memory outside guest RAM, while a bare guest holds:
/// within the 2 MiB budget (3 MiB for an unoptimised build), and guest RAM not pre-faulted.
/// The guest holds until a byte arrives on the serial port: the harness's release.
#[test]
fn vmm_overhead_outside_guest_ram_is_small() {
    if !kvm_or_skip("vmm_overhead_outside_guest_ram_is_small") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let code = Code::default()
        .ready()
        .print(b"R\n")
        .echo_one_serial_byte()
        .exit()
        .bytes();
    let kernel = write_file(dir.path(), "pvh.elf", &elf64(&code, true));
    let mut running = Run::kernel(&kernel, &[]).spawn();
    running.wait_for("ready ");
    let ram: Vec<(u64, u64)> = running
        .report_lines
        .iter()
        .filter_map(|l| l.strip_prefix("guest-ram "))
        .map(|l| {
            let (start, len) = l.split_once(' ').unwrap();
            (
                u64::from_str_radix(start, 16).unwrap(),
                len.parse().unwrap(),
            )
        })
        .collect();
    let (outside_kib, inside_kib) = resident_kib(running.child.id(), &ram);
    running.write_stdin(b"\n");
    let outcome = running.finish();
    assert_clean_end(&outcome, "exit-port");
    assert_eq!(outcome.stdout, b"R\n\n", "released by a newline on stdin");
    eprintln!(
        "VMM overhead {outside_kib} KiB outside guest RAM; guest RAM resident {inside_kib} KiB"
    );
    let budget_kib = if cfg!(debug_assertions) { 3072 } else { 2048 };
    assert!(
        outside_kib <= budget_kib,
        "{outside_kib} KiB > {budget_kib} KiB"
    );
    assert!(
        inside_kib < 1024,
        "guest RAM pre-faulted: {inside_kib} KiB resident"
    );
}

/// The VmFlags of the mapping that starts at `start` in `pid`'s /proc/PID/smaps.
fn vm_flags(pid: u32, start: u64) -> String {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap();
    let head = format!("{start:x}-");
    let mut lines = smaps.lines().skip_while(|l| !l.starts_with(&head));
    lines
        .find_map(|l| l.strip_prefix("VmFlags:"))
        .unwrap_or_else(|| panic!("no mapping at {start:#x}"))
        .to_string()
}

/// Guest RAM is marked for transparent huge pages (`hg`) and 2 MiB-aligned for a kernel file
/// of 2 MiB or more (a guest OS: `--huge-pages auto`), and for none with `--huge-pages off`;
/// a small guest keeps 4 KiB pages. The marking shows in smaps whatever the host's THP mode.
#[test]
fn a_large_guest_gets_huge_pages_and_a_small_one_does_not() {
    if !kvm_or_skip("a_large_guest_gets_huge_pages_and_a_small_one_does_not") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let code = Code::default()
        .ready()
        .echo_one_serial_byte()
        .exit()
        .bytes();
    let small = elf64(&code, true);
    let mut large = small.clone();
    large.resize(2 << 20, 0);
    let small = write_file(dir.path(), "small.elf", &small);
    let large = write_file(dir.path(), "large.elf", &large);
    for (kernel, extra, huge) in [
        (&small, &[][..], false),
        (&large, &[][..], true),
        (&large, &["--huge-pages", "off"][..], false),
        (&small, &["--huge-pages", "on"][..], true),
    ] {
        let mut running = Run::kernel(kernel, extra).spawn();
        running.wait_for("ready ");
        let line = running
            .report_lines
            .iter()
            .find_map(|l| l.strip_prefix("guest-ram "))
            .unwrap()
            .to_string();
        let start = u64::from_str_radix(line.split(' ').next().unwrap(), 16).unwrap();
        let flags = vm_flags(running.child.id(), start);
        running.write_stdin(b"\n");
        assert_clean_end(&running.finish(), "exit-port");
        let what = format!("{} {extra:?}: VmFlags{flags}", kernel.display());
        assert_eq!(flags.split_whitespace().any(|f| f == "hg"), huge, "{what}");
        if huge {
            assert_eq!(start % (2 << 20), 0, "2 MiB-aligned: {start:#x}, {what}");
        }
    }
}

/// Debian's cloud kernel (a bzImage). Hardware KVM boots it to a panic (no root file system)
/// that reboots through the i8042. Software KVM (kvm_pvm) emulates it for minutes (about 9 on
/// a busy 2-core host: decompression, then early boot) until an instruction it cannot run
/// (`lock cmpxchg16b`), and the VMM must say so in one line — so there this test runs only
/// when `ISOBENCH_REQUIRE` names `kernel`.
#[test]
fn linux_bzimage_boots_or_says_software_kvm_cannot_run_it() {
    let test = "linux_bzimage_boots_or_says_software_kvm_cannot_run_it";
    if !kvm_or_skip(test) {
        return;
    }
    let kernel = guest_kernel().and_then(|kernel| {
        if software_kvm() && !required("kernel") {
            Err("software KVM (kvm_pvm) needs minutes to reach the instruction it cannot run; ISOBENCH_REQUIRE=kernel runs it".into())
        } else {
            Ok(kernel)
        }
    });
    let kernel = match kernel {
        Ok(kernel) => kernel,
        Err(reason) => {
            run_if(test, "kernel", Err(reason));
            return;
        }
    };
    let cmdline = "console=ttyS0 earlyprintk=ttyS0 reboot=k panic=1 i8042.noaux i8042.nomux";
    let mut run = Run::kernel(&kernel, &["--cmdline", cmdline, "--mem-mib", "256"]);
    run.timeout = Duration::from_secs(if software_kvm() { 30 * 60 } else { 120 });
    let outcome = run.go();
    let console = String::from_utf8_lossy(&outcome.stdout);
    assert!(
        console.contains("Linux version"),
        "the kernel ran: {console}"
    );
    if software_kvm() && outcome.code != Some(0) {
        outcome.assert_one_line_error("software KVM cannot run this guest");
        assert!(
            outcome.stderr.contains("instruction bytes ["),
            "{}",
            outcome.stderr
        );
        eprintln!("{}", outcome.stderr.trim());
    } else {
        assert_eq!(outcome.code, Some(0), "{outcome:?}");
        assert_eq!(outcome.report.last().unwrap(), "exit i8042-reset");
    }
}

/// A harness that went away (the report pipe's read end closed) does not stop the VM: the
/// VMM ignores SIGPIPE itself (its `main` is the C entry point, without Rust's start-up that
/// used to), so the failed report write is an error it ignores, and the guest runs to its end.
#[test]
fn a_closed_report_pipe_does_not_stop_the_vm() {
    if !kvm_or_skip("a_closed_report_pipe_does_not_stop_the_vm") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let code = Code::default().ready().print(b"R").exit().bytes();
    let kernel = write_file(dir.path(), "guest.elf", &elf64(&code, true));
    let (report_read, report_write) = common::pipe();
    drop(report_read);
    let report_fd = std::os::fd::AsRawFd::as_raw_fd(&report_write).to_string();
    let mut run = Run::kernel(&kernel, &["--no-pit", "--report-fd", &report_fd]);
    run.report_fd = false;
    run.inherit_fds = vec![std::os::fd::AsRawFd::as_raw_fd(&report_write)];
    let outcome = run.go();
    assert_eq!(outcome.code, Some(0), "{outcome:?}");
    assert_eq!(outcome.stdout, b"R");
}
