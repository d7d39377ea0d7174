//! DPM-Solver++(2M) and inverse DDIM against diffusers, step by step: fixtures made by
//! tests/fixtures/gen_solver_fixtures.py (`DPMSolverMultistepScheduler.from_config` and
//! `DDIMInverseScheduler.from_config` on the CPU), plus their error paths.

use std::path::PathBuf;

use diffusion_playground::scheduler::{Sampler, Schedule, SchedulerConfig, SchedulerError};
use serde_json::Value;

fn steps_fixture() -> Value {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests",
        "fixtures",
        "solvers",
        "steps.json",
    ]
    .iter()
    .collect();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn f32s(v: &Value) -> Vec<f32> {
    v.as_array()
        .expect("list of numbers")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
}

fn rows(v: &Value) -> Vec<Vec<f32>> {
    v.as_array().expect("rows").iter().map(f32s).collect()
}

/// Largest |got - want| / max(1, scale) over a step, with the index where it happens; `scale` is
/// the step's largest magnitude (x_0 of an early epsilon step reaches ~1e2, and the update
/// cancels it against x_t, so a per-element relative bound would be meaningless).
fn worst(got: &[f32], want: &[f32], scale: f32) -> (f32, usize) {
    assert_eq!(got.len(), want.len());
    got.iter()
        .zip(want)
        .enumerate()
        .map(|(i, (g, w))| ((g - w).abs() / scale.max(1.0), i))
        .fold((0.0, 0), |a, b| if b.0 > a.0 { b } else { a })
}

fn max_abs(v: &[f32]) -> f32 {
    v.iter().fold(0.0, |m, x| m.max(x.abs()))
}

#[test]
fn every_step_matches_diffusers() {
    let fx = steps_fixture();
    let samples = rows(&fx["sample_pool"]);
    let models = rows(&fx["model_pool"]);
    let mut overall = 0.0f32;
    let mut checked = 0;
    for case in fx["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let config = SchedulerConfig::from_json_value(&case["config"])
            .unwrap_or_else(|e| panic!("{name}: config: {e}"));
        let schedule = Schedule::new(&config).unwrap();
        let n = case["num_inference_steps"].as_u64().unwrap() as usize;
        let sampler = match case["scheduler"].as_str().unwrap() {
            "dpmpp2m" => Sampler::DpmSolverPP,
            "ddim-inverse" => Sampler::DdimInverse,
            other => panic!("{name}: unknown scheduler {other}"),
        };
        let plan = schedule
            .plan(sampler, n)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let want_ts: Vec<u32> = case["timesteps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(plan.timesteps, want_ts, "{name}: timesteps");
        let len = samples[0].len();
        // The x_0 buffer carries each step's prediction into the next (DPM's history).
        let mut x0 = vec![0.0f32; len];
        let mut prev = vec![0.0f32; len];
        let mut last_index = None;
        for step in case["steps"].as_array().unwrap() {
            let i = step["index"].as_u64().unwrap() as usize;
            if last_index.is_some_and(|l: usize| l + 1 != i) {
                // Inverse DDIM keeps no history: steps may be picked out of a long run.
                assert_eq!(
                    sampler,
                    Sampler::DdimInverse,
                    "{name}: steps must be consecutive"
                );
            }
            last_index = Some(i);
            plan.coeffs[i].apply(&samples[i], &models[i], &[], &mut prev, &mut x0);
            let want_prev = f32s(&step["prev_sample"]);
            let want_x0 = f32s(&step["x0"]);
            let scale = max_abs(&want_x0)
                .max(max_abs(&want_prev))
                .max(max_abs(&samples[i]));
            for (what, got, want) in [("prev_sample", &prev, &want_prev), ("x0", &x0, &want_x0)] {
                let (err, at) = worst(got, want, scale);
                assert!(
                    err <= 1e-5,
                    "{name} step {i} {what}[{at}]: got {}, want {} (error {err:e} of scale {scale})",
                    got[at],
                    want[at]
                );
                overall = overall.max(err);
            }
            checked += 1;
        }
    }
    eprintln!("{checked} steps; largest error relative to max(1, step scale): {overall:e}");
}

#[test]
fn dpm_solver_uses_linspace_spacing_unless_the_config_names_one() {
    let bare = SchedulerConfig::from_json_str("{}").unwrap();
    let plan = Schedule::new(&bare)
        .unwrap()
        .plan(Sampler::DpmSolverPP, 4)
        .unwrap();
    assert_eq!(plan.timesteps, vec![999, 749, 500, 250]);
    let leading = SchedulerConfig::from_json_str(r#"{"timestep_spacing": "leading"}"#).unwrap();
    let plan = Schedule::new(&leading)
        .unwrap()
        .plan(Sampler::DpmSolverPP, 4)
        .unwrap();
    assert_eq!(plan.timesteps, vec![800, 600, 400, 200]);
    // DDIM keeps DDIMScheduler's own default, "leading".
    let ddim = Schedule::new(&bare)
        .unwrap()
        .plan(Sampler::Ddim { eta: 0.0 }, 4)
        .unwrap();
    assert_eq!(ddim.timesteps, vec![750, 500, 250, 0]);
}

#[test]
fn solver_errors_say_what_to_do() {
    let leading = SchedulerConfig::from_json_str(r#"{"timestep_spacing": "leading"}"#).unwrap();
    let s = Schedule::new(&leading).unwrap();
    // Leading spacing over N + 1 points: T // 1001 = 0 repeats timestep 0.
    let e = s.plan(Sampler::DpmSolverPP, 1000).unwrap_err();
    assert!(matches!(e, SchedulerError::RepeatedTimestep { .. }), "{e}");
    assert!(e.to_string().contains("Choose fewer steps"), "{e}");
    let linspace = SchedulerConfig::from_json_str(r#"{"timestep_spacing": "linspace"}"#).unwrap();
    let e = Schedule::new(&linspace)
        .unwrap()
        .plan(Sampler::DdimInverse, 10)
        .unwrap_err();
    assert!(
        matches!(
            e,
            SchedulerError::UnsupportedValue {
                field: "timestep_spacing",
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("--scheduler-config"), "{e}");
    // Inverse DDIM's first step from alpha-bar 1 has no noise to predict x_0 from with a
    // sample-predicting model: diffusers divides by zero there; we refuse.
    let sample = SchedulerConfig::from_json_str(
        r#"{"prediction_type": "sample", "set_alpha_to_one": true}"#,
    )
    .unwrap();
    let e = Schedule::new(&sample)
        .unwrap()
        .plan(Sampler::DdimInverse, 10)
        .unwrap_err();
    assert!(
        matches!(e, SchedulerError::NonFiniteStep { step: 0, .. }),
        "{e}"
    );
}
