//! The dev server over raw TCP: each test serves its own temporary folder on a free port.

use super::{files, start, Limits, Server, EMBED_HEADERS};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A temporary folder `<tmp>/xtask-serve-<pid>-<n>/` with `root/` (served) and `outside/`
/// (next to it, never served), removed on drop.
struct Site {
    dir: PathBuf,
    port: u16,
    server: Arc<Server>,
}

const INDEX: &str = "<!doctype html><p>index</p>\n";
const SECRET: &str = "secret outside the served folder\n";

impl Site {
    fn new(limits: Limits) -> Site {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "xtask-serve-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        for sub in ["root/models/m", "outside"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        std::fs::write(dir.join("root/index.html"), INDEX).unwrap();
        std::fs::write(dir.join("root/models/m/w.safetensors"), [1u8; 1000]).unwrap();
        std::fs::write(dir.join("root/a.wasm"), b"\0asm").unwrap();
        std::fs::write(dir.join("outside/secret.txt"), SECRET).unwrap();
        let (url, server) = start(&dir.join("root"), limits, false).unwrap_or_else(|e| {
            panic!("cannot start the server: {}", e.0);
        });
        let port = url.trim_end_matches('/').rsplit(':').next().unwrap();
        Site {
            port: port.parse().unwrap(),
            dir,
            server,
        }
    }

    fn root(&self) -> PathBuf {
        self.dir.join("root")
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        // A safety net so that a broken server fails the test instead of hanging it.
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s
    }

    /// Sends `raw` as it is and reads the whole answer.
    fn raw(&self, raw: &[u8]) -> Reply {
        let mut s = self.connect();
        s.write_all(raw).unwrap();
        read_reply(&mut s)
    }

    /// `METHOD target` with this server's Host and `extra` header lines.
    fn ask(&self, method: &str, target: &str, extra: &[&str]) -> Reply {
        let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {}\r\n", self.host());
        for h in extra {
            head.push_str(h);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        self.raw(head.as_bytes())
    }

    fn get(&self, target: &str) -> Reply {
        self.ask("GET", target, &[])
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Asserts the status, and that the headers every answer carries are there.
    fn expect(&self, status: u16, what: &str) -> &Self {
        assert_eq!(self.status, status, "{what}: {self:?}");
        assert!(
            self.header("content-length").is_some(),
            "{what}: no Content-Length"
        );
        for (name, value) in EMBED_HEADERS {
            assert_eq!(self.header(name), Some(value), "{what}: {name}");
        }
        self
    }
}

fn read_reply(s: &mut TcpStream) -> Reply {
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let split = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no head in {:?}", String::from_utf8_lossy(&all)));
    let head = String::from_utf8_lossy(&all[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.to_string(), v.trim().to_string())
        })
        .collect();
    Reply {
        status,
        headers,
        body: all[split + 4..].to_vec(),
    }
}

#[test]
fn serves_files_with_type_length_etag_and_last_modified() {
    let site = Site::new(Limits::default());
    for target in ["/", "/index.html", "/index.html?x=1"] {
        let r = site.get(target);
        r.expect(200, target);
        assert_eq!(r.text(), INDEX, "{target}");
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        assert_eq!(r.header("content-length"), Some(&*INDEX.len().to_string()));
        assert_eq!(r.header("cache-control"), Some("no-cache"));
        let etag = r.header("etag").unwrap();
        assert!(etag.starts_with('"') && etag.len() == 34, "ETag {etag}");
        assert!(r.header("last-modified").unwrap().ends_with(" GMT"));
    }
    let wasm = site.get("/a.wasm");
    wasm.expect(200, "wasm");
    assert_eq!(wasm.header("content-type"), Some("application/wasm"));
    let w = site.get("/models/m/w.safetensors");
    w.expect(200, "weights");
    assert_eq!(w.body, [1u8; 1000]);
    assert_eq!(w.header("content-type"), Some("application/octet-stream"));
}

#[test]
fn if_none_match_gets_304_and_a_rewrite_of_the_same_size_a_new_etag() {
    let site = Site::new(Limits::default());
    let target = "/models/m/w.safetensors";
    let etag = site.get(target).header("etag").unwrap().to_string();
    for header in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"other\", {etag}"),
        "*".into(),
    ] {
        for method in ["GET", "HEAD"] {
            let r = site.ask(method, target, &[&format!("If-None-Match: {header}")]);
            r.expect(304, &header);
            assert!(r.body.is_empty(), "{method} 304 with a body");
            assert_eq!(r.header("etag"), Some(&*etag));
        }
    }
    site.ask("GET", target, &["If-None-Match: \"other\""])
        .expect(200, "another ETag");
    // A retrained checkpoint of the same size, written at once (same length, and perhaps the
    // same modification time): a new ETag, and the old one no longer matches.
    let path = site.root().join("models/m/w.safetensors");
    std::fs::write(&path, [2u8; 1000]).unwrap();
    let r = site.ask("GET", target, &[&format!("If-None-Match: {etag}")]);
    r.expect(200, "rewritten");
    assert_eq!(r.body, [2u8; 1000]);
    assert_ne!(r.header("etag"), Some(&*etag), "same ETag after a rewrite");
    std::fs::write(&path, [1u8; 1000]).unwrap();
    assert_eq!(
        site.get(target).header("etag"),
        Some(&*etag),
        "ETag is by content"
    );
}

