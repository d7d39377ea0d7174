//! A small static HTTP/1.1 server (GET and HEAD) for `cargo xtask serve` and the page tests
//! (`spawn`): std only, bound to 127.0.0.1, with the MIME types a wasm page needs and the
//! headers that let pages on other origins embed the playground ([`EMBED_HEADERS`]).
//!
//! What it does with each request, in order (the reason is the answer's text body):
//! - a head not whole within [`Limits::read_timeout`]: 408; a request line over
//!   [`request::MAX_REQUEST_LINE`]: 414; a head over [`request::MAX_HEAD`]: 431; a malformed
//!   one, or one without exactly one Host header: 400;
//! - a Host other than `127.0.0.1:P`, `localhost:P` or `[::1]:P`: 403 (DNS rebinding);
//! - a method other than GET or HEAD: 405 with `Allow: GET, HEAD`;
//! - a path with `..`, `\`, `%2f`, `%5c`, `%00` or bad escapes, or a target not starting with
//!   `/`: 400; a file whose canonical path (symlinks resolved) leaves the folder: 403; no such
//!   regular file: 404;
//! - otherwise 200 with an ETag (the contents' SHA-256) and Last-Modified, `Cache-Control:
//!   no-cache` (browsers revalidate every time), or 304 when `If-None-Match` matches.
//!
//! Every answer has Content-Length and `Connection: close`; a HEAD gets the same headers as a
//! GET and never a body. At most [`Limits::workers`] connections are served at once, one
//! thread each; further connections wait in the listen queue until one finishes (each is
//! bounded by the read and write timeouts), rather than being turned away.

mod files;
mod request;
#[cfg(test)]
mod tests;

use crate::{fail, Result};
use request::Refusal;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Sent with every response: the element's module scripts, its wasm and the model files are
/// fetched in CORS mode by a blog post on another origin (without `Access-Control-Allow-Origin`
/// the browser blocks the module script), and a cross-origin-isolated post (`Cross-Origin-
/// Embedder-Policy: require-corp`) loads the stylesheet and images only with
/// `Cross-Origin-Resource-Policy: cross-origin`. `dist` writes the same pairs for static hosts.
pub const EMBED_HEADERS: [(&str, &str); 2] = [
    ("Access-Control-Allow-Origin", "*"),
    ("Cross-Origin-Resource-Policy", "cross-origin"),
];

/// How much one server takes on.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Connections served at once (a thread each); more wait for one of them to finish.
    pub workers: usize,
    /// How long a client may take to send its whole request head.
    pub read_timeout: Duration,
    /// How long one write to a client may block (a client that stops reading).
    pub write_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            // Chromium opens at most 6 connections per host and profile; the page tests run
            // one browser context at a time, plus the posts' own origins.
            workers: 16,
            read_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(30),
        }
    }
}

/// Serves `dir` on 127.0.0.1:`port` until the process ends.
pub fn serve(dir: &Path, port: u16) -> Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port)).map_err(|e| {
        fail!("cannot listen on 127.0.0.1:{port}: {e} (choose another with --port)")
    })?;
    let server = Server::new(dir, &listener, Limits::default(), true)?;
    println!(
        "serving {} at http://127.0.0.1:{port}/ (also as localhost:{port}; Ctrl-C to stop)",
        dir.display()
    );
    server.accept(listener);
    Ok(())
}

/// Serves `dir` from a background thread on a free port (for tests); returns the base URL.
pub fn spawn(dir: &Path) -> Result<String> {
    let (url, _) = start(dir, Limits::default(), false)?;
    Ok(url)
}

/// Starts a server on a free port in a background thread: its base URL and the server.
fn start(dir: &Path, limits: Limits, log: bool) -> Result<(String, Arc<Server>)> {
    let listener = TcpListener::bind(("127.0.0.1", 0))?;
    let url = format!("http://127.0.0.1:{}/", listener.local_addr()?.port());
    let server = Server::new(dir, &listener, limits, log)?;
    let accepting = server.clone();
    std::thread::spawn(move || accepting.accept(listener));
    Ok((url, server))
}

