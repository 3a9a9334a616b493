//! Draining the VMM's stdout (the guest's serial console) and stderr on one thread, so the VMM
//! never blocks on a full pipe; keeps the tail of each for error messages and hands the
//! probe's `ISOBENCH-READY` line to whoever waits for it.
use std::io::Read;
use std::os::fd::AsFd;
use std::process::{ChildStderr, ChildStdout};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use isobench_protocol::READY_MARKER;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

/// How much of each stream is kept for error messages.
const TAIL_BYTES: usize = 8 * 1024;

#[derive(Default)]
struct Tails {
    console: Vec<u8>,
    stderr: Vec<u8>,
}

/// The drain thread and what it has seen so far.
pub struct ConsoleDrain {
    thread: Option<JoinHandle<()>>,
    tails: Arc<Mutex<Tails>>,
    ready_lines: Receiver<String>,
}

impl ConsoleDrain {
    /// Starts draining both pipes until both reach EOF (the VMM has exited).
    pub fn spawn(stdout: ChildStdout, stderr: ChildStderr) -> std::io::Result<ConsoleDrain> {
        let tails = Arc::new(Mutex::new(Tails::default()));
        let (sender, ready_lines) = mpsc::channel();
        let shared = Arc::clone(&tails);
        let thread = std::thread::Builder::new()
            .name("vmm-console".into())
            .stack_size(64 * 1024)
            .spawn(move || drain(stdout, stderr, &shared, &sender))?;
        Ok(ConsoleDrain {
            thread: Some(thread),
            tails,
            ready_lines,
        })
    }

    /// Waits up to `timeout` for the guest's ready line (the text from `ISOBENCH-READY` on).
    pub fn ready_line(&self, timeout: Duration) -> Option<String> {
        self.ready_lines.recv_timeout(timeout).ok()
    }

    /// What the guest said last, for "died before ready" messages: the probe's message if it
    /// printed one, else its last non-empty line.
    pub fn last_console_line(&self) -> Option<String> {
        let tails = self.tails.lock().ok()?;
        last_words(&tails.console)
    }

    /// The last few KiB the guest printed on its console.
    pub fn console_tail(&self) -> String {
        self.tails
            .lock()
            .map(|t| String::from_utf8_lossy(&t.console).into_owned())
            .unwrap_or_default()
    }

    /// The VMM's first non-empty stderr line (its error message).
    pub fn first_stderr_line(&self) -> Option<String> {
        let tails = self.tails.lock().ok()?;
        String::from_utf8_lossy(&tails.stderr)
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(String::from)
    }

    /// Waits for the thread; call only once the VMM is gone (its pipes then reach EOF).
    pub fn join(&mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What the guest said last, for "died before ready" messages: the probe's own message (its
/// last `isobench-probe:` line and the lines after it up to the next kernel log line, such as
/// a user command's last output) when it printed one, else the last non-empty line.
fn last_words(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.trim().trim_matches('\r'))
        .filter(|l| !l.is_empty())
        .collect();
    let Some(start) = lines.iter().rposition(|l| l.contains("isobench-probe:")) else {
        return last_line(bytes);
    };
    let message: Vec<&str> = lines[start..]
        .iter()
        .enumerate()
        .take_while(|(index, line)| *index == 0 || !line.starts_with('['))
        .map(|(_, line)| *line)
        .collect();
    Some(message.join(" / "))
}

fn last_line(bytes: &[u8]) -> Option<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(|l| l.trim().trim_matches('\r'))
        .rfind(|l| !l.is_empty())
        .map(String::from)
}

fn drain(
    mut stdout: ChildStdout,
    mut stderr: ChildStderr,
    tails: &Mutex<Tails>,
    ready: &mpsc::Sender<String>,
) {
    let (mut stdout_open, mut stderr_open) = (true, true);
    let mut line = Vec::new();
    let mut chunk = [0u8; 4096];
    while stdout_open || stderr_open {
        let mut fds = Vec::with_capacity(2);
        if stdout_open {
            fds.push(PollFd::new(stdout.as_fd(), PollFlags::POLLIN));
        }
        if stderr_open {
            fds.push(PollFd::new(stderr.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return,
        }
        let ready_fds: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        let mut index = 0;
        if stdout_open {
            if ready_fds[index] {
                match stdout.read(&mut chunk) {
                    Ok(0) | Err(_) => stdout_open = false,
                    Ok(n) => {
                        append(
                            &mut tails.lock().expect("console tails").console,
                            &chunk[..n],
                        );
                        for &byte in &chunk[..n] {
                            if byte == b'\n' {
                                forward_ready_line(&line, ready);
                                line.clear();
                            } else if line.len() < 1024 {
                                line.push(byte);
                            }
                        }
                    }
                }
            }
            index += 1;
        }
        if stderr_open && ready_fds[index] {
            match stderr.read(&mut chunk) {
                Ok(0) | Err(_) => stderr_open = false,
                Ok(n) => append(
                    &mut tails.lock().expect("console tails").stderr,
                    &chunk[..n],
                ),
            }
        }
    }
}

fn forward_ready_line(line: &[u8], ready: &mpsc::Sender<String>) {
    let text = String::from_utf8_lossy(line);
    if let Some(at) = text.find(READY_MARKER) {
        let _ = ready.send(text[at..].trim_end_matches('\r').to_string());
    }
}

fn append(tail: &mut Vec<u8>, bytes: &[u8]) {
    tail.extend_from_slice(bytes);
    if tail.len() > TAIL_BYTES {
        tail.drain(..tail.len() - TAIL_BYTES);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    #[test]
    fn drains_both_streams_and_forwards_the_ready_line() {
        // Far more than a pipe holds, so a drain that stalls would hang the child.
        let script = "head -c 300000 /dev/zero | tr '\\0' 'x'; echo; echo 'boot noise ISOBENCH-READY mode=noop work_ns=5'; echo oops >&2; echo 'last words'";
        let mut child = Command::new("sh")
            .args(["-c", script])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut drain =
            ConsoleDrain::spawn(child.stdout.take().unwrap(), child.stderr.take().unwrap())
                .unwrap();
        let line = drain
            .ready_line(Duration::from_secs(10))
            .expect("the ready line");
        assert_eq!(line, "ISOBENCH-READY mode=noop work_ns=5");
        assert!(child.wait().unwrap().success());
        drain.join();
        assert_eq!(drain.last_console_line().as_deref(), Some("last words"));
        assert_eq!(drain.first_stderr_line().as_deref(), Some("oops"));
        assert!(drain.tails.lock().unwrap().console.len() <= TAIL_BYTES);
    }

    #[test]
    fn last_words_are_the_probes_message_not_the_panic_trailer() {
        let console = b"[    1.0] Run /init as init process\r\nisobench-probe: the command exited with status 3 before ready\nlast output: dying\n[    1.9] Kernel panic - not syncing: Attempted to kill init!\n[    1.9] Kernel Offset: disabled\n";
        assert_eq!(
            last_words(console).unwrap(),
            "isobench-probe: the command exited with status 3 before ready / last output: dying"
        );
        assert_eq!(
            last_words(b"[ 0.1] booting\n[ 0.2] Kernel Offset: disabled\n").unwrap(),
            "[ 0.2] Kernel Offset: disabled"
        );
    }
}
