//! A small static HTTP/1.1 server (GET and HEAD) for `cargo xtask serve`: std only, one
//! thread per connection, bound to 127.0.0.1, with the MIME types a wasm page needs and the
//! headers that let pages on other origins embed the playground ([`EMBED_HEADERS`]).

use crate::{fail, Result};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};

/// Sent with every response: the element's module scripts, its wasm and the model files are
/// fetched in CORS mode by a blog post on another origin (without `Access-Control-Allow-Origin`
/// the browser blocks the module script), and a cross-origin-isolated post (`Cross-Origin-
/// Embedder-Policy: require-corp`) loads the stylesheet and images only with
/// `Cross-Origin-Resource-Policy: cross-origin`. `dist` writes the same pairs for static hosts.
pub const EMBED_HEADERS: [(&str, &str); 2] = [
    ("Access-Control-Allow-Origin", "*"),
    ("Cross-Origin-Resource-Policy", "cross-origin"),
];

/// Serves `dir` on 127.0.0.1:`port` until the process ends.
pub fn serve(dir: &Path, port: u16) -> Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port)).map_err(|e| {
        fail!("cannot listen on 127.0.0.1:{port}: {e} (choose another with --port)")
    })?;
    println!(
        "serving {} at http://127.0.0.1:{port}/ (Ctrl-C to stop)",
        dir.display()
    );
    accept(listener, dir.to_path_buf(), true);
    Ok(())
}

/// Serves `dir` from a background thread on a free port (for tests); returns the base URL.
pub fn spawn(dir: &Path) -> Result<String> {
    let listener = TcpListener::bind(("127.0.0.1", 0))?;
    let url = format!("http://127.0.0.1:{}/", listener.local_addr()?.port());
    let dir = dir.to_path_buf();
    std::thread::spawn(move || accept(listener, dir, false));
    Ok(url)
}

fn accept(listener: TcpListener, dir: PathBuf, log: bool) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let dir = dir.clone();
        std::thread::spawn(move || {
            if let Err(e) = handle(stream, &dir, log) {
                eprintln!("serve: {e}");
            }
        });
    }
}

fn handle(stream: TcpStream, dir: &Path, log: bool) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // Drain the headers; the server needs none of them.
    let mut line = String::new();
    while reader.read_line(&mut line)? > 2 {
        line.clear();
    }
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
    let mut out = stream;
    if method != "GET" && method != "HEAD" {
        return respond(
            &mut out,
            "405 Method Not Allowed",
            "text/plain",
            b"GET or HEAD only\n",
            true,
        );
    }
    let Some(mut path) = resolve(dir, target) else {
        return respond(
            &mut out,
            "400 Bad Request",
            "text/plain",
            b"bad path\n",
            true,
        );
    };
    if path.is_dir() {
        path = path.join("index.html");
    }
    match std::fs::read(&path) {
        Ok(body) => {
            if log {
                println!("{method} {target} 200 {} bytes", body.len());
            }
            respond(&mut out, "200 OK", mime(&path), &body, method == "GET")
        }
        Err(_) => {
            if log {
                println!("{method} {target} 404");
            }
            respond(
                &mut out,
                "404 Not Found",
                "text/plain",
                b"not found\n",
                method == "GET",
            )
        }
    }
}

/// Maps a request target to a file under `dir`, refusing anything that would leave it.
fn resolve(dir: &Path, target: &str) -> Option<PathBuf> {
    let path = target.split(['?', '#']).next()?;
    let decoded = percent_decode(path)?;
    let mut out = dir.to_path_buf();
    for c in Path::new(decoded.trim_start_matches('/')).components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(out)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn respond(
    out: &mut TcpStream,
    status: &str,
    mime: &str,
    body: &[u8],
    with_body: bool,
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {mime}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n",
        body.len()
    );
    for (name, value) in EMBED_HEADERS {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("Connection: close\r\n\r\n");
    out.write_all(head.as_bytes())?;
    if with_body {
        out.write_all(body)?;
    }
    out.flush()
}

fn mime(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "wasm" => "application/wasm",
        "ts" | "txt" | "md" => "text/plain; charset=utf-8",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "ico" => "image/x-icon",
        "webp" => "image/webp",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}
