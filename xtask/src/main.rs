//! Project tasks, run as `cargo xtask <command>` (the alias lives in `.cargo/config.toml`).
//!
//! - `setup`: installs what the project needs (wasm target, rustfmt/clippy, Mesa Vulkan,
//!   Chromium, Node packages) and says what it does; quick when everything is present.
//! - `build-web [--release|--debug] [--model DIR]...`: the wasm library, wasm-bindgen
//!   (`--target web`), `www/` and the model files, all under `target/web/`.
//! - `serve [--port P] [--release|--debug] [--model DIR]...`: `build-web`, then a static server.
//! - `dist [--out DIR] [--model DIR]...`: `build-web --release` as a static folder to host: one
//!   minified module per page, the wasm, the models, and `_headers`/`.htaccess` for CORS.
//! - `test`: every check CI runs, in order, stopping at the first failure.

mod bundle;
mod manifest;
mod serve;
mod setup;
mod sha256;
mod still;
mod test;
mod web;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// A failure with a message that says what went wrong and what to do.
pub struct Error(String);

impl<E: std::fmt::Display> From<E> for Error {
    fn from(e: E) -> Self {
        Error(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Builds an [`Error`] from a format string.
#[macro_export]
macro_rules! fail {
    ($($arg:tt)*) => {
        $crate::Error(format!($($arg)*))
    };
}

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  setup                          install what the project needs (wasm target, rustfmt, clippy,
                                 Debian packages mesa-vulkan-drivers libvulkan1 chromium,
                                 npm packages) and report what was done
  build-web [--release|--debug] [--model DIR]...
                                 build the wasm + JS bindings, www/ and models into target/web/
                                 (default: --release; model models/emoji32, else the tiny fixture)
  serve [--port P] [--release|--debug] [--model DIR]...
                                 build-web (default --release), then serve target/web/ on
                                 127.0.0.1:P (default port 8080)
  dist [--out DIR] [--model DIR]...
                                 build-web --release, then a static folder to host (default dist/):
                                 the element as one minified module (esbuild), the wasm, the
                                 models, and _headers/.htaccess with the CORS headers
  test                           setup, fmt, clippy (native + wasm), cargo test, the wasm build,
                                 the headless-Chromium engine and page tests; stops at the
                                 first failure
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match dispatch(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Error(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(args: &[String]) -> Result<()> {
    let Some((cmd, rest)) = args.split_first() else {
        print!("{USAGE}");
        return Err(fail!("no command given"));
    };
    let mut opts = Options::parse(rest);
    match cmd.as_str() {
        "setup" => {
            opts.no_more()?;
            setup::ensure()
        }
        "build-web" => {
            let release = opts.profile()?;
            let models = opts.models();
            opts.no_more()?;
            web::build(&web::BuildOptions { release, models }).map(|_| ())
        }
        "serve" => {
            let port = opts.port()?;
            let release = opts.profile()?;
            let models = opts.models();
            opts.no_more()?;
            let out = web::build(&web::BuildOptions { release, models })?;
            serve::serve(&out, port)
        }
        "dist" => {
            let out = opts
                .take_value("--out")
                .map(PathBuf::from)
                .unwrap_or_else(|| root().join("dist"));
            let models = opts.models();
            opts.no_more()?;
            let built = web::build(&web::BuildOptions {
                release: true,
                models,
            })?;
            web::dist(&built, &out)
        }
        "test" => {
            opts.no_more()?;
            test::run_all()
        }
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(())
        }
        other => {
            print!("{USAGE}");
            Err(fail!("unknown command `{other}`"))
        }
    }
}

/// Command-line options: flags and `--name value` pairs, consumed by the command that uses them.
struct Options {
    args: Vec<String>,
}

impl Options {
    fn parse(args: &[String]) -> Self {
        let mut out = Vec::new();
        for a in args {
            // Accept `--name=value` as well as `--name value`.
            match a.split_once('=') {
                Some((k, v)) if k.starts_with("--") => {
                    out.push(k.to_string());
                    out.push(v.to_string());
                }
                _ => out.push(a.clone()),
            }
        }
        Options { args: out }
    }

    fn take_flag(&mut self, name: &str) -> bool {
        let before = self.args.len();
        self.args.retain(|a| a != name);
        self.args.len() != before
    }

    fn take_value(&mut self, name: &str) -> Option<String> {
        let i = self.args.iter().position(|a| a == name)?;
        if i + 1 >= self.args.len() {
            return None;
        }
        let v = self.args.remove(i + 1);
        self.args.remove(i);
        Some(v)
    }

    fn models(&mut self) -> Vec<PathBuf> {
        std::iter::from_fn(|| self.take_value("--model"))
            .map(PathBuf::from)
            .collect()
    }

    fn profile(&mut self) -> Result<bool> {
        match (self.take_flag("--release"), self.take_flag("--debug")) {
            (true, true) => Err(fail!("give either --release or --debug, not both")),
            (_, debug) => Ok(!debug),
        }
    }

    fn port(&mut self) -> Result<u16> {
        match self.take_value("--port") {
            None => Ok(8080),
            Some(p) => p
                .parse()
                .map_err(|_| fail!("--port wants a number 1-65535, got `{p}`")),
        }
    }

    fn no_more(&self) -> Result<()> {
        match self.args.first() {
            None => Ok(()),
            Some(a) => Err(fail!("unexpected argument `{a}` (see `cargo xtask help`)")),
        }
    }
}

/// The repository root (the parent of this crate's folder). `cargo run` sets
/// `CARGO_MANIFEST_DIR` at run time too; that one wins, so a binary built in another checkout
/// that shares the target folder still works on this one.
pub fn root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir
        .parent()
        .expect("xtask lives one level below the repository root")
        .to_path_buf()
}

/// Cargo's target folder (`CARGO_TARGET_DIR` when set).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => root().join(d),
        None => root().join("target"),
    }
}

/// The cargo that runs this task (so `cargo +toolchain xtask` keeps its toolchain).
pub fn cargo() -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.current_dir(root());
    c
}

/// Runs a command in the foreground, echoing it first; fails unless it exits with status 0.
pub fn run(cmd: &mut Command) -> Result<()> {
    let shown = show(cmd);
    println!("$ {shown}");
    let status = cmd
        .status()
        .map_err(|e| fail!("could not start `{shown}`: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(fail!("`{shown}` failed ({status})"))
    }
}

/// Runs a command quietly and returns its stdout, or `None` if it cannot start or fails.
pub fn output(cmd: &mut Command) -> Option<String> {
    let out = cmd
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The command line as a shell would show it (environment overrides first).
fn show(cmd: &Command) -> String {
    let mut parts: Vec<String> = cmd
        .get_envs()
        .filter_map(|(k, v)| Some(format!("{}={}", k.to_string_lossy(), v?.to_string_lossy())))
        .collect();
    let program = cmd.get_program();
    // `cargo` rather than the toolchain's full path that `$CARGO` holds.
    let is_cargo = std::env::var_os("CARGO").is_some_and(|c| c == program);
    parts.push(if is_cargo {
        "cargo".into()
    } else {
        program.to_string_lossy().into_owned()
    });
    parts.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    parts.join(" ")
}

/// A path relative to the repository root when it lies inside it, for messages.
pub fn rel(p: &Path) -> String {
    p.strip_prefix(root()).unwrap_or(p).display().to_string()
}
