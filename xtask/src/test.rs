//! `cargo xtask test`: every check, in the order CI runs them, stopping at the first failure.

use crate::{cargo, fail, rel, root, run, serve, setup, target_dir, web, Result};
use std::process::Command;
use std::time::Instant;

/// Profile of the wasm build the browser tests use. Release is what `serve` and `dist` ship, and
/// measured here it is also the quicker one from a clean checkout (wasm32, 2 cores: release 296 s,
/// debug 401-1133 s, as the dev profile builds dependencies at opt-level 2 with debug info);
/// rebuilding only this crate takes 12 s in release against 5 s in debug.
const WASM_RELEASE: bool = true;

/// The run the browser repeats (tests/browser/harness.js `sampling_ddim`) and compares with.
const NATIVE_SAMPLE: [&str; 16] = [
    "--model",
    "tests/fixtures/models/tiny",
    "--sampler",
    "ddim",
    "--steps",
    "10",
    "--eta",
    "0",
    "--seed",
    "7",
    "--batch",
    "2",
    "--save-npy",
    NATIVE_SAMPLE_NPY,
    "--out",
    "artifacts/native_tiny_ddim10_eta0_seed7_b2.png",
];
const NATIVE_SAMPLE_NPY: &str = "artifacts/native_tiny_ddim10_eta0_seed7_b2.npy";

/// The run the page repeats on the CPU in a browser without WebGPU (tests/page/backend-tests.mjs
/// `NATIVE_PAGE_RUN`), on the model `build-web` ships by default.
const NATIVE_PAGE_SAMPLE: [&str; 18] = [
    "--model",
    "models/emoji32",
    "--sampler",
    "ddim",
    "--steps",
    "10",
    "--eta",
    "0",
    "--seed",
    "7",
    "--batch",
    "4",
    "--backend",
    "cpu",
    "--save-npy",
    NATIVE_PAGE_SAMPLE_NPY,
    "--out",
    "artifacts/native_emoji32_ddim10_eta0_seed7_b4.png",
];
const NATIVE_PAGE_SAMPLE_NPY: &str = "artifacts/native_emoji32_ddim10_eta0_seed7_b4.npy";

/// Where the dist step puts the folder that the page tests serve as a static host would
/// (tests/page/embed-tests.mjs, DP_DIST_DIR), under the target folder.
const PAGE_DIST: &str = "page-dist";

struct Step {
    name: &'static str,
    action: Box<dyn Fn() -> Result<()>>,
}

fn step(name: &'static str, action: impl Fn() -> Result<()> + 'static) -> Step {
    Step {
        name,
        action: Box::new(action),
    }
}

pub fn run_all() -> Result<()> {
    let steps = [
        step("setup", setup::ensure),
        step("cargo fmt --check", || {
            run(cargo().args(["fmt", "--all", "--check"]))
        }),
        step("cargo clippy (native)", || {
            run(cargo().args(["clippy", "--all-targets", "--", "-D", "warnings"]))
        }),
        step(
            "cargo clippy (wasm32: plain and relaxed-SIMD builds)",
            || {
                for features in ["", "relaxed-simd"] {
                    run(cargo()
                        .args(["clippy", "--lib", "--target", "wasm32-unknown-unknown"])
                        .args(["--features", features, "--", "-D", "warnings"]))?;
                }
                Ok(())
            },
        ),
        step("cargo test (native, Vulkan)", || {
            run(cargo().arg("test").env("WGPU_BACKEND", "vulkan"))
        }),
        // `cargo test` at the root tests the root package only (no `default-members`).
        step("xtask tests (dev server, manifests, SHA-256)", || {
            run(cargo().args(["test", "-p", "xtask"]))
        }),
        step("page unit tests (Node, www/ modules)", || {
            run(Command::new("node")
                .arg("tests/page/unit.mjs")
                .current_dir(root()))
        }),
        step("build-web (wasm + wasm-bindgen)", || {
            web::build(&web::BuildOptions {
                release: WASM_RELEASE,
                models: Vec::new(),
            })
            .map(|_| ())
        }),
        step("dist (the bundled folder the embedding tests host)", || {
            web::dist(&target_dir().join("web"), &target_dir().join(PAGE_DIST))
        }),
        step("native DDIM samples (references for the browser)", || {
            std::fs::create_dir_all(root().join("artifacts"))?;
            run(cargo()
                .env("WGPU_BACKEND", "vulkan")
                .args(["run", "--bin", "dp", "--", "sample"])
                .args(NATIVE_SAMPLE))?;
            run(cargo()
                .args(["run", "--bin", "dp", "--", "sample"])
                .args(NATIVE_PAGE_SAMPLE))
        }),
        step("browser tests (headless Chromium, WebGPU and CPU)", || {
            run(Command::new("node")
                .arg("tests/browser/run.mjs")
                .env("DP_NATIVE_SAMPLE_NPY", NATIVE_SAMPLE_NPY)
                .current_dir(root()))
        }),
        step("page tests (headless Chromium, www/)", || {
            // The page as `serve` ships it: target/web/ from the build-web step, served here.
            let url = serve::spawn(&target_dir().join("web"))?;
            run(Command::new("node")
                .arg("tests/page/run.mjs")
                .env("PAGE_URL", url)
                .env("DP_PAGE_NATIVE_NPY", NATIVE_PAGE_SAMPLE_NPY)
                .env("DP_DIST_DIR", target_dir().join(PAGE_DIST))
                .current_dir(root()))
        }),
    ];
    let total = steps.len();
    let started = Instant::now();
    let mut times = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        let n = i + 1;
        println!("\n== [{n}/{total}] {}", s.name);
        let t = Instant::now();
        let result = (s.action)();
        let secs = t.elapsed().as_secs_f64();
        times.push((s.name, secs));
        if let Err(e) = result {
            println!(
                "\nFAILED at step {n}/{total}: {} ({secs:.1} s): {}",
                s.name, e.0
            );
            println!("{} passed, 1 failed ({} not run)", i, total - n);
            return Err(fail!("step `{}` failed (see above)", s.name));
        }
        println!("ok [{n}/{total}] {} ({secs:.1} s)", s.name);
    }
    println!("\ntimings:");
    for (name, secs) in &times {
        println!("  {secs:7.1} s  {name}");
    }
    println!(
        "  {:7.1} s  total (artifacts: {})",
        started.elapsed().as_secs_f64(),
        rel(&root().join("artifacts"))
    );
    println!("{total} passed, 0 failed");
    Ok(())
}
