//! Inverse DDIM (`DDIMInverseScheduler`): x_0 -> x_T by running DDIM's deterministic update
//! (eta = 0) towards higher noise, as diffusers does.
//!
//! diffusers' `set_timesteps(N)` and `step(model_output, t, x)`:
//!
//! ```text
//! timesteps = arange(N) * (T // N) + steps_offset              "leading" (ascending)
//!           = round(arange(T, 0, -T / N)[::-1]) - 1            "trailing"; "linspace" raises
//! src       = min(t - T // N, T - 1)                           the noise level x is at
//! abar_src  = alphas_cumprod[src] if src >= 0 else (1 if set_alpha_to_one else alphas_cumprod[0])
//! x0, eps   = DDIM's prediction-type formulas at abar_src; x0 clamped if clip_sample
//! x_next    = sqrt(abar_t) * x0 + sqrt(1 - abar_t) * eps
//! ```
//!
//! The UNet runs at `t` (the level the step lands on), not at `src`: the pipelines' inversion
//! loop is `for t in timesteps: eps = unet(x, t); x = step(eps, t, x)`, reproduced as it is.

use super::coeffs::StepCoeffs;
use super::config::{SchedulerConfig, TimestepSpacing};
use super::ddim::ddim_coeffs;
use super::error::SchedulerError;
use super::timesteps::diffusers_timesteps;

/// The ascending timesteps of `DDIMInverseScheduler.set_timesteps(n)`; `"linspace"` spacing is
/// refused, as diffusers refuses it.
pub(super) fn timesteps(config: &SchedulerConfig, n: usize) -> Result<Vec<i64>, SchedulerError> {
    let t_total = config.num_train_timesteps;
    match config.timestep_spacing {
        TimestepSpacing::Leading => {
            let ratio = (t_total / n) as i64;
            Ok((0..n as i64)
                .map(|i| i * ratio + i64::from(config.steps_offset))
                .collect())
        }
        TimestepSpacing::Trailing => {
            let mut ts = diffusers_timesteps(t_total, n, TimestepSpacing::Trailing, 0);
            ts.reverse();
            Ok(ts)
        }
        TimestepSpacing::Linspace => Err(SchedulerError::UnsupportedValue {
            field: "timestep_spacing",
            found: "linspace".into(),
            accepted: "\"leading\", \"trailing\"",
            hint: "diffusers' DDIMInverseScheduler has no linspace spacing; invert with a \
                   scheduler config whose timestep_spacing is \"leading\" or \"trailing\" \
                   (dp invert --scheduler-config FILE).",
        }),
    }
}

/// The coefficients of the inverse step run at timestep `t` (in range) of an `n`-step inversion.
pub(super) fn step(
    config: &SchedulerConfig,
    alphas_cumprod: &[f32],
    n: usize,
    t: usize,
) -> StepCoeffs {
    let t_total = config.num_train_timesteps;
    let src = (t as i64 - (t_total / n) as i64).min(t_total as i64 - 1);
    let abar_src = if src >= 0 {
        alphas_cumprod[src as usize]
    } else if config.set_alpha_to_one {
        1.0
    } else {
        alphas_cumprod[0]
    };
    ddim_coeffs(config, abar_src, alphas_cumprod[t], 0.0, t)
}
