//! DPM-Solver++(2M) (Lu et al. 2022), as diffusers' `DPMSolverMultistepScheduler` runs it with
//! its defaults: `algorithm_type = "dpmsolver++"`, `solver_order = 2`, `solver_type =
//! "midpoint"`, `lower_order_final = True`, `final_sigmas_type = "zero"`, no Karras / exponential
//! / beta / Lu sigmas, no thresholding. `clip_sample` does not exist in that class (from_config
//! ignores it), so x_0 is never clamped here.
//!
//! diffusers, with `sigma(t) = sqrt((1 - abar_t) / abar_t)` (float32) at the run's timesteps and
//! a final sigma of 0, `alpha = 1 / sqrt(sigma^2 + 1)`, `sigma_t = sigma * alpha`,
//! `lambda = log(alpha) - log(sigma_t)`:
//!
//! ```text
//! x0      = (x - sigma_t(s0) * eps) / alpha(s0)          epsilon
//!         = alpha(s0) * x - sigma_t(s0) * v              v_prediction
//!         = model_output                                 sample
//! first order (step 0, and the last step: final sigma 0):
//!   x_t   = sigma_t(t) / sigma_t(s0) * x - alpha(t) * (exp(-h) - 1) * x0,        h = lambda(t) - lambda(s0)
//! second order (every other step), with x0_prev the previous step's x0:
//!   r0    = (lambda(s0) - lambda(s1)) / h
//!   x_t   = sigma_t(t) / sigma_t(s0) * x - B * x0 - 0.5 * B * (x0 - x0_prev) / r0,  B = alpha(t) * (exp(-h) - 1)
//! ```
//!
//! `exp(-h) = sigma(t) / sigma(s0)` and `h = ln(sigma(s0) / sigma(t))` follow from the
//! definitions, so the coefficients are computed in f64 from diffusers' float32 sigmas without a
//! log or exp of the lambdas; at the final step (sigma 0) the update is exactly x_t = x0.

use super::coeffs::StepCoeffs;
use super::config::{PredictionType, SchedulerConfig, TimestepSpacing};
use super::timesteps::diffusers_timesteps;

/// `DPMSolverMultistepScheduler.set_timesteps(n)`'s timesteps, descending, as signed integers
/// (the caller checks the range and that they are distinct). Its spacing default is
/// `"linspace"`, unlike DDPM's and DDIM's `"leading"`: a config that names no spacing gets it.
pub(super) fn timesteps(config: &SchedulerConfig, n: usize) -> Vec<i64> {
    let t_total = config.num_train_timesteps;
    let spacing = if config.timestep_spacing_given {
        config.timestep_spacing
    } else {
        TimestepSpacing::Linspace
    };
    match spacing {
        // np.linspace(0, T - 1, n + 1).round()[::-1][:-1]
        TimestepSpacing::Linspace => {
            let mut all = diffusers_timesteps(t_total, n + 1, TimestepSpacing::Linspace, 0);
            all.pop();
            all
        }
        // (np.arange(0, n + 1) * (T // (n + 1))).round()[::-1][:-1] + steps_offset
        TimestepSpacing::Leading => {
            let ratio = (t_total / (n + 1)) as i64;
            (1..=n as i64)
                .rev()
                .map(|i| i * ratio + i64::from(config.steps_offset))
                .collect()
        }
        // np.arange(T, 0, -T / n).round() - 1: the same as DDPM's trailing spacing.
        TimestepSpacing::Trailing => diffusers_timesteps(t_total, n, TimestepSpacing::Trailing, 0),
    }
}

/// diffusers' float32 `sigmas` entry for training timestep `t`:
/// `((1 - alphas_cumprod) / alphas_cumprod) ** 0.5`, each operation rounded to f32.
fn sigma_of(alphas_cumprod: &[f32], t: usize) -> f64 {
    let a = alphas_cumprod[t];
    f64::from(((1.0f32 - a) / a).sqrt())
}

/// `(alpha, sigma_t)` of a sigma: `1 / sqrt(sigma^2 + 1)` and `sigma * alpha`.
fn alpha_sigma(sigma: f64) -> (f64, f64) {
    let alpha = 1.0 / libm::sqrt(sigma * sigma + 1.0);
    (alpha, sigma * alpha)
}

/// The step coefficients of a whole run over `timesteps` (distinct, in range, descending).
pub(super) fn steps(
    config: &SchedulerConfig,
    alphas_cumprod: &[f32],
    timesteps: &[i64],
) -> Vec<StepCoeffs> {
    let n = timesteps.len();
    // sigmas[n] = 0: final_sigmas_type "zero".
    let sigmas: Vec<f64> = timesteps
        .iter()
        .map(|&t| sigma_of(alphas_cumprod, t as usize))
        .chain([0.0])
        .collect();
    (0..n)
        .map(|i| {
            let (s0, st) = (sigmas[i], sigmas[i + 1]);
            let (alpha_s0, sigma_s0) = alpha_sigma(s0);
            let (x0_from_sample, x0_from_model) = match config.prediction_type {
                PredictionType::Epsilon => (1.0 / alpha_s0, -sigma_s0 / alpha_s0),
                PredictionType::Sample => (0.0, 1.0),
                PredictionType::VPrediction => (alpha_s0, -sigma_s0),
            };
            // lower_order_final with final_sigmas_type "zero": the last step is first order, as
            // is the first (no history yet).
            let first_order = i == 0 || i == n - 1;
            let (from_sample, from_x0, from_prev_x0) = if st == 0.0 {
                // alpha(t) = 1, sigma_t(t) = 0, exp(-h) = 0: x_t = x0.
                (0.0, 1.0, 0.0)
            } else {
                let (alpha_t, sigma_t) = alpha_sigma(st);
                let b = alpha_t * (st / s0 - 1.0);
                if first_order {
                    (sigma_t / sigma_s0, -b, 0.0)
                } else {
                    let s1 = sigmas[i - 1];
                    let r0 = libm::log(s1 / s0) / libm::log(s0 / st);
                    (sigma_t / sigma_s0, -b * (1.0 + 0.5 / r0), 0.5 * b / r0)
                }
            };
            StepCoeffs {
                x0_from_sample: x0_from_sample as f32,
                x0_from_model: x0_from_model as f32,
                clip: 0.0,
                clip_range: 0.0,
                eps_from_sample: 0.0,
                eps_from_model: 0.0,
                prev_from_x0: from_x0 as f32,
                prev_from_sample: from_sample as f32,
                prev_from_eps: 0.0,
                prev_from_noise: 0.0,
                timestep: timesteps[i] as f32,
                prev_from_prev_x0: from_prev_x0 as f32,
            }
        })
        .collect()
}
