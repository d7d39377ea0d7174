//! The still image of embedded playgrounds' fallback content (`fallback.png`: what readers see
//! where the element's script cannot load or run): a finished run of the default embed
//! snippet's settings on the page's default model, made by the native CLI (`dp sample`, on the
//! CPU, so it needs no GPU and is the same on every machine). Cached under
//! `target/still/`, keyed by the model's files and the settings, so a rebuild costs nothing.

use crate::{cargo, fail, rel, run, target_dir, Result};
use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

/// The file name the embed snippets point at (www/url-state.js `FALLBACK_IMAGE`).
pub const FILE: &str = "fallback.png";

/// The README snippet's run (www/url-state.js `DEFAULTS`: DDIM 50, eta 0, seed 7, batch 1),
/// drawn at 256 px to fill the snippet's 256x256 <img> with crisp pixels.
const SETTINGS: [&str; 14] = [
    "--sampler",
    "ddim",
    "--steps",
    "50",
    "--eta",
    "0",
    "--seed",
    "7",
    "--batch",
    "1",
    "--backend",
    "cpu",
    "--cell-px",
    "256",
];

/// Writes `dest` (the still image) for the checkpoint in `model` (a flat diffusers folder).
pub fn write(model: &Path, dest: &Path) -> Result<()> {
    let cached = cache_path(model)?;
    if !cached.is_file() {
        fs::create_dir_all(cached.parent().expect("the cache file has a folder"))?;
        let partial = cached.with_extension("partial.png");
        println!(
            "making the fallback still image from {} (dp sample on the CPU)",
            rel(model)
        );
        // The debug build (opt-level 1, dependencies at 2) is quick enough for one 32x32 run and
        // is the build `cargo test` already made.
        run(cargo()
            .args(["run", "--quiet", "--bin", "dp", "--", "sample", "--model"])
            .arg(model)
            .args(SETTINGS)
            .arg("--out")
            .arg(&partial)
            // Its per-step timing lines say nothing here; errors still go to stderr.
            .stdout(std::process::Stdio::null()))?;
        fs::rename(&partial, &cached)?;
    }
    fs::copy(&cached, dest)
        .map_err(|e| fail!("cannot copy {} to {}: {e}", rel(&cached), dest.display()))?;
    println!("still image {} -> {}", rel(&cached), rel(dest));
    Ok(())
}

/// `target/still/<hash>.png`, the hash over the settings and the model's files.
fn cache_path(model: &Path) -> Result<PathBuf> {
    let mut h = DefaultHasher::new();
    SETTINGS.hash(&mut h);
    for file in [
        "config.json",
        "diffusion_pytorch_model.safetensors",
        "scheduler_config.json",
    ] {
        let path = model.join(file);
        file.hash(&mut h);
        if path.is_file() {
            fs::read(&path)
                .map_err(|e| fail!("cannot read {}: {e}", rel(&path)))?
                .hash(&mut h);
        }
    }
    Ok(target_dir()
        .join("still")
        .join(format!("{:016x}.png", h.finish())))
}
