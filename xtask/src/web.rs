//! `build-web` and `dist`: the wasm library through wasm-bindgen, the page and the models, laid
//! out as one static folder (`target/web/`) that any static server can serve.
//!
//! ```text
//! target/web/
//!   pkg/diffusion_playground.js, diffusion_playground_bg.wasm (+ .d.ts)
//!   pkg/diffusion_playground_relaxed_bg.wasm   the same with relaxed SIMD (see engine.js)
//!   <everything in www/>              plain ES modules, as they are in the repository
//!   fallback.png                      the embed snippets' still image (still.rs)
//!   models/index.json                ["<name>", ...]
//!   models/<name>/config.json, diffusion_pytorch_model.safetensors[, scheduler_config.json]
//!   models/<name>/manifest.json      the weights' length and SHA-256 (manifest.rs)
//! ```
//!
//! `dist` copies that and replaces the plain modules with what a host should serve (bundle.rs):
//! `diffusion-playground.js` and `embed.js` as one minified module each (the wasm-bindgen glue
//! inside), the wasm, and the header files of common static hosts.

use crate::{bundle, cargo, fail, manifest, rel, root, run, still, target_dir, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

const CRATE_LIB: &str = "diffusion_playground";
const WEIGHTS: &str = "diffusion_pytorch_model.safetensors";

pub struct BuildOptions {
    pub release: bool,
    /// Model folders to ship; empty means the default (`models/emoji32`, else the tiny fixture).
    pub models: Vec<PathBuf>,
}

/// Builds `target/web/` and returns its path.
pub fn build(opts: &BuildOptions) -> Result<PathBuf> {
    let started = Instant::now();
    let profile = if opts.release { "release" } else { "debug" };
    let models = model_dirs(&opts.models)?;
    crate::setup::wasm_target()?;

    let out = target_dir().join("web");
    if out.exists() {
        fs::remove_dir_all(&out).map_err(|e| fail!("cannot clear {}: {e}", rel(&out)))?;
    }
    let pkg = out.join("pkg");
    wasm_lib(opts.release, &[], &pkg)?;
    // The same library with relaxed SIMD's fused multiply-add in the CPU kernels' GEMM: only
    // this crate recompiles (a feature, not other rustflags). Its bindings must be the plain
    // build's, so the page can load either wasm with the one JS module.
    let relaxed = target_dir().join("web-relaxed");
    wasm_lib(opts.release, &["relaxed-simd"], &relaxed)?;
    let js = format!("{CRATE_LIB}.js");
    if fs::read(pkg.join(&js))? != fs::read(relaxed.join(&js))? {
        return Err(fail!(
            "the relaxed-SIMD build's bindings ({}) differ from the plain build's: the page \
             cannot load it with the same JS module",
            rel(&relaxed.join(&js))
        ));
    }
    fs::rename(
        relaxed.join(format!("{CRATE_LIB}_bg.wasm")),
        pkg.join(format!("{CRATE_LIB}_relaxed_bg.wasm")),
    )?;
    fs::remove_dir_all(&relaxed)?;

    let www = root().join("www");
    if www.is_dir() && fs::read_dir(&www)?.next().is_some() {
        println!("copying www/ -> {}", rel(&out));
        copy_dir(&www, &out)?;
    } else {
        println!("note: www/ is empty or missing; target/web/ has only the bindings and models");
    }

    let mut names = Vec::new();
    for dir in &models {
        names.push(copy_model(dir, &out.join("models"))?);
    }
    let index = format!(
        "[{}]\n",
        names
            .iter()
            .map(|n| format!("\"{n}\""))
            .collect::<Vec<_>>()
            .join(", ")
    );
    fs::write(out.join("models").join("index.json"), index)?;
    // The page's default model (www/url-state.js DEFAULT_MODEL) when shipped, else the first.
    let default = names
        .iter()
        .find(|n| n.as_str() == "emoji32")
        .unwrap_or(&names[0]);
    still::write(&out.join("models").join(default), &out.join(still::FILE))?;

    let wasm_out = pkg.join(format!("{CRATE_LIB}_bg.wasm"));
    let size = fs::metadata(&wasm_out)?.len();
    println!(
        "built {} ({profile}) in {:.1} s; wasm {} = {size} bytes ({:.0} KiB)",
        rel(&out),
        started.elapsed().as_secs_f64(),
        rel(&wasm_out),
        size as f64 / 1024.0
    );
    Ok(out)
}

/// Builds the wasm library (with `features`) and runs wasm-bindgen on it into `pkg`.
fn wasm_lib(release: bool, features: &[&str], pkg: &Path) -> Result<()> {
    let profile = if release { "release" } else { "debug" };
    let mut build = cargo();
    build.args(["build", "--lib", "--target", "wasm32-unknown-unknown"]);
    if release {
        build.arg("--release");
    }
    if !features.is_empty() {
        build.args(["--features", &features.join(",")]);
    }
    run(&mut build)?;
    let wasm = target_dir()
        .join("wasm32-unknown-unknown")
        .join(profile)
        .join(format!("{CRATE_LIB}.wasm"));
    println!(
        "wasm-bindgen --target web --out-name {CRATE_LIB} {} -> {}",
        rel(&wasm),
        rel(pkg)
    );
    wasm_bindgen_cli_support::Bindgen::new()
        .input_path(&wasm)
        .web(true)?
        .out_name(CRATE_LIB)
        .typescript(true)
        // The CLI's default (the library's is the opposite): `init()` with no argument fetches
        // the wasm next to the JS module.
        .omit_default_module_path(false)
        // `__wbg_reset_state()`: a fresh instance of the same module after a trap (engine.js's
        // crash recovery), so one panic does not leave every playground on the page dead.
        .reset_state_function(true)
        .debug(!release)
        .generate(pkg)
        .map_err(|e| fail!("wasm-bindgen on {} failed: {e:#}", rel(&wasm)))?;
    Ok(())
}

/// Copies a built `target/web/` to a self-contained static folder.
pub fn dist(built: &Path, out: &Path) -> Result<()> {
    if out.exists() {
        // Replace only what is recognisably an earlier dist (or nothing at all).
        let ours = out
            .join("pkg")
            .join(format!("{CRATE_LIB}_bg.wasm"))
            .is_file();
        if !ours && fs::read_dir(out)?.next().is_some() {
            return Err(fail!(
                "{} exists and is not an earlier dist: choose another --out or remove it",
                out.display()
            ));
        }
        fs::remove_dir_all(out)?;
    }
    copy_dir(built, out)?;
    bundle::bundle(built, out)?;
    bundle::write_host_headers(out)?;
    println!(
        "dist ready: {} (serve it with any static server; .wasm must be application/wasm, and \
         pages on other origins need the headers in its _headers file: see the README's \
         \"Embedding in your blog\")",
        out.display()
    );
    Ok(())
}

/// The model folders to ship, checked before anything is built: the ones given, else
/// `models/emoji32` if it holds a checkpoint, else the tiny test fixture.
fn model_dirs(given: &[PathBuf]) -> Result<Vec<PathBuf>> {
    if !given.is_empty() {
        for dir in given {
            let (unet, _) = checkpoint_layout(dir);
            if let Some(file) = ["config.json", WEIGHTS]
                .into_iter()
                .find(|f| !unet.join(f).is_file())
            {
                return Err(fail!(
                    "--model {}: no {file} there (nor under unet/)",
                    dir.display()
                ));
            }
        }
        return Ok(given.to_vec());
    }
    let trained = root().join("models").join("emoji32");
    let dir = if checkpoint_layout(&trained).0.join(WEIGHTS).is_file() {
        trained
    } else {
        root()
            .join("tests")
            .join("fixtures")
            .join("models")
            .join("tiny")
    };
    println!("model: {} (default; choose with --model DIR)", rel(&dir));
    Ok(vec![dir])
}

/// Where a checkpoint's UNet and scheduler files are: a flat folder, or the diffusers pipeline
/// layout (`unet/`, `scheduler/`).
fn checkpoint_layout(dir: &Path) -> (PathBuf, PathBuf) {
    if dir.join("unet").join("config.json").is_file() {
        (dir.join("unet"), dir.join("scheduler"))
    } else {
        (dir.to_path_buf(), dir.to_path_buf())
    }
}

/// Copies one checkpoint into `models/<name>/`. Returns the name.
fn copy_model(dir: &Path, models: &Path) -> Result<String> {
    let name = dir
        .canonicalize()?
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| fail!("model folder {} has no usable name", dir.display()))?
        .to_string();
    let (unet, scheduler) = checkpoint_layout(dir);
    let dest = models.join(&name);
    fs::create_dir_all(&dest)?;
    for file in ["config.json", WEIGHTS] {
        copy_file(&unet.join(file), &dest.join(file))?;
    }
    let sched = scheduler.join("scheduler_config.json");
    if sched.is_file() {
        copy_file(&sched, &dest.join("scheduler_config.json"))?;
    }
    manifest::write(&dest, &[WEIGHTS])?;
    println!("copied model {} -> {}", rel(dir), rel(&dest));
    Ok(name)
}

fn copy_dir(src: &Path, dest: &Path) -> Result<()> {
    fs::create_dir_all(dest)?;
    for entry in fs::read_dir(src)? {
        let entry = entry?;
        let to = dest.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &to)?;
        } else {
            copy_file(&entry.path(), &to)?;
        }
    }
    Ok(())
}

/// Copies contents only: the copy gets ordinary permissions (a 0600 source stays servable).
fn copy_file(src: &Path, dest: &Path) -> Result<()> {
    let copy = || -> std::io::Result<u64> {
        std::io::copy(&mut fs::File::open(src)?, &mut fs::File::create(dest)?)
    };
    copy()
        .map(|_| ())
        .map_err(|e| fail!("cannot copy {} to {}: {e}", src.display(), dest.display()))
}
