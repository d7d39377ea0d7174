//! The scheduler's view of a run for the page's step anatomy and schedule panels, as plain JS
//! objects: one step in the posts' terms ([`crate::scheduler::StepAnatomy`]) and a whole plan's
//! curves. Every number is the engine's (the page formats them, never recomputes them).

use super::{js_err, parse_sampler, schedule_for};
use crate::error::InputError;
use crate::scheduler::{DdpmVariance, Plan, Sampler, Schedule};
use wasm_bindgen::prelude::*;

fn object(pairs: &[(&str, JsValue)]) -> Result<js_sys::Object, JsValue> {
    let out = js_sys::Object::new();
    for (key, value) in pairs {
        js_sys::Reflect::set(&out, &JsValue::from_str(key), value)?;
    }
    Ok(out)
}

fn num(v: impl Into<f64>) -> JsValue {
    JsValue::from_f64(v.into())
}

/// Step `index` of `plan` as a JS object. Keys: `index`, `steps`, `t`, `prevT` (negative past
/// the end), `sampler` ("ddpm" | "ddim"), `eta` (DDIM, else null), `variance` (DDPM, else null),
/// `predictionType`, `clip`, `clipRange`; alpha-bar: `alphaBar`, `alphaBarPrev`, `beta`
/// (1 - alphaBar / alphaBarPrev), `posteriorVariance` (beta-tilde), `logSnr`, `sqrtAlphaBar`,
/// `sqrtOneMinusAlphaBar`; the kernel's update: `x0FromSample`, `x0FromModel`, `prevFromX0`,
/// `prevFromSample`, `prevFromEps`, `sigma`; eps_hat for display: `epsFromSample`,
/// `epsFromModel`; DDPM for this pair: `posteriorX0` (a), `posteriorSample` (b),
/// `posteriorSigma` (sqrt(beta-tilde)), `betaSigma` (sqrt(beta)); DDIM for this pair:
/// `sqrtAlphaBarPrev`, `sigmaRatio`, `sigmaGap`, `sigmaEta1` (sigma_t at eta = 1).
pub(super) fn anatomy_object(
    schedule: &Schedule,
    plan: &Plan,
    index: usize,
) -> Result<js_sys::Object, JsValue> {
    let a = schedule.anatomy(plan, index).ok_or_else(|| {
        js_err(InputError::Step {
            index,
            steps: plan.coeffs.len(),
        })
    })?;
    let c = a.coeffs;
    let (sampler, eta, variance) = match plan.sampler {
        Sampler::Ddpm { variance } => ("ddpm", JsValue::NULL, JsValue::from_str(variance.as_str())),
        Sampler::Ddim { eta } => ("ddim", num(eta), JsValue::NULL),
        other => (other.name(), JsValue::NULL, JsValue::NULL),
    };
    let config = schedule.config();
    object(&[
        ("index", num(index as f64)),
        ("steps", num(plan.coeffs.len() as f64)),
        ("t", num(a.timestep)),
        ("prevT", num(a.prev_timestep as f64)),
        ("sampler", JsValue::from_str(sampler)),
        ("eta", eta),
        ("variance", variance),
        (
            "predictionType",
            JsValue::from_str(config.prediction_type.as_str()),
        ),
        ("clip", JsValue::from_bool(c.clip != 0.0)),
        ("clipRange", num(c.clip_range)),
        ("alphaBar", num(a.alpha_bar)),
        ("alphaBarPrev", num(a.alpha_bar_prev)),
        ("beta", num(a.beta)),
        ("posteriorVariance", num(a.posterior_variance)),
        ("logSnr", num(a.log_snr)),
        ("sqrtAlphaBar", num(a.sqrt_alpha_bar)),
        ("sqrtOneMinusAlphaBar", num(a.sqrt_one_minus_alpha_bar)),
        ("x0FromSample", num(c.x0_from_sample)),
        ("x0FromModel", num(c.x0_from_model)),
        ("prevFromX0", num(c.prev_from_x0)),
        ("prevFromSample", num(c.prev_from_sample)),
        ("prevFromEps", num(c.prev_from_eps)),
        ("sigma", num(c.prev_from_noise)),
        ("epsFromSample", num(a.eps_from_sample)),
        ("epsFromModel", num(a.eps_from_model)),
        ("posteriorX0", num(a.ddpm_posterior.prev_from_x0)),
        ("posteriorSample", num(a.ddpm_posterior.prev_from_sample)),
        ("posteriorSigma", num(a.ddpm_posterior.prev_from_noise)),
        ("betaSigma", num(a.ddpm_beta.prev_from_noise)),
        ("sqrtAlphaBarPrev", num(a.ddim_eta1.prev_from_x0)),
        ("sigmaRatio", num(a.sigma_ratio)),
        ("sigmaGap", num(a.sigma_gap)),
        ("sigmaEta1", num(a.ddim_eta1.prev_from_noise)),
    ])
}

