//! DDPM (`DDPMScheduler.step`) as [`StepCoeffs`].
//!
//! diffusers, for timestep `t` with previous timestep `prev` (the next entry of the timestep
//! list, or -1 after the last):
//!
//! ```text
//! abar_t, abar_prev (= 1 when prev < 0), beta_prod_t = 1 - abar_t, beta_prod_prev = 1 - abar_prev
//! alpha_t = abar_t / abar_prev,  beta_t = 1 - alpha_t          (the respaced one-step beta)
//! x0      = prediction-type formula, then clamp if clip_sample
//! prev    = sqrt(abar_prev) * beta_t / beta_prod_t * x0 + sqrt(alpha_t) * beta_prod_prev / beta_prod_t * x_t
//!         + sigma * noise,   sigma = 0 if t == 0, else sqrt(max(beta_prod_prev / beta_prod_t * beta_t, 1e-20))
//!                            (fixed_small) or sqrt(beta_t) (fixed_large)
//! ```
//!
//! Quirks kept on purpose: the `t > 0` test is on the timestep value, so a schedule whose last
//! timestep is not 0 (trailing spacing, or steps_offset 1) still adds noise on its final step
//! (sigma = 1e-10 for fixed_small because of the clamp, sqrt(1 - abar_t) for fixed_large).

use super::coeffs::StepCoeffs;
use super::config::{DdpmVariance, SchedulerConfig};
use super::{torch_scalars, x0_coeffs};

/// DDPM's alpha-bar at `prev`: `DDPMScheduler` uses `self.one` (not `set_alpha_to_one`) past
/// the end.
pub(super) fn abar_prev(alphas_cumprod: &[f32], prev: i64) -> f32 {
    if prev >= 0 {
        alphas_cumprod[prev as usize]
    } else {
        1.0
    }
}

/// Coefficients of one DDPM step from timestep `t` to `prev` (negative = past the end).
pub(super) fn ddpm_step(
    config: &SchedulerConfig,
    alphas_cumprod: &[f32],
    variance: DdpmVariance,
    t: usize,
    prev: i64,
) -> StepCoeffs {
    let s = torch_scalars(alphas_cumprod[t], abar_prev(alphas_cumprod, prev));

    let (x0_from_sample, x0_from_model) =
        x0_coeffs(config.prediction_type, s.abar_t, s.beta_prod_t);
    let prev_from_x0 = libm::sqrt(s.abar_prev) * s.beta_t / s.beta_prod_t;
    let prev_from_sample = libm::sqrt(s.alpha_t) * s.beta_prod_prev / s.beta_prod_t;
    let sigma = if t > 0 {
        let var = match variance {
            // torch.clamp(variance, min=1e-20) on a float32 tensor: the bound is f32(1e-20).
            DdpmVariance::FixedSmall => {
                (s.beta_prod_prev / s.beta_prod_t * s.beta_t).max(f64::from(1e-20f32))
            }
            DdpmVariance::FixedLarge => s.beta_t,
        };
        libm::sqrt(var)
    } else {
        0.0
    };

    StepCoeffs {
        x0_from_sample: x0_from_sample as f32,
        x0_from_model: x0_from_model as f32,
        clip: if config.clip_sample { 1.0 } else { 0.0 },
        clip_range: config.clip_sample_range as f32,
        // DDPM's update does not use the predicted noise.
        eps_from_sample: 0.0,
        eps_from_model: 0.0,
        prev_from_x0: prev_from_x0 as f32,
        prev_from_sample: prev_from_sample as f32,
        prev_from_eps: 0.0,
        prev_from_noise: sigma as f32,
        timestep: t as f32,
        prev_from_prev_x0: 0.0,
    }
}