#[test]
fn head_has_the_headers_and_length_of_get_but_never_a_body() {
    let site = Site::new(Limits::default());
    let cases = [
        ("/index.html", site.host(), 200),
        ("/no-such-file", site.host(), 404),
        ("/%2e%2e/outside/secret.txt", site.host(), 400),
        ("/index.html", "evil.example".to_string(), 403),
    ];
    for (target, host, status) in cases {
        let raw = format!("HEAD {target} HTTP/1.1\r\nHost: {host}\r\n\r\n");
        let head = site.raw(raw.as_bytes());
        head.expect(status, target);
        assert!(head.body.is_empty(), "HEAD {target} ({status}) sent a body");
        let get = site.raw(raw.replacen("HEAD", "GET", 1).as_bytes());
        assert_eq!(get.status, status);
        assert_eq!(head.header("content-length"), get.header("content-length"));
        assert_eq!(
            get.body.len().to_string(),
            get.header("content-length").unwrap()
        );
        assert_eq!(head.header("etag"), get.header("etag"));
    }
    // HEAD of a head too large for the server: 431 without a body either.
    let big = format!(
        "HEAD / HTTP/1.1\r\nHost: {}\r\nX-Big: {}\r\n\r\n",
        site.host(),
        "a".repeat(20_000)
    );
    let r = site.raw(big.as_bytes());
    r.expect(431, "HEAD too large");
    assert!(r.body.is_empty());
}

#[test]
fn not_found_bad_method_and_malformed_requests() {
    let site = Site::new(Limits::default());
    let r = site.get("/no-such-file.js");
    r.expect(404, "missing file");
    assert!(r.text().contains("not found"), "{}", r.text());
    site.get("/models/m/")
        .expect(404, "folder without index.html");
    for method in ["POST", "PUT", "DELETE", "OPTIONS"] {
        let r = site.ask(method, "/index.html", &[]);
        r.expect(405, method);
        assert_eq!(r.header("allow"), Some("GET, HEAD"));
        assert!(r.text().contains("GET or HEAD only"));
    }
    let host = site.host();
    let malformed = [
        "hello\r\n\r\n".to_string(),
        "GET /\r\n\r\n".into(),
        "GET / HTTP/2.0\r\nHost: x\r\n\r\n".into(),
        "get / HTTP/1.1\r\n\r\n".into(),
        format!("GET / HTTP/1.1\r\nHost: {host}\r\nno colon here\r\n\r\n"),
        format!("GET / HTTP/1.1\r\nHost: {host}\r\nBad Name: x\r\n\r\n"),
        "GET / HTTP/1.1\r\n\r\n".into(),
        format!("GET / HTTP/1.1\r\nHost: {host}\r\nHost: {host}\r\n\r\n"),
        format!("GET http://{host}/index.html HTTP/1.1\r\nHost: {host}\r\n\r\n"),
        format!("GET * HTTP/1.1\r\nHost: {host}\r\n\r\n"),
        format!("GET / HTTP/1.1\r\nHost: {host}\r\n"),
    ];
    for raw in &malformed {
        let mut s = site.connect();
        s.write_all(raw.as_bytes()).unwrap();
        // The last case ends before its blank line: the server sees the close.
        s.shutdown(Shutdown::Write).unwrap();
        read_reply(&mut s).expect(400, raw);
    }
}

