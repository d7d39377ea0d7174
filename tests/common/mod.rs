//! Shared test helpers: a GPU that fails loudly when absent, seeded data, tolerant comparison.
#![allow(dead_code)]

use diffusion_playground::gpu::Gpu;
use std::path::PathBuf;

/// The test device. There is no skipping: without an adapter the test fails with a hint.
pub fn gpu() -> Gpu {
    pollster::block_on(Gpu::new()).unwrap_or_else(|e| {
        panic!(
            "GPU tests need a WebGPU/Vulkan adapter and none was usable: {e}\n\
             On Debian: apt-get install -y mesa-vulkan-drivers libvulkan1 (the README's test command does this)"
        )
    })
}

/// Deterministic values in [-scale, scale).
pub fn data(seed: u64, len: usize, scale: f32) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

/// |got - want| <= atol + rtol * |want| everywhere; reports the worst offenders.
pub fn assert_close(what: &str, got: &[f32], want: &[f32], atol: f32, rtol: f32) {
    assert_eq!(
        got.len(),
        want.len(),
        "{what}: length {} vs wanted {}",
        got.len(),
        want.len()
    );
    let mut worst: Option<(usize, f32)> = None;
    let mut bad = 0usize;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g - w).abs();
        // NaN compares false, so it counts as out of tolerance.
        let within = err <= atol + rtol * w.abs();
        if !within {
            bad += 1;
            if worst.is_none_or(|(_, e)| err > e || e.is_nan()) {
                worst = Some((i, err));
            }
        }
    }
    if let Some((i, err)) = worst {
        panic!(
            "{what}: {bad} of {} values out of tolerance (atol {atol}, rtol {rtol}); worst at index {i}: got {}, wanted {}, |diff| {err}",
            got.len(),
            got[i],
            want[i]
        );
    }
}

/// Largest |a - b|.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

pub fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path)
}

pub fn read_npy(path: &str) -> diffusion_playground::npy::Array {
    let p = fixture(path);
    let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    diffusion_playground::npy::read(&bytes).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}