struct Server {
    /// The served folder, canonical (files must resolve inside it).
    root: PathBuf,
    port: u16,
    limits: Limits,
    log: bool,
    etags: files::Etags,
    /// Connections being served now, and the most there have been at once.
    busy: Mutex<(usize, usize)>,
    freed: Condvar,
}

impl Server {
    fn new(dir: &Path, listener: &TcpListener, limits: Limits, log: bool) -> Result<Arc<Self>> {
        let root = dir
            .canonicalize()
            .map_err(|e| fail!("cannot serve {}: {e}", dir.display()))?;
        Ok(Arc::new(Server {
            root,
            port: listener.local_addr()?.port(),
            limits: Limits {
                workers: limits.workers.max(1),
                ..limits
            },
            log,
            etags: files::Etags::default(),
            busy: Mutex::new((0, 0)),
            freed: Condvar::new(),
        }))
    }

    fn accept(self: Arc<Self>, listener: TcpListener) {
        loop {
            self.wait_for_worker();
            let stream = match listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) => {
                    self.done();
                    eprintln!("serve: accept failed: {e}");
                    continue;
                }
            };
            let server = self.clone();
            let spawned = std::thread::Builder::new()
                .name("serve".into())
                .spawn(move || {
                    if let Err(e) = server.handle(stream) {
                        let quiet = [ErrorKind::BrokenPipe, ErrorKind::ConnectionReset];
                        if server.log && !quiet.contains(&e.kind()) {
                            eprintln!("serve: {e}");
                        }
                    }
                    server.done();
                });
            if let Err(e) = spawned {
                self.done();
                eprintln!("serve: cannot start a thread: {e}");
            }
        }
    }

    /// Blocks until fewer than `limits.workers` connections are being served, and counts one more.
    fn wait_for_worker(&self) {
        let mut busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        while busy.0 >= self.limits.workers {
            busy = self.freed.wait(busy).unwrap_or_else(|e| e.into_inner());
        }
        busy.0 += 1;
        busy.1 = busy.1.max(busy.0);
    }

    fn done(&self) {
        self.busy.lock().unwrap_or_else(|e| e.into_inner()).0 -= 1;
        self.freed.notify_one();
    }

    /// The most connections served at once so far.
    #[cfg(test)]
    fn peak(&self) -> usize {
        self.busy.lock().unwrap_or_else(|e| e.into_inner()).1
    }

    fn handle(&self, mut stream: TcpStream) -> io::Result<()> {
        stream.set_write_timeout(Some(self.limits.write_timeout))?;
        let req = match request::read(&mut stream, self.limits.read_timeout) {
            Ok(Some(req)) => req,
            Ok(None) => return Ok(()),
            Err(refusal) => {
                self.log_line("?", "?", refusal.status, 0);
                return self.refuse(&mut stream, &refusal);
            }
        };
        let reply = self.answer(&req);
        let (method, target) = (req.method.as_str(), req.target.as_str());
        match reply {
            Ok(file) => {
                self.log_line(method, target, file.status, file.len);
                file.write(&mut stream, method == "HEAD")?;
                // The client may have closed already; the answer is out either way.
                let _ = stream.shutdown(Shutdown::Write);
                Ok(())
            }
            Err(refusal) => {
                self.log_line(method, target, refusal.status, 0);
                self.refuse(&mut stream, &refusal)
            }
        }
    }

    /// What to send for a request that was read whole.
    fn answer(&self, req: &request::Request) -> std::result::Result<FileReply, Refusal> {
        request::check_host(req, self.port)?;
        let head_only = req.method == "HEAD";
        let refuse = |status, reason: String| Refusal {
            status,
            reason,
            head_only,
            unread: false,
        };
        if req.method != "GET" && !head_only {
            return Err(refuse(405, format!("{}: GET or HEAD only", req.method)));
        }
        let (path, meta) = files::resolve(&self.root, &req.target).map_err(|r| match r {
            files::Refused::BadPath(why) => refuse(400, format!("bad path: {why}")),
            files::Refused::Outside => refuse(
                403,
                "the path resolves outside the served folder (a symlink?)".into(),
            ),
            files::Refused::NotFound => refuse(404, format!("not found: {}", req.target)),
        })?;
        let not_found = |e: io::Error| refuse(404, format!("cannot read {}: {e}", req.target));
        let if_none_match = req.header("if-none-match");
        let known = self.etags.known(&path, &meta);
        let matches = |etag: &str| if_none_match.is_some_and(|h| files::none_match(h, etag));
        // The file is read only when its body is sent or its ETag is not known yet.
        let (etag, body) = match known {
            Some(etag) if head_only || matches(&etag) => (etag, None),
            _ => {
                let body = std::fs::read(&path).map_err(not_found)?;
                let unchanged = std::fs::metadata(&path).is_ok_and(|m| {
                    m.len() == meta.len() && m.modified().ok() == meta.modified().ok()
                });
                match known {
                    Some(etag) if unchanged => (etag, Some(body)),
                    _ => (self.etags.of(&path, &meta, &body), Some(body)),
                }
            }
        };
        let fresh = matches(&etag);
        Ok(FileReply {
            status: if fresh { 304 } else { 200 },
            len: body.as_ref().map_or(meta.len(), |b| b.len() as u64),
            mime: files::mime(&path),
            etag,
            modified: meta.modified().ok().map(files::http_date),
            body: if fresh { None } else { body },
        })
    }

    /// Sends a refusal: its reason as a text body (none for HEAD). Input left unread is drained
    /// first, for a short while, so the client gets the answer rather than a reset.
    fn refuse(&self, stream: &mut TcpStream, r: &Refusal) -> io::Result<()> {
        let body = format!("{}\n", r.reason);
        let mut head = status_line(r.status);
        head.push_str(&format!(
            "Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\n",
            body.len()
        ));
        if r.status == 405 {
            head.push_str("Allow: GET, HEAD\r\n");
        }
        finish_head(&mut head);
        stream.write_all(head.as_bytes())?;
        if !r.head_only {
            stream.write_all(body.as_bytes())?;
        }
        stream.flush()?;
        let _ = stream.shutdown(Shutdown::Write);
        if r.unread {
            drain(stream, self.limits.read_timeout.min(Duration::from_secs(2)));
        }
        Ok(())
    }

    fn log_line(&self, method: &str, target: &str, status: u16, bytes: u64) {
        if self.log {
            println!("{method} {target} {status} {bytes} bytes");
        }
    }
}

