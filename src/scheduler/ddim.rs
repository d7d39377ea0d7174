//! DDIM (`DDIMScheduler.step`, default `use_clipped_model_output=False`) as [`StepCoeffs`].
//!
//! diffusers, for timestep `t`:
//!
//! ```text
//! prev      = t - T // N       (always, whatever the spacing: with trailing / linspace spacing
//!                               this is not the next timestep of the list; kept as diffusers does)
//! abar_prev = alphas_cumprod[prev] if prev >= 0 else (1 if set_alpha_to_one else alphas_cumprod[0])
//! x0, eps   = prediction-type formulas from the UNclipped quantities; x0 is then clamped
//! variance  = (1 - abar_prev) / (1 - abar_t) * (1 - abar_t / abar_prev),  std = eta * sqrt(variance)
//! prev_x    = sqrt(abar_prev) * x0 + sqrt(1 - abar_prev - std^2) * eps + std * noise
//! ```
//!
//! eps comes from the unclipped prediction, so with clipping on the step is not the same as
//! re-deriving eps from the clipped x0 (that is `use_clipped_model_output=True`, not the default).

use super::coeffs::StepCoeffs;
use super::config::{PredictionType, SchedulerConfig};
use super::{torch_scalars, x0_coeffs};

/// DDIM's alpha-bar at `prev`: past the end, 1 with `set_alpha_to_one`, else `alphas_cumprod[0]`.
pub(super) fn abar_prev(config: &SchedulerConfig, alphas_cumprod: &[f32], prev: i64) -> f32 {
    if prev >= 0 {
        alphas_cumprod[prev as usize]
    } else if config.set_alpha_to_one {
        1.0
    } else {
        alphas_cumprod[0]
    }
}

/// Coefficients of one DDIM step at timestep `t` with `prev = t - T // N`.
pub(super) fn ddim_step(
    config: &SchedulerConfig,
    alphas_cumprod: &[f32],
    eta: f32,
    t: usize,
    prev: i64,
) -> StepCoeffs {
    let abar_prev = abar_prev(config, alphas_cumprod, prev);
    ddim_coeffs(config, alphas_cumprod[t], abar_prev, eta, t)
}

/// DDIM's update from the noise level `abar_t` to `abar_prev` (either direction: inverse DDIM
/// runs it towards more noise) with the UNet at timestep `t`.
pub(super) fn ddim_coeffs(
    config: &SchedulerConfig,
    abar_t: f32,
    abar_prev: f32,
    eta: f32,
    t: usize,
) -> StepCoeffs {
    let s = torch_scalars(abar_t, abar_prev);

    let (x0_from_sample, x0_from_model) =
        x0_coeffs(config.prediction_type, s.abar_t, s.beta_prod_t);
    let (sqrt_a, sqrt_b) = (libm::sqrt(s.abar_t), libm::sqrt(s.beta_prod_t));
    let (eps_from_sample, eps_from_model) = match config.prediction_type {
        PredictionType::Epsilon => (0.0, 1.0),
        // eps = (x_t - sqrt(abar_t) * x0) / sqrt(1 - abar_t), with x0 = model_output (unclipped).
        PredictionType::Sample => (1.0 / sqrt_b, -sqrt_a / sqrt_b),
        // eps = sqrt(abar_t) * v + sqrt(1 - abar_t) * x_t.
        PredictionType::VPrediction => (sqrt_b, sqrt_a),
    };

    // (1 - abar_t / abar_prev) is s.beta_t, rounded in f32 as diffusers does.
    let variance = s.beta_prod_prev / s.beta_prod_t * s.beta_t;
    // At eta = 0 the variance is not evaluated: an inverse step from abar_t = 1 would make it
    // 0 * inf.
    let std = if eta > 0.0 {
        f64::from(eta) * libm::sqrt(variance)
    } else {
        0.0
    };
    // Mathematically 1 - abar_prev - std^2 >= 0 for eta <= 1; clamp away rounding below zero
    // (diffusers would produce NaN there).
    let dir = libm::sqrt((s.beta_prod_prev - std * std).max(0.0));

    StepCoeffs {
        x0_from_sample: x0_from_sample as f32,
        x0_from_model: x0_from_model as f32,
        clip: if config.clip_sample { 1.0 } else { 0.0 },
        clip_range: config.clip_sample_range as f32,
        eps_from_sample: eps_from_sample as f32,
        eps_from_model: eps_from_model as f32,
        prev_from_x0: libm::sqrt(s.abar_prev) as f32,
        prev_from_sample: 0.0,
        prev_from_eps: dir as f32,
        // diffusers adds noise only `if eta > 0`; std is 0 then anyway.
        prev_from_noise: if eta > 0.0 { std as f32 } else { 0.0 },
        timestep: t as f32,
        prev_from_prev_x0: 0.0,
    }
}