#[test]
fn heads_over_the_caps_get_414_or_431() {
    let site = Site::new(Limits::default());
    let long_target = format!("/{}", "a".repeat(super::request::MAX_REQUEST_LINE));
    site.get(&long_target).expect(414, "long request line");
    let cookie = format!("Cookie: {}", "c".repeat(super::request::MAX_HEAD));
    let r = site.ask("GET", "/", &[&cookie]);
    r.expect(431, "large headers");
    assert!(r.text().contains("larger than"), "{}", r.text());
    // Many lines that add up: the cap is on the whole head.
    let lines: Vec<String> = (0..40)
        .map(|i| format!("X-{i}: {}", "v".repeat(500)))
        .collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    site.ask("GET", "/", &refs).expect(431, "many headers");
    // Below the caps: served.
    let some: Vec<&str> = refs[..20].to_vec();
    site.ask("GET", "/", &some).expect(200, "10 KiB of headers");
}

#[test]
fn traversal_is_refused_in_every_form() {
    let site = Site::new(Limits::default());
    let bad = [
        "/../outside/secret.txt",
        "/models/../../outside/secret.txt",
        "/%2e%2e/outside/secret.txt",
        "/%2E%2E/outside/secret.txt",
        "/.%2e/outside/secret.txt",
        "/models%2f..%2f..%2foutside%2fsecret.txt",
        "/%2foutside",
        "/models%5c..%5c..%5coutside%5csecret.txt",
        "/..\\outside\\secret.txt",
        "/models\\m",
        "/index.html%00.js",
        "/%zz",
        "/%2",
        "outside/secret.txt",
        "C:\\outside\\secret.txt",
    ];
    for target in bad {
        let r = site.get(target);
        r.expect(400, target);
        assert!(
            !r.text().contains(SECRET.trim()),
            "{target} served the secret"
        );
        assert!(r.text().starts_with("bad path"), "{target}: {}", r.text());
    }
    // Absolute paths are read as paths under the served folder: not there.
    let outside = site.dir.join("outside/secret.txt");
    for target in [
        format!("{}", outside.display()),
        format!("/{}", outside.display()),
    ] {
        let r = site.get(&target);
        r.expect(404, &target);
        assert!(!r.text().contains(SECRET.trim()));
    }
    // Harmless forms resolve inside the folder.
    for target in ["/./index.html", "//index.html", "/models/./m/w.safetensors"] {
        site.get(target).expect(200, target);
    }
}

#[cfg(unix)]
#[test]
fn symlinks_out_of_the_root_are_refused() {
    use std::os::unix::fs::symlink;
    let site = Site::new(Limits::default());
    let root = site.root();
    symlink(site.dir.join("outside/secret.txt"), root.join("file-link")).unwrap();
    symlink(site.dir.join("outside"), root.join("dir-link")).unwrap();
    symlink("../outside", root.join("relative-link")).unwrap();
    symlink(root.join("index.html"), root.join("inside-link.html")).unwrap();
    std::fs::create_dir(root.join("sub")).unwrap();
    symlink(
        site.dir.join("outside/secret.txt"),
        root.join("sub/index.html"),
    )
    .unwrap();
    for target in [
        "/file-link",
        "/dir-link/secret.txt",
        "/relative-link/secret.txt",
        "/sub/",
    ] {
        let r = site.get(target);
        r.expect(403, target);
        assert!(
            !r.text().contains(SECRET.trim()),
            "{target} served the secret"
        );
    }
    let inside = site.get("/inside-link.html");
    inside.expect(200, "a symlink inside the root");
    assert_eq!(inside.text(), INDEX);
}

