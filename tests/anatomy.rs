//! The step anatomy the page shows, against diffusers: every number of
//! `Schedule::anatomy` (what the wasm API's `stepAnatomy` / `Session.stepAnatomy` return) next
//! to diffusers' `DDPMScheduler` / `DDIMScheduler` step coefficients from
//! tests/fixtures/scheduler/anatomy.json (made by tests/fixtures/gen_scheduler_fixtures.py),
//! to 1e-5; the update split into its terms (`StepCoeffs::parts`) summing to the kernel's
//! x_{t-1}; and the executors' `read_last_step`, from which the page's term pictures are made.

mod common;

use common::{assert_close, fixture, gpu};
use diffusion_playground::exec::cpu::CpuExecutor;
use diffusion_playground::exec::gpu::{GpuExecutor, GpuWeights};
use diffusion_playground::exec::{Executor, View};
use diffusion_playground::model::Checkpoint;
use diffusion_playground::scheduler::{
    Clipping, DdpmVariance, Sampler, Schedule, SchedulerConfig, StepAnatomy,
};
use serde_json::Value;
use std::rc::Rc;

fn json(path: &str) -> Value {
    let p = fixture(path);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// |got - want| <= 1e-5 * max(1, |want|): 1e-5 absolute for the coefficients below 1, relative
/// above (1/sqrt(alpha-bar) reaches 157, where one float32 ulp is 1.5e-5).
fn check(case: &str, what: &str, got: f64, want: f64) {
    assert!(
        (got - want).abs() <= 1e-5 * want.abs().max(1.0),
        "{case}: {what} = {got:e}, diffusers has {want:e} (|diff| {:e})",
        (got - want).abs()
    );
}

fn anatomy_of(case: &Value) -> StepAnatomy {
    let config = SchedulerConfig::from_json_value(&case["config"]).unwrap();
    let schedule = Schedule::new(&config).unwrap();
    let sampler = match case["sampler"].as_str().unwrap() {
        // anatomy.json names the variance in the case, steps.json in the config.
        "ddpm" => Sampler::Ddpm {
            variance: match case["variance"]
                .as_str()
                .or(case["config"]["variance_type"].as_str())
                .unwrap()
            {
                "fixed_small" => DdpmVariance::FixedSmall,
                "fixed_large" => DdpmVariance::FixedLarge,
                other => panic!("variance {other}"),
            },
        },
        _ => Sampler::Ddim {
            eta: case["eta"].as_f64().unwrap() as f32,
        },
    };
    let n = case["num_inference_steps"].as_u64().unwrap() as usize;
    // steps.json's DDIM cases with use_clipped_model_output=True are the clipping "recompute".
    let clipping = case["clipping"]
        .as_str()
        .map_or(Clipping::Checkpoint, |c| Clipping::parse(c).unwrap());
    let plan = schedule.plan_clipped(sampler, n, clipping).unwrap();
    schedule
        .anatomy(&plan, case["step_index"].as_u64().unwrap() as usize)
        .unwrap()
}

#[test]
fn anatomy_matches_diffusers_step_coefficients() {
    let fx = json("scheduler/anatomy.json");
    assert!(fx["versions"]["diffusers"].is_string());
    let cases = fx["cases"].as_array().unwrap();
    let (mut ddpm, mut ddim, mut compared) = (0, 0, 0);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let a = anatomy_of(case);
        let c = a.coeffs;
        assert_eq!(
            i64::from(a.timestep),
            case["timestep"].as_i64().unwrap(),
            "{name}"
        );
        assert_eq!(
            a.prev_timestep,
            case["prev_timestep"].as_i64().unwrap(),
            "{name}"
        );
        let mut want = |key: &str, got: f64| {
            let w = case[key]
                .as_f64()
                .unwrap_or_else(|| panic!("{name}: no {key}"));
            check(name, key, got, w);
            compared += 1;
        };
        want("alpha_bar", f64::from(a.alpha_bar));
        want("alpha_bar_prev", f64::from(a.alpha_bar_prev));
        want("beta", f64::from(a.beta));
        want("posterior_variance", a.posterior_variance);
        want("sqrt_alpha_bar", a.sqrt_alpha_bar);
        want("sqrt_one_minus_alpha_bar", a.sqrt_one_minus_alpha_bar);
        want("sigma_ratio", a.sigma_ratio);
        want("sigma_gap", a.sigma_gap);
        want("x0_from_sample", f64::from(c.x0_from_sample));
        want("x0_from_model", f64::from(c.x0_from_model));
        want("sigma", f64::from(c.prev_from_noise));
        if case["sampler"] == "ddpm" {
            ddpm += 1;
            want("posterior_x0", f64::from(c.prev_from_x0));
            want("posterior_sample", f64::from(c.prev_from_sample));
            assert_eq!(c.prev_from_eps, 0.0, "{name}");
        } else {
            ddim += 1;
            want("sqrt_alpha_bar_prev", f64::from(c.prev_from_x0));
            want("dir", f64::from(c.prev_from_eps));
            assert_eq!(c.prev_from_sample, 0.0, "{name}");
        }
        // The other samplers for the same pair of timesteps (where diffusers lands on it).
        for (key, got) in [
            ("posterior_sigma", a.ddpm_posterior.prev_from_noise),
            ("beta_sigma", a.ddpm_beta.prev_from_noise),
            ("sigma_eta1", a.ddim_eta1.prev_from_noise),
        ] {
            if !case[key].is_null() {
                want(key, f64::from(got));
            }
        }
    }
    assert!(
        ddpm >= 20 && ddim >= 30,
        "{ddpm} DDPM and {ddim} DDIM steps"
    );
    assert!(compared > 15 * cases.len(), "{compared} numbers compared");
}

