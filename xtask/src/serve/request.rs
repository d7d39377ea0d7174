//! Reading one request head (request line and headers) from a client, within a size cap and a
//! deadline, and checking what the server needs of it: HTTP/1.x, a target that is a path, and a
//! Host that names this server on the loopback interface (not a rebound DNS name).

use std::io::{ErrorKind, Read};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// The longest request line accepted (method, target and version); longer gets 414.
pub const MAX_REQUEST_LINE: usize = 8 * 1024;
/// The longest request head accepted (request line and every header); longer gets 431.
pub const MAX_HEAD: usize = 16 * 1024;

pub struct Request {
    pub method: String,
    pub target: String,
    headers: Vec<(String, String)>,
}

impl Request {
    /// The value of header `name` (case-insensitive) when it appears exactly once.
    pub fn header(&self, name: &str) -> Option<&str> {
        let mut found = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name));
        match (found.next(), found.next()) {
            (Some((_, v)), None) => Some(v),
            _ => None,
        }
    }

    fn count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }
}

/// Why no request could be served: the status to answer with and a short reason for the body.
/// `head_only` when the method read was HEAD (so the answer has no body either).
#[derive(Debug)]
pub struct Refusal {
    pub status: u16,
    pub reason: String,
    pub head_only: bool,
    /// Input was left unread (a head over the caps): drain it before closing, or the client
    /// may see a reset instead of the answer.
    pub unread: bool,
}

fn refuse(status: u16, reason: impl Into<String>) -> Refusal {
    Refusal {
        status,
        reason: reason.into(),
        head_only: false,
        unread: false,
    }
}

/// Reads a request head from `stream`, which must arrive whole within `timeout`. `Ok(None)`:
/// the client closed the connection before sending anything.
pub fn read(stream: &mut TcpStream, timeout: Duration) -> Result<Option<Request>, Refusal> {
    let deadline = Instant::now() + timeout;
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 4096];
    let end = loop {
        let end = head_end(&buf);
        if let Some(refusal) = over_caps(&buf, end) {
            return Err(refusal);
        }
        if let Some(end) = end {
            break end;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let timed_out = || Refusal {
            head_only: buf.starts_with(b"HEAD "),
            ..refuse(
                408,
                format!(
                    "the request did not arrive within {:.1} s",
                    timeout.as_secs_f64()
                ),
            )
        };
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return Err(timed_out());
        }
        let want = chunk.len().min(MAX_HEAD + 1 - buf.len());
        match stream.read(&mut chunk[..want]) {
            Ok(0) if buf.is_empty() => return Ok(None),
            Ok(0) => return Err(refuse(400, "the connection closed inside the request head")),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(timed_out())
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(refuse(400, format!("reading the request failed: {e}"))),
        }
    };
    parse(&buf[..end]).map(Some)
}

/// A refusal when the head in `buf` (ending at `end`, if it is all there) breaks a size cap.
fn over_caps(buf: &[u8], end: Option<usize>) -> Option<Refusal> {
    let line = buf.iter().position(|&b| b == b'\n').unwrap_or(buf.len());
    let (status, reason) = if line > MAX_REQUEST_LINE {
        (
            414,
            format!("request line longer than {MAX_REQUEST_LINE} bytes"),
        )
    } else if end.unwrap_or(buf.len()) > MAX_HEAD {
        (
            431,
            format!("request headers larger than {MAX_HEAD} bytes in all"),
        )
    } else {
        return None;
    };
    Some(Refusal {
        unread: true,
        head_only: buf.starts_with(b"HEAD "),
        ..refuse(status, reason)
    })
}

/// Where the head ends (the index after its blank line), if it is all in `buf`.
fn head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn parse(head: &[u8]) -> Result<Request, Refusal> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let line = lines.next().unwrap_or("");
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(refuse(
            400,
            "the request line must be `METHOD /path HTTP/1.1`",
        ));
    };
    let head_only = method == "HEAD";
    let with_method = |mut r: Refusal| {
        r.head_only = head_only;
        r
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(refuse(400, format!("`{method}` is not a method")));
    }
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(with_method(refuse(
            400,
            format!("`{version}`: only HTTP/1.0 and HTTP/1.1 are served"),
        )));
    }
    if target.is_empty() || target.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(with_method(refuse(
            400,
            "the request target is empty or has control characters",
        )));
    }
    let mut headers = Vec::new();
    for l in lines.take_while(|l| !l.is_empty()) {
        let Some((name, value)) = l.split_once(':') else {
            return Err(with_method(refuse(
                400,
                format!("header line `{l}` has no colon"),
            )));
        };
        let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        if name.is_empty() || !name.bytes().all(token) {
            return Err(with_method(refuse(
                400,
                format!("`{name}` is not a header name"),
            )));
        }
        headers.push((name.to_string(), value.trim().to_string()));
    }
    Ok(Request {
        method: method.to_string(),
        target: target.to_string(),
        headers,
    })
}

/// Checks that the request names this server (`port` on the loopback interface) in its Host
/// header: a page on another site that rebinds its own DNS name to 127.0.0.1 sends its own name
/// there, and is refused with 403.
pub fn check_host(req: &Request, port: u16) -> Result<(), Refusal> {
    let head_only = req.method == "HEAD";
    let with_method = |mut r: Refusal| {
        r.head_only = head_only;
        r
    };
    let host = match req.count("host") {
        1 => req.header("host").unwrap_or(""),
        0 => return Err(with_method(refuse(400, "no Host header"))),
        _ => return Err(with_method(refuse(400, "more than one Host header"))),
    };
    let lower = host.to_ascii_lowercase();
    let ok = ["127.0.0.1", "localhost", "[::1]"]
        .iter()
        .any(|name| lower == format!("{name}:{port}") || (port == 80 && lower == *name));
    if ok {
        Ok(())
    } else {
        Err(with_method(refuse(
            403,
            format!(
                "this server answers only to 127.0.0.1:{port}, localhost:{port} or [::1]:{port}, \
                 not to Host `{host}` (a refusal against DNS rebinding)"
            ),
        )))
    }
}
