//! What `dist` ships instead of the plain modules, and the header files hosts read.
//!
//! An embed otherwise pulls about 20 ES modules in a waterfall (each import found only once its
//! importer has arrived) before the wasm and the weights. esbuild (an npm dev dependency, see
//! package.json) bundles each page's entry module — `diffusion-playground.js` (the element, for
//! the embed snippet and index.html), `embed.js` (embed.html) and the CPU worker — with everything it imports,
//! the wasm-bindgen glue included (engine.js imports it by a literal path), into one minified
//! ES module with a source map. The sources in `www/` stay plain modules for development.

use crate::serve::EMBED_HEADERS;
use crate::{fail, rel, root, run, setup, Result};
use std::fs;
use std::path::Path;
use std::process::Command;

/// Entry modules: one bundle each, under the same name, so every page and snippet keeps its URL
/// (`cpu-worker.js`: the CPU backend's Web Worker, which the element starts by that name).
const ENTRIES: [&str; 3] = ["diffusion-playground.js", "embed.js", "cpu-worker.js"];

/// Bundles `built`'s entry modules into `out` and removes the plain modules they replace.
pub fn bundle(built: &Path, out: &Path) -> Result<()> {
    setup::node()?;
    let esbuild = root().join("node_modules").join(".bin").join("esbuild");
    if !esbuild.is_file() {
        return Err(fail!(
            "{} is missing: run `cargo xtask setup` (it installs the npm packages of package-lock.json)",
            rel(&esbuild)
        ));
    }
    let mut cmd = Command::new(&esbuild);
    cmd.args(ENTRIES.map(|e| built.join(e)))
        .arg(format!("--outbase={}", built.display()))
        .arg(format!("--outdir={}", out.display()))
        // es2022: class private methods and fields, which the element uses; every browser with
        // WebGPU or wasm SIMD has them.
        .args([
            "--bundle",
            "--minify",
            "--format=esm",
            "--target=es2022",
            "--sourcemap",
            "--charset=utf8",
            "--log-level=warning",
        ]);
    run(&mut cmd)?;
    // The plain modules (and the glue and its typings) are inside the bundles now.
    let mut removed = 0;
    for entry in fs::read_dir(root().join("www"))? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".js") && !ENTRIES.contains(&name.as_ref()) {
            fs::remove_file(out.join(name.as_ref()))?;
            removed += 1;
        }
    }
    for entry in fs::read_dir(out.join("pkg"))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e != "wasm") {
            fs::remove_file(&path)?;
        }
    }
    for e in ENTRIES {
        let size = fs::metadata(out.join(e))?.len();
        println!(
            "bundled {e}: {size} bytes ({:.0} KiB) minified, in place of {removed} plain modules",
            size as f64 / 1024.0
        );
    }
    Ok(())
}

/// Writes the files in which common static hosts read extra response headers: `_headers`
/// (Netlify, Cloudflare Pages) and `.htaccess` (Apache with mod_headers), each with the headers
/// `cargo xtask serve` sends ([`EMBED_HEADERS`]).
pub fn write_host_headers(out: &Path) -> Result<()> {
    let mut netlify = String::from(
        "# Response headers for Netlify and Cloudflare Pages (written by `cargo xtask dist`).\n\
         # Pages on other origins load the playground's modules, wasm and model files in CORS\n\
         # mode, and cross-origin-isolated pages load its stylesheet and images only with CORP:\n\
         # see \"Embedding in your blog\" in the playground's README.\n/*\n",
    );
    let mut apache = String::from(
        "# Response headers for Apache (needs mod_headers and AllowOverride FileInfo; written by\n\
         # `cargo xtask dist`): see \"Embedding in your blog\" in the playground's README.\n\
         <IfModule mod_headers.c>\n",
    );
    for (name, value) in EMBED_HEADERS {
        netlify.push_str(&format!("  {name}: {value}\n"));
        apache.push_str(&format!("  Header set {name} \"{value}\"\n"));
    }
    apache.push_str("</IfModule>\nAddType application/wasm .wasm\n");
    fs::write(out.join("_headers"), netlify)?;
    fs::write(out.join(".htaccess"), apache)?;
    println!(
        "wrote _headers (Netlify, Cloudflare Pages) and .htaccess (Apache) with the CORS headers"
    );
    Ok(())
}
