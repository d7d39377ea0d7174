//! The shipped default model, `models/emoji32`, against diffusers: `train/export.py` writes
//! `tests/fixtures/emoji32/` (a fixed input, diffusers' output at three timesteps, the weights'
//! sha256) whenever it exports into `models/emoji32`. Both executors must agree to 1e-3.
//!
//! The model and its fixture land together. Until they do, these tests check only that
//! neither exists without the other.

mod common;

use common::{assert_close, gpu, max_abs_diff, read_npy};
use diffusion_playground::model::Checkpoint;
use diffusion_playground::unet::{GpuUNet, GpuWeights};
use std::path::{Path, PathBuf};

const ATOL: f32 = 1e-3;

fn model_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/emoji32")
}

fn fixture_dir() -> PathBuf {
    common::fixture("emoji32")
}

struct Fixture {
    checkpoint: Checkpoint,
    input: Vec<f32>,
    batch: usize,
    /// (timestep, diffusers' output)
    expected: Vec<(f32, Vec<f32>)>,
}

/// `None` while neither the model nor its fixture exists; panics if only one does.
fn load() -> Option<Fixture> {
    let (model, fixture) = (model_dir(), fixture_dir());
    match (model.exists(), fixture.exists()) {
        (false, false) => {
            eprintln!("models/emoji32 is not in the tree yet: nothing to compare");
            return None;
        }
        (true, false) => panic!(
            "models/emoji32 exists but tests/fixtures/emoji32 does not: export with \
             `train/.venv/bin/python train/export.py --out models/emoji32`, which writes both"
        ),
        (false, true) => panic!(
            "tests/fixtures/emoji32 exists without models/emoji32: commit the model or remove the fixture"
        ),
        (true, true) => {}
    }
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture.join("meta.json"))
            .expect("tests/fixtures/emoji32/meta.json"),
    )
    .expect("meta.json is JSON");
    let checkpoint = Checkpoint::from_dir(&model).unwrap_or_else(|e| panic!("models/emoji32: {e}"));
    let input = read_npy("emoji32/input.npy");
    let expected = meta["timesteps"]
        .as_array()
        .expect("meta.json: timesteps")
        .iter()
        .map(|t| {
            let t = t.as_u64().expect("integer timestep");
            (
                t as f32,
                read_npy(&format!("emoji32/expected_t{t}.npy")).data,
            )
        })
        .collect();
    Some(Fixture {
        checkpoint,
        batch: input.shape[0],
        input: input.data,
        expected,
    })
}

/// Names the case, and the likely cause if the fixture is stale.
fn what(t: f32, executor: &str) -> String {
    format!(
        "emoji32 t={t} ({executor}; if models/emoji32 was replaced without re-exporting, run \
         train/export.py --out models/emoji32, which rewrites tests/fixtures/emoji32)"
    )
}

#[test]
fn cpu_executor_matches_diffusers_on_the_default_model() {
    let Some(f) = load() else { return };
    let unet = &f.checkpoint.unet;
    let graph = unet.graph(f.batch).unwrap();
    for (t, want) in &f.expected {
        let got = diffusion_playground::cpu::forward(unet, &graph, &f.input, *t);
        assert_close(&what(*t, "cpu"), &got, want, ATOL, 0.0);
        eprintln!(
            "emoji32 t={t}: cpu max |diff| {:.2e}",
            max_abs_diff(&got, want)
        );
    }
}

#[test]
fn gpu_executor_matches_diffusers_on_the_default_model() {
    let Some(f) = load() else { return };
    let gpu = gpu();
    let unet = &f.checkpoint.unet;
    let weights = GpuWeights::upload(&gpu, unet).unwrap();
    let net = GpuUNet::new(&gpu, &weights, unet, f.batch).unwrap();
    for (t, want) in &f.expected {
        let got = pollster::block_on(net.forward(&gpu, unet, &f.input, *t)).unwrap();
        assert_close(&what(*t, "gpu"), &got, want, ATOL, 0.0);
        eprintln!(
            "emoji32 t={t}: gpu max |diff| {:.2e}",
            max_abs_diff(&got, want)
        );
    }
}
