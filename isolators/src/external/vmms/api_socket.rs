//! Firecracker's API socket: one HTTP/1.1 request at a time over a Unix socket, JSON in,
//! status code out.
//!
//! Hand-written, not a crate: the adapter sends three fixed requests (pause, create a
//! snapshot, load one) and reads only the status line and the body of an error. HTTP clients
//! that speak over Unix sockets (hyper with hyperlocal) bring an async runtime into a timed
//! launch path; a blocking `UnixStream` with one write and a read up to `Content-Length` is
//! about sixty lines and costs nothing at launch.
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::Error;

/// Waits until something listens on `socket` (the VMM creates it as it starts), retrying
/// every 100 µs until `deadline`.
pub fn connect(socket: &Path, deadline: Instant) -> Result<UnixStream, Error> {
    loop {
        match UnixStream::connect(socket) {
            Ok(stream) => return Ok(stream),
            Err(e) if Instant::now() >= deadline => {
                return Err(Error::Engine(format!(
                    "firecracker API socket {}: {e} (not listening in time)",
                    socket.display()
                )))
            }
            Err(_) => std::thread::sleep(Duration::from_micros(100)),
        }
    }
}

/// Sends `method path` with a JSON `body` and returns the status code and the response body.
pub fn request(
    stream: &mut UnixStream,
    method: &str,
    path: &str,
    body: &str,
    timeout: Duration,
) -> Result<(u16, String), Error> {
    let io = |what: &str, e: std::io::Error| Error::io(format!("firecracker API {what}"), e);
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| io("socket", e))?;
    let message = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(message.as_bytes())
        .map_err(|e| io(path, e))?;
    let mut response = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(parsed) = parse_response(&response)? {
            return Ok(parsed);
        }
        match stream.read(&mut chunk) {
            Ok(0) => {
                return Err(Error::Engine(format!(
                "firecracker API {method} {path}: the connection closed mid-response ({} bytes)",
                response.len()
            )))
            }
            Ok(n) => response.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io(path, e)),
        }
    }
}

/// A complete response's (status, body), or none while bytes are still missing.
fn parse_response(bytes: &[u8]) -> Result<Option<(u16, String)>, Error> {
    let Some(head_end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&bytes[..head_end]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| Error::Engine(format!("firecracker API: not an HTTP response: {head:?}")))?;
    let length = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let body = &bytes[head_end + 4..];
    if body.len() < length {
        return Ok(None);
    }
    Ok(Some((
        status,
        String::from_utf8_lossy(&body[..length]).into_owned(),
    )))
}

/// [`request`], failing unless Firecracker answers 2xx.
pub fn expect_success(
    stream: &mut UnixStream,
    method: &str,
    path: &str,
    body: &str,
    timeout: Duration,
) -> Result<(), Error> {
    match request(stream, method, path, body, timeout)? {
        (200..=299, _) => Ok(()),
        (status, answer) => Err(Error::Engine(format!(
            "firecracker API {method} {path} answered {status}: {}",
            answer.trim()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_status_and_body_once_complete() {
        let full = b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: 21\r\n\r\n{\"fault_message\":\"x\"}";
        assert_eq!(parse_response(&full[..30]).unwrap(), None);
        assert_eq!(parse_response(&full[..full.len() - 3]).unwrap(), None);
        let (status, body) = parse_response(full).unwrap().unwrap();
        assert_eq!(status, 400);
        assert_eq!(body, "{\"fault_message\":\"x\"}");
        let no_content = b"HTTP/1.1 204 \r\nServer: Firecracker API\r\n\r\n";
        assert_eq!(
            parse_response(no_content).unwrap(),
            Some((204, String::new()))
        );
        assert!(parse_response(b"garbage\r\n\r\n").is_err());
    }
}
