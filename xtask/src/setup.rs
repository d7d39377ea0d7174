//! `cargo xtask setup`: makes sure the machine has what building and testing need, installing
//! what is missing and printing each action. Non-interactive (CI has no stdin), idempotent.

use crate::{fail, output, root, run, Error, Result};
use std::process::Command;

const WASM_TARGET: &str = "wasm32-unknown-unknown";
const RUST_COMPONENTS: [&str; 2] = ["rustfmt", "clippy"];
/// Mesa's software Vulkan driver (native tests) and Chromium with SwiftShader (browser tests).
const DEBIAN_PACKAGES: [&str; 3] = ["mesa-vulkan-drivers", "libvulkan1", "chromium"];
/// Installed from Debian only when no `node`/`npm` is on PATH (a newer Node may be present).
const NODE_PACKAGES: [&str; 2] = ["nodejs", "npm"];
/// The oldest Node that the pinned playwright-core supports.
const MIN_NODE_MAJOR: u32 = 18;

pub fn ensure() -> Result<()> {
    println!("== setup: checking what the project needs");
    rust()?;
    debian()?;
    node()?;
    println!("== setup: everything is in place");
    Ok(())
}

fn rustup_missing() -> Error {
    fail!("`rustup` is not on PATH: install Rust with rustup (https://rustup.rs), then rerun")
}

/// The wasm32 target, the one thing `build-web` (and so `serve`, `dist`) needs beyond cargo.
pub fn wasm_target() -> Result<()> {
    let targets = output(Command::new("rustup").args(["target", "list", "--installed"]))
        .ok_or_else(rustup_missing)?;
    if targets.lines().any(|l| l.trim() == WASM_TARGET) {
        println!("ok: Rust target {WASM_TARGET}");
        return Ok(());
    }
    println!("installing the Rust target {WASM_TARGET} (the browser build needs it)");
    run(Command::new("rustup").args(["target", "add", WASM_TARGET]))
}

fn rust() -> Result<()> {
    wasm_target()?;
    let components = output(Command::new("rustup").args(["component", "list", "--installed"]))
        .ok_or_else(rustup_missing)?;
    let missing: Vec<&str> = RUST_COMPONENTS
        .into_iter()
        .filter(|c| {
            !components
                .lines()
                .any(|l| l.starts_with(&format!("{c}-")) || l.trim() == *c)
        })
        .collect();
    if missing.is_empty() {
        println!("ok: Rust components {}", RUST_COMPONENTS.join(", "));
    } else {
        println!(
            "installing the Rust components {} (cargo fmt / cargo clippy)",
            missing.join(" ")
        );
        run(Command::new("rustup")
            .arg("component")
            .arg("add")
            .args(&missing))?;
    }
    Ok(())
}

fn debian() -> Result<()> {
    let mut wanted: Vec<&str> = DEBIAN_PACKAGES.to_vec();
    if !on_path("node") || !on_path("npm") {
        wanted.extend(NODE_PACKAGES);
    }
    if output(Command::new("dpkg-query").arg("--version")).is_none() {
        return Err(fail!(
            "this is not a Debian-based system (no dpkg-query): install the equivalents of {} yourself",
            wanted.join(" ")
        ));
    }
    let missing: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|p| !dpkg_installed(p))
        .collect();
    if missing.is_empty() {
        println!("ok: Debian packages {}", wanted.join(" "));
        return Ok(());
    }
    let list = missing.join(" ");
    if !is_root() {
        return Err(fail!(
            "missing Debian packages: {list}. Install them as root, then rerun:\n  \
             sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y {list}"
        ));
    }
    println!("installing the Debian packages {list} (apt-get, non-interactive)");
    run(Command::new("apt-get")
        .arg("update")
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    run(Command::new("apt-get")
        .args(["install", "-y"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(std::process::Stdio::null()))?;
    Ok(())
}

/// Node.js, and the npm packages of package-lock.json (playwright-core drives Chromium, esbuild
/// bundles `dist`, onnxruntime-web is the CPU benchmark's peer) at the versions it pins.
pub fn node() -> Result<()> {
    let version = output(Command::new("node").arg("--version"))
        .ok_or_else(|| fail!("`node` does not run: install Node.js {MIN_NODE_MAJOR} or newer (Debian: apt-get install -y nodejs npm)"))?;
    let version = version.trim();
    let major: u32 = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    if major < MIN_NODE_MAJOR {
        return Err(fail!("Node.js {version} is too old for playwright-core: install Node.js {MIN_NODE_MAJOR} or newer"));
    }
    println!("ok: Node.js {version}");
    // Every dev dependency must be installed at the version the lock file pins.
    let check = "const lock = require('./package-lock.json').packages; \
                 const names = Object.keys(require('./package.json').devDependencies); \
                 const have = (n) => { try { return require(`./node_modules/${n}/package.json`).version; } catch { return null; } }; \
                 if (names.some((n) => have(n) !== lock[`node_modules/${n}`].version)) process.exit(1); \
                 console.log(names.map((n) => `${n} ${have(n)}`).join(', '));";
    if let Some(have) = output(Command::new("node").args(["-e", check]).current_dir(root())) {
        println!("ok: npm packages {}", have.trim());
        return Ok(());
    }
    println!(
        "installing the npm packages of package-lock.json (playwright-core drives Chromium, \
         esbuild bundles dist, onnxruntime-web is benches/cpu.mjs's peer)"
    );
    run(Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(root())
        .stdin(std::process::Stdio::null()))
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

fn dpkg_installed(package: &str) -> bool {
    output(Command::new("dpkg-query").args(["-W", "-f=${Status}", package]))
        .is_some_and(|s| s.trim() == "install ok installed")
}

fn is_root() -> bool {
    output(Command::new("id").arg("-u")).is_some_and(|s| s.trim() == "0")
}