#[test]
fn the_terms_sum_to_the_kernels_step_bit_for_bit() {
    // diffusers' own single steps (steps.json), across samplers, prediction types and clipping.
    let fx = json("scheduler/steps.json");
    let f32s = |v: &Value| -> Vec<f32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect()
    };
    let (sample, model, noise) = (
        f32s(&fx["sample"]),
        f32s(&fx["model_output"]),
        f32s(&fx["noise"]),
    );
    for case in fx["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let a = anatomy_of(case);
        let c = a.coeffs;
        let z: &[f32] = if c.needs_noise() { &noise } else { &[] };
        let p = c.parts(&sample, &model, z, a.eps_from_sample, a.eps_from_model);
        let mut prev = vec![0.0; sample.len()];
        let mut x0 = vec![0.0; sample.len()];
        c.apply(&sample, &model, z, &mut prev, &mut x0);
        assert_eq!(p.prev, prev, "{name}");
        assert_eq!(p.x0, x0, "{name}");
        for (i, want) in prev.iter().enumerate() {
            let sum = p.x0_term[i] + p.mid_term[i] + p.noise_term[i];
            assert_eq!(sum.to_bits(), want.to_bits(), "{name}: element {i}");
        }
        assert_close(name, &p.prev, &f32s(&case["prev_sample"]), 1e-5, 1e-5);
        // eps_hat is what the DDIM view uses: the same weights whichever sampler ran.
        let eps: Vec<f32> = sample
            .iter()
            .zip(&model)
            .map(|(&s, &m)| a.eps_from_sample * s + a.eps_from_model * m)
            .collect();
        assert_eq!(p.eps, eps, "{name}");
        if !c.needs_noise() {
            assert!(p.noise_term.iter().all(|&v| v == 0.0), "{name}");
        }
    }
}

/// After a step, `read_last_step` gives x_t and the UNet output it ran on: the parts made from
/// them are the executor's own x_{t-1} and x_0 (bit for bit on the CPU; within float rounding of
/// the WGSL update on the GPU).
#[test]
fn executors_read_back_what_their_last_step_ran_on() {
    let ckpt = Checkpoint::from_dir(&fixture("models/tiny")).unwrap();
    let unet = &ckpt.unet;
    let schedule = Schedule::new(&SchedulerConfig {
        clip_sample: true,
        ..SchedulerConfig::default()
    })
    .unwrap();
    let gpu = Rc::new(gpu());
    let weights = GpuWeights::upload(&gpu, unet).unwrap();
    let batch = 2;
    let executors: [(&str, Box<dyn Executor>); 2] = [
        (
            "gpu",
            Box::new(GpuExecutor::new(gpu.clone(), &weights, unet, batch).unwrap()),
        ),
        ("cpu", Box::new(CpuExecutor::new(unet, batch).unwrap())),
    ];
    for sampler in [
        Sampler::Ddpm {
            variance: DdpmVariance::FixedSmall,
        },
        Sampler::Ddim { eta: 0.0 },
    ] {
        let plan = schedule.plan(sampler, 4).unwrap();
        for (name, exec) in &executors {
            let seed = 5;
            exec.start(seed).unwrap();
            let len = exec.sample_len();
            for index in 0..plan.timesteps.len() {
                let before = pollster::block_on(exec.read(View::Sample)).unwrap();
                exec.step(unet, &plan, index, seed).unwrap();
                let (x_t, model) = pollster::block_on(exec.read_last_step()).unwrap();
                assert_eq!(x_t, before, "{name} {sampler:?} step {index}: x_t");
                assert_eq!(model.len(), len);
                let a = schedule.anatomy(&plan, index).unwrap();
                let c = a.coeffs;
                let z = if c.needs_noise() {
                    diffusion_playground::rng::step_noise(seed, index, batch, len / batch)
                } else {
                    Vec::new()
                };
                let p = c.parts(&x_t, &model, &z, a.eps_from_sample, a.eps_from_model);
                let after = pollster::block_on(exec.read(View::Sample)).unwrap();
                let x0 = pollster::block_on(exec.read(View::PredictedX0)).unwrap();
                let what = format!("{name} {sampler:?} step {index}");
                if *name == "cpu" {
                    assert_eq!(p.prev, after, "{what}: x_(t-1)");
                    assert_eq!(p.x0, x0, "{what}: x0");
                } else {
                    assert_close(&format!("{what}: x_(t-1)"), &p.prev, &after, 1e-5, 1e-5);
                    assert_close(&format!("{what}: x0"), &p.x0, &x0, 1e-5, 1e-5);
                }
            }
        }
    }
}