/// A file's answer: 200 with its body, or 304.
struct FileReply {
    status: u16,
    /// The file's length (the 200's Content-Length, also sent with 304 and HEAD).
    len: u64,
    mime: &'static str,
    etag: String,
    modified: Option<String>,
    /// The contents to send (None for 304, and for HEAD when the ETag was known).
    body: Option<Vec<u8>>,
}

impl FileReply {
    fn write(&self, out: &mut TcpStream, head_only: bool) -> io::Result<()> {
        let mut head = status_line(self.status);
        head.push_str(&format!(
            "Content-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-cache\r\nETag: {}\r\n",
            self.mime, self.len, self.etag
        ));
        if let Some(date) = &self.modified {
            head.push_str(&format!("Last-Modified: {date}\r\n"));
        }
        finish_head(&mut head);
        out.write_all(head.as_bytes())?;
        if let (Some(body), false) = (&self.body, head_only) {
            out.write_all(body)?;
        }
        out.flush()
    }
}

fn status_line(status: u16) -> String {
    let reason = match status {
        200 => "OK",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        _ => "Error",
    };
    format!("HTTP/1.1 {status} {reason}\r\n")
}

/// The headers every answer ends with.
fn finish_head(head: &mut String) {
    for (name, value) in EMBED_HEADERS {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("Connection: close\r\n\r\n");
}

/// Reads and drops what the client still sends, up to 1 MiB or `limit`, or until it closes.
fn drain(stream: &mut TcpStream, limit: Duration) {
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 4096];
    let mut total = 0;
    while total < 1 << 20 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => total += n,
        }
    }
}
