//! The command's stdout and stderr: one thread per pipe reads lines, forwards each to the
//! probe's stderr prefixed `[cmd] ` (isolators already surface the probe's stderr), keeps the
//! last lines for error messages, and reports the first line a `log:REGEX` check matches.
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::Event;

/// How many of the command's last output lines an error message shows.
pub const LAST_LINES: usize = 20;
/// Longer lines are cut in the ring (they are forwarded whole).
const MAX_KEPT_LINE_BYTES: usize = 400;
/// The prefix of every forwarded line of the command's output.
pub const FORWARD_PREFIX: &str = "[cmd] ";

/// The command's last output lines, both streams interleaved as they were read.
#[derive(Clone, Default)]
pub struct LastLines(Arc<Mutex<VecDeque<String>>>);

impl LastLines {
    fn push(&self, line: &str) {
        let mut kept: String = line.chars().take(MAX_KEPT_LINE_BYTES).collect();
        if kept.len() < line.len() {
            kept.push('…');
        }
        let mut ring = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if ring.len() == LAST_LINES {
            ring.pop_front();
        }
        ring.push_back(kept);
    }

    /// The lines as an indented block for an error message, or a note that there were none.
    pub fn describe(&self) -> String {
        let ring = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if ring.is_empty() {
            return "  (the command printed nothing)".into();
        }
        let mut text = format!("  its last {} output line(s):", ring.len());
        for line in ring.iter() {
            text.push_str("\n  | ");
            text.push_str(line);
        }
        text
    }
}

/// Starts the thread that reads one of the command's pipes until EOF. With `pattern`, the
/// first matching line (of either stream) sends [`Event::LogMatched`]; EOF sends
/// [`Event::OutputClosed`].
pub fn follow(
    pipe: impl Read + Send + 'static,
    lines: LastLines,
    pattern: Option<Arc<regex_lite::Regex>>,
    events: Sender<Event>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("output".into())
        .stack_size(64 * 1024)
        .spawn(move || {
            let mut reader = BufReader::new(pipe);
            let mut raw = Vec::new();
            let mut matched = false;
            loop {
                raw.clear();
                match reader.read_until(b'\n', &mut raw) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                let text = String::from_utf8_lossy(&raw);
                let line = text.trim_end_matches(['\n', '\r']);
                forward(line);
                lines.push(line);
                if let Some(pattern) = pattern.as_ref().filter(|_| !matched) {
                    if pattern.is_match(line) {
                        matched = true;
                        let _ = events.send(Event::LogMatched(Instant::now()));
                    }
                }
            }
            let _ = events.send(Event::OutputClosed);
        })
        .map(drop)
}

/// Writes one line of the command's output to the probe's stderr, whole, in one write.
fn forward(line: &str) {
    let mut text = String::with_capacity(FORWARD_PREFIX.len() + line.len() + 1);
    text.push_str(FORWARD_PREFIX);
    text.push_str(line);
    text.push('\n');
    // A closed stderr must not stop the draining of the pipe (the command would block).
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_lines_only() {
        let lines = LastLines::default();
        assert!(lines.describe().contains("printed nothing"));
        for n in 0..30 {
            lines.push(&format!("line {n}"));
        }
        let text = lines.describe();
        assert!(text.contains("last 20 output line(s)"), "{text}");
        assert!(
            text.contains("| line 29") && text.contains("| line 10"),
            "{text}"
        );
        assert!(!text.contains("| line 9\n"), "{text}");
    }

    #[test]
    fn reports_the_first_matching_line_and_the_end() {
        let (sender, receiver) = std::sync::mpsc::channel();
        let pattern = Arc::new(regex_lite::Regex::new(r"listening on \d+").unwrap());
        let input = b"starting\nlistening on 8080\nlistening on 9090\ntail".as_slice();
        let lines = LastLines::default();
        follow(input, lines.clone(), Some(pattern), sender).unwrap();
        assert!(matches!(receiver.recv().unwrap(), Event::LogMatched(_)));
        assert!(matches!(receiver.recv().unwrap(), Event::OutputClosed));
        assert!(lines.describe().ends_with("| tail"), "{}", lines.describe());
    }
}