fn plan_for(
    schedule: &Schedule,
    sampler: &str,
    steps: u32,
    eta: f32,
    variance: &str,
) -> Result<Plan, JsValue> {
    let sampler = parse_sampler(sampler, eta, variance).map_err(js_err)?;
    schedule.plan(sampler, steps as usize).map_err(js_err)
}

/// Step `index` of the plan these settings make with a scheduler config (diffusers' defaults
/// when absent), as [`super::Session::step_anatomy`] gives it for a started run; no engine
/// needed. `clip` as in `Session.start`.
#[wasm_bindgen(js_name = stepAnatomy)]
pub fn step_anatomy(
    scheduler_json: Option<String>,
    sampler: &str,
    steps: u32,
    eta: f32,
    variance: &str,
    index: u32,
    clip: Option<String>,
) -> Result<js_sys::Object, JsValue> {
    let schedule = schedule_for(scheduler_json)?;
    let sampler = parse_sampler(sampler, eta, variance).map_err(js_err)?;
    let clipping = super::parse_clipping(clip.as_deref()).map_err(js_err)?;
    let plan = schedule
        .plan_clipped(sampler, steps as usize, clipping)
        .map_err(js_err)?;
    anatomy_object(&schedule, &plan, index as usize)
}

/// The schedule panel's curves for the plan these settings make (no engine needed): over
/// t = 0..T `alphasCumprod` and `logSnr`; per step of the plan `timesteps`, `prevTimesteps`,
/// `sigma` (what the run's kernel adds), `sigmaEta1` (DDIM at eta = 1), `sigmaPosterior`
/// (DDPM with beta-tilde) and `sigmaBeta` (DDPM with beta), each for the step's own pair of
/// timesteps. A `BadInput` error says what is wrong with the settings.
#[wasm_bindgen(js_name = schedulePlan)]
pub fn schedule_plan(
    scheduler_json: Option<String>,
    sampler: &str,
    steps: u32,
    eta: f32,
    variance: &str,
) -> Result<js_sys::Object, JsValue> {
    let schedule = schedule_for(scheduler_json)?;
    let plan = plan_for(&schedule, sampler, steps, eta, variance)?;
    let n = plan.coeffs.len();
    let (mut eta1, mut posterior, mut beta) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    for i in 0..n {
        let a = schedule
            .anatomy(&plan, i)
            .expect("every step of a plan has an anatomy");
        eta1[i] = a.ddim_eta1.prev_from_noise;
        posterior[i] = a.ddpm_posterior.prev_from_noise;
        beta[i] = a.ddpm_beta.prev_from_noise;
    }
    let sigma: Vec<f32> = plan.coeffs.iter().map(|c| c.prev_from_noise).collect();
    let prev: Vec<f64> = plan.prev_timesteps.iter().map(|&p| p as f64).collect();
    let log_snr: Vec<f64> = (0..schedule.num_train_timesteps())
        .map(|t| schedule.log_snr(t))
        .collect();
    let default_variance = DdpmVariance::from_config(schedule.config()).as_str();
    let f32s = |v: &[f32]| JsValue::from(js_sys::Float32Array::from(v));
    object(&[
        ("T", num(schedule.num_train_timesteps() as f64)),
        ("steps", num(n as f64)),
        ("defaultVariance", JsValue::from_str(default_variance)),
        (
            "timesteps",
            js_sys::Uint32Array::from(plan.timesteps.as_slice()).into(),
        ),
        (
            "prevTimesteps",
            js_sys::Float64Array::from(prev.as_slice()).into(),
        ),
        ("alphasCumprod", f32s(schedule.alphas_cumprod())),
        (
            "logSnr",
            js_sys::Float64Array::from(log_snr.as_slice()).into(),
        ),
        ("sigma", f32s(&sigma)),
        ("sigmaEta1", f32s(&eta1)),
        ("sigmaPosterior", f32s(&posterior)),
        ("sigmaBeta", f32s(&beta)),
    ])
}

/// The spread of `branches` final images ((branches, C, H, W) floats) that left one x_t with
/// different noise: `{stdMap: Float32Array (H*W), meanStd}` (see [`crate::spread`]).
#[wasm_bindgen(js_name = branchSpread)]
pub fn branch_spread(
    images: Vec<f32>,
    branches: u32,
    channels: u32,
    height: u32,
    width: u32,
) -> Result<js_sys::Object, JsValue> {
    let s = crate::spread::spread(
        &images,
        branches as usize,
        channels as usize,
        (height * width) as usize,
    )
    .map_err(js_err)?;
    object(&[
        (
            "stdMap",
            js_sys::Float32Array::from(s.std_map.as_slice()).into(),
        ),
        ("meanStd", num(s.mean_std)),
    ])
}