#[test]
fn only_loopback_hosts_are_answered() {
    let site = Site::new(Limits::default());
    let port = site.port;
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("LocalHost:{port}"),
        format!("[::1]:{port}"),
    ] {
        let r = site.raw(format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes());
        r.expect(200, &host);
    }
    for host in [
        format!("evil.example:{port}"),
        "evil.example".into(),
        format!("127.0.0.1:{}", port.wrapping_add(1)),
        "localhost".into(),
        format!("localhost.evil.example:{port}"),
        format!("127.0.0.2:{port}"),
        String::new(),
    ] {
        let r = site.raw(format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes());
        r.expect(403, &host);
        assert!(r.text().contains("DNS rebinding"), "{}", r.text());
        assert!(!r.text().contains("<p>index"), "served the page to {host}");
    }
}

/// Whether the server has sent anything on `s` yet (without waiting).
fn answered(s: &TcpStream) -> bool {
    s.set_nonblocking(true).unwrap();
    let mut b = [0u8; 1];
    let got = match s.peek(&mut b) {
        Ok(n) => n > 0,
        Err(e) if e.kind() == ErrorKind::WouldBlock => false,
        Err(e) => panic!("peek: {e}"),
    };
    s.set_nonblocking(false).unwrap();
    got
}

#[test]
fn a_slow_client_times_out_without_holding_up_others() {
    let site = Site::new(Limits {
        read_timeout: Duration::from_secs(2),
        ..Limits::default()
    });
    let mut slow = site.connect();
    slow.write_all(b"GET /index.html HT").unwrap();
    // Others are served while the slow client is still sending.
    for _ in 0..5 {
        site.get("/index.html")
            .expect(200, "while a client is slow");
    }
    assert!(
        !answered(&slow),
        "the slow client was answered before its time ran out"
    );
    let r = read_reply(&mut slow);
    r.expect(408, "slow client");
    assert!(
        r.text().contains("did not arrive within 2.0 s"),
        "{}",
        r.text()
    );
}

#[test]
fn connections_beyond_the_worker_bound_wait_for_a_free_worker() {
    let site = Site::new(Limits {
        workers: 2,
        read_timeout: Duration::from_secs(1),
        ..Limits::default()
    });
    // Two slow clients take both workers; a third, whole request waits in the listen queue and
    // is served only after one of them timed out (it was answered 408 before its worker freed).
    let slow: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut s = site.connect();
            s.write_all(b"GET / HTTP/1.1\r\n").unwrap();
            s
        })
        .collect();
    let third = site.get("/index.html");
    third.expect(200, "the third client");
    assert!(
        slow.iter().any(answered),
        "the third client was served while two slow ones held both workers"
    );
    for mut s in slow {
        read_reply(&mut s).expect(408, "slow client");
    }
    // Many at once: all are served, never more than two at a time.
    let threads: Vec<_> = (0..12)
        .map(|_| {
            let (port, host) = (site.port, site.host());
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
                s.write_all(format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
                    .unwrap();
                read_reply(&mut s).status
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 200);
    }
    assert_eq!(site.server.peak(), 2, "connections served at once");
}

#[test]
fn helpers_dates_and_etag_lists() {
    use std::time::{Duration, UNIX_EPOCH};
    assert_eq!(
        files::http_date(UNIX_EPOCH),
        "Thu, 01 Jan 1970 00:00:00 GMT"
    );
    let rfc = UNIX_EPOCH + Duration::from_secs(784_111_777);
    assert_eq!(files::http_date(rfc), "Sun, 06 Nov 1994 08:49:37 GMT");
    let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
    assert_eq!(files::http_date(leap), "Tue, 29 Feb 2000 00:00:00 GMT");
    assert!(files::none_match("\"a\", W/\"b\"", "\"b\""));
    assert!(!files::none_match("\"a\"", "\"b\""));
    assert_eq!(
        files::mime(Path::new("x.mjs")),
        "text/javascript; charset=utf-8"
    );
}
