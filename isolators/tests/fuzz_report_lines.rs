//! Fuzz target for how the isolator reads `isobench-vmm`'s report pipe (`microvm::report`):
//! whatever bytes arrive, in whatever pieces, come out as exactly the lines that were written
//! (the last one only when it ended in a newline), each of which parses as a report event or is
//! refused in one line, then the end of the pipe; never a panic.
//! Runs for a bounded time under `cargo test`; under libFuzzer with `cargo bolero test` (README).
use std::io::Write;
use std::os::fd::AsFd;

use isolators::isolator::monotonic_ns;
use isolators::microvm::report::{LineReader, Next};
use isolators::protocol::VmmEvent;

#[test]
fn any_bytes_in_any_pieces_come_out_as_the_lines_written() {
    // We are the writer: a live process, so only the pipe's end stops the reader.
    let writer = isolators::reap::pidfd_open(std::process::id() as i32).unwrap();
    bolero::check!()
        .with_type::<Vec<Vec<u8>>>()
        .for_each(|pieces| {
            let written: Vec<u8> = pieces.concat();
            if written.len() > 60_000 {
                return; // beyond one pipe buffer the writes below would block
            }
            let (read_end, write_end) = nix::unistd::pipe().unwrap();
            let mut reader = LineReader::new(read_end);
            let mut pipe = std::fs::File::from(write_end);
            for piece in pieces {
                pipe.write_all(piece).unwrap();
            }
            drop(pipe);
            let deadline_ns = monotonic_ns() + 10_000_000_000;
            let mut lines = Vec::new();
            loop {
                match reader
                    .next_line(deadline_ns, writer.as_fd(), "fuzz")
                    .unwrap()
                {
                    Next::Line(line) => lines.push(line),
                    Next::Eof => break,
                    Next::WriterExited => panic!("we are still running"),
                }
            }
            let mut expected: Vec<String> = written
                .split(|&b| b == b'\n')
                .map(|line| String::from_utf8_lossy(line).into_owned())
                .collect();
            expected.pop(); // what follows the last newline is no line
            assert_eq!(lines, expected);
            for line in &lines {
                if let Err(error) = line.parse::<VmmEvent>() {
                    assert!(!error.to_string().contains('\n'), "{error}");
                }
            }
        });
}
