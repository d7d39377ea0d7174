//! `models/<name>/manifest.json`: the length and SHA-256 of a shipped model's weights, written
//! by `build-web` (and so in `dist`). The page compares the hash its cached copy was stored
//! with against this file, fetched fresh each visit (`www/weights-cache.js`), so a retrained
//! checkpoint of the same size is downloaded again on any static host, ETag or not.
//!
//! ```json
//! {"files": {"diffusion_pytorch_model.safetensors": {"bytes": 11612345, "sha256": "9f86…"}}}
//! ```

use crate::{fail, Result};
use std::fs;
use std::path::Path;

pub const FILE: &str = "manifest.json";

/// Writes `dir/manifest.json` for `files` (names inside `dir`).
pub fn write(dir: &Path, files: &[&str]) -> Result<()> {
    let mut entries = Vec::new();
    for name in files {
        let path = dir.join(name);
        let bytes = fs::read(&path).map_err(|e| fail!("cannot hash {}: {e}", path.display()))?;
        entries.push(format!(
            "\"{name}\": {{\"bytes\": {}, \"sha256\": \"{}\"}}",
            bytes.len(),
            crate::sha256::hex(&bytes)
        ));
    }
    let json = format!("{{\"files\": {{{}}}}}\n", entries.join(", "));
    let out = dir.join(FILE);
    fs::write(&out, json).map_err(|e| fail!("cannot write {}: {e}", out.display()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn lists_length_and_sha256_of_each_file() {
        let dir = std::env::temp_dir().join(format!("xtask-manifest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("w.safetensors"), b"abc").unwrap();
        super::write(&dir, &["w.safetensors"]).unwrap_or_else(|e| panic!("{}", e.0));
        let json = std::fs::read_to_string(dir.join(super::FILE)).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            json,
            "{\"files\": {\"w.safetensors\": {\"bytes\": 3, \"sha256\": \
             \"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"}}}\n"
        );
    }
}
