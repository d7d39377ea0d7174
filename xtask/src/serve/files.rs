//! What a request target names under the served folder, and what the server says about a file:
//! its MIME type, its ETag (from its contents) and its Last-Modified date.

use crate::sha256;
use std::collections::HashMap;
use std::fs::{self, Metadata};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Why a target names no file that may be served: 400 (a path the server never resolves),
/// 403 (it resolves outside the served folder, through a symlink) or 404.
#[derive(Debug, PartialEq)]
pub enum Refused {
    BadPath(&'static str),
    Outside,
    NotFound,
}

/// The regular file that `target` (a request's origin-form target) names under `root` (a
/// canonical path), with its metadata; a folder means its `index.html`.
///
/// Refused before the file system is asked: a target that does not start with `/`, backslashes,
/// `..` segments (also percent-encoded), encoded `/` or `\` (`%2f`, `%5c`), NUL (`%00`) and bad
/// percent-encoding. After it: anything whose canonical path (symlinks resolved) is not inside
/// `root`.
pub fn resolve(root: &Path, target: &str) -> Result<(PathBuf, Metadata), Refused> {
    let path = target.split(['?', '#']).next().unwrap_or("");
    if !path.starts_with('/') {
        return Err(Refused::BadPath("the path must start with /"));
    }
    if path.contains('\\') {
        return Err(Refused::BadPath("backslashes are not allowed in paths"));
    }
    let decoded = percent_decode(path)?;
    let mut out = root.to_path_buf();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => return Err(Refused::BadPath("`..` is not allowed in paths")),
            s => out.push(s),
        }
    }
    let mut file = inside(root, &out)?;
    if file.is_dir() {
        file = inside(root, &file.join("index.html"))?;
    }
    match fs::metadata(&file) {
        Ok(meta) if meta.is_file() => Ok((file, meta)),
        _ => Err(Refused::NotFound),
    }
}

/// The canonical form of `path`, if it exists and lies inside `root`.
fn inside(root: &Path, path: &Path) -> Result<PathBuf, Refused> {
    let canonical = path.canonicalize().map_err(|_| Refused::NotFound)?;
    if canonical.starts_with(root) {
        Ok(canonical)
    } else {
        Err(Refused::Outside)
    }
}

/// Decodes `%XX` escapes, refusing those that would smuggle in a separator or NUL.
fn percent_decode(s: &str) -> Result<String, Refused> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let byte = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .ok_or(Refused::BadPath("bad percent-encoding in the path"))?;
        match byte {
            b'/' | b'\\' => {
                return Err(Refused::BadPath(
                    "encoded slashes (%2f, %5c) are not allowed in paths",
                ))
            }
            0 => return Err(Refused::BadPath("NUL (%00) is not allowed in paths")),
            _ => out.push(byte),
        }
        i += 3;
    }
    String::from_utf8(out).map_err(|_| Refused::BadPath("the path is not UTF-8"))
}

/// Files modified this recently are hashed again on every request: a file rewritten twice
/// within the file system's timestamp granularity keeps its length and modification time.
const SETTLED: Duration = Duration::from_secs(2);

/// ETags from file contents (the first 128 bits of SHA-256, hex), remembered per path while
/// the file's length and modification time stay the same, so a large file is hashed once; a
/// retrained checkpoint of the same size gets a new ETag.
#[derive(Default)]
pub struct Etags {
    known: Mutex<HashMap<PathBuf, (u64, SystemTime, String)>>,
}

impl Etags {
    /// The ETag of `path` if known for this length and modification time, else None.
    pub fn known(&self, path: &Path, meta: &Metadata) -> Option<String> {
        let modified = meta.modified().ok()?;
        let settled = SystemTime::now()
            .duration_since(modified)
            .is_ok_and(|age| age >= SETTLED);
        let known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        match known.get(path) {
            Some((len, at, tag)) if settled && *len == meta.len() && *at == modified => {
                Some(tag.clone())
            }
            _ => None,
        }
    }

    /// The ETag of `contents`, read from `path` whose metadata (from before the read) is `meta`.
    pub fn of(&self, path: &Path, meta: &Metadata, contents: &[u8]) -> String {
        let tag = format!("\"{}\"", &sha256::hex(contents)[..32]);
        if let Ok(modified) = meta.modified() {
            let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
            known.insert(path.to_path_buf(), (meta.len(), modified, tag.clone()));
        }
        tag
    }
}

/// Whether an `If-None-Match` value matches `etag` (weak comparison, as RFC 9110 asks for it).
pub fn none_match(header: &str, etag: &str) -> bool {
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_string();
    header.trim() == "*" || header.split(',').any(|t| bare(t) == bare(etag))
}

/// `t` as an HTTP date (IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn http_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Days since 1970-01-01 to a civil date (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// The Content-Type for a file; the same table as tests/page/static-server.mjs's `MIME`, plus
/// a few image and font types.
pub fn mime(path: &Path) -> &'static str {
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
