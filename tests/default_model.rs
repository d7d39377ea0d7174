//! The shipped default model, `models/emoji32`, against diffusers: `train/export.py` writes
//! `tests/fixtures/emoji32/` (a fixed input, diffusers' output at three timesteps, the weights'
//! sha256) whenever it exports into `models/emoji32`. Both executors must agree to 1e-3.
//!
//! The model and its fixture are committed together; a checkout missing either fails here.

mod common;

use common::{assert_close, gpu, max_abs_diff, read_npy};
use diffusion_playground::exec::gpu::{GpuNet, GpuWeights};
use diffusion_playground::exec::reference;
use diffusion_playground::model::Checkpoint;
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

/// The committed model and fixture; panics, saying what is missing, if either is absent.
fn load() -> Fixture {
    let (model, fixture) = (model_dir(), fixture_dir());
    match (model.exists(), fixture.exists()) {
        (false, false) => panic!(
            "neither models/emoji32 nor tests/fixtures/emoji32 exists: the shipped default model \
             and its diffusers fixture are part of the repository; restore them from git"
        ),
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
    let expected: Vec<(f32, Vec<f32>)> = meta["timesteps"]
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
    assert!(
        !expected.is_empty(),
        "tests/fixtures/emoji32/meta.json lists no timesteps"
    );
    Fixture {
        checkpoint,
        batch: input.shape[0],
        input: input.data,
        expected,
    }
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
    let f = load();
    let unet = &f.checkpoint.unet;
    let graph = unet.graph(f.batch).unwrap();
    for (t, want) in &f.expected {
        let got = reference::forward(unet, &graph, &f.input, *t).unwrap();
        assert_close(&what(*t, "cpu"), &got, want, ATOL, 0.0);
        eprintln!(
            "emoji32 t={t}: cpu max |diff| {:.2e}",
            max_abs_diff(&got, want)
        );
    }
}

#[test]
fn gpu_executor_matches_diffusers_on_the_default_model() {
    let f = load();
    let gpu = gpu();
    let unet = &f.checkpoint.unet;
    let weights = GpuWeights::upload(&gpu, unet).unwrap();
    let net = GpuNet::new(&gpu, &weights, unet, f.batch).unwrap();
    for (t, want) in &f.expected {
        let got = pollster::block_on(net.forward(&gpu, unet, &f.input, *t)).unwrap();
        assert_close(&what(*t, "gpu"), &got, want, ATOL, 0.0);
        eprintln!(
            "emoji32 t={t}: gpu max |diff| {:.2e}",
            max_abs_diff(&got, want)
        );
    }
}
