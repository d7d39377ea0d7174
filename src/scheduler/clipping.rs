//! How a run clamps the predicted x_0 — a choice the page offers, because it changes what DDIM
//! converges to (the model card's table): [`Clipping::Checkpoint`] keeps the scheduler config's
//! `clip_sample`; [`Clipping::Off`] and [`Clipping::Clip`] override it (diffusers'
//! `clip_sample=False` / `True`, with the config's `clip_sample_range`);
//! [`Clipping::ClipRecomputeEps`] also re-derives the noise estimate from the clipped x_0
//! before DDIM's update, as diffusers' `DDIMScheduler.step(..., use_clipped_model_output=True)`:
//!
//! ```text
//! eps' = (x_t - sqrt(abar_t) * x0_clipped) / sqrt(1 - abar_t)
//! prev = sqrt(abar_prev) * x0_clipped + dir * eps' + std * noise
//!      = (sqrt(abar_prev) - dir * sqrt(abar_t) / sqrt(1 - abar_t)) * x0_clipped
//!        + dir / sqrt(1 - abar_t) * x_t + std * noise
//! ```
//!
//! so it fits [`StepCoeffs`] unchanged (the x_t weight replaces the eps weight).

use super::{Plan, Sampler, Schedule, SchedulerError};

/// The clamp of the predicted x_0 for a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Clipping {
    /// The scheduler config's `clip_sample` (the default).
    #[default]
    Checkpoint,
    /// No clamp (`clip_sample=False`).
    Off,
    /// Clamp x_0 to `[-clip_sample_range, clip_sample_range]` (`clip_sample=True`).
    Clip,
    /// Clamp, and compute DDIM's update from the noise the clamped x_0 implies
    /// (`use_clipped_model_output=True`). DDIM only.
    ClipRecomputeEps,
}

impl Clipping {
    /// `"checkpoint"`, `"off"`, `"clip"` or `"recompute"` (the names the CLI and page use).
    pub fn parse(name: &str) -> Option<Clipping> {
        Some(match name {
            "checkpoint" => Clipping::Checkpoint,
            "off" => Clipping::Off,
            "clip" => Clipping::Clip,
            "recompute" => Clipping::ClipRecomputeEps,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Clipping::Checkpoint => "checkpoint",
            Clipping::Off => "off",
            Clipping::Clip => "clip",
            Clipping::ClipRecomputeEps => "recompute",
        }
    }

    /// The accepted names, for error messages.
    pub const ACCEPTED: &'static str =
        "\"checkpoint\" (the scheduler config's clip_sample), \"off\", \
         \"clip\" or \"recompute\" (clip, and DDIM's noise estimate from the clipped x_0)";

    /// Rewrites `plan`'s steps for this choice. DPM-Solver++ never clamps (diffusers' solver has
    /// no `clip_sample`), so it takes only `Checkpoint` and `Off`; `ClipRecomputeEps` is DDIM's.
    pub(super) fn apply(self, schedule: &Schedule, plan: &mut Plan) -> Result<(), SchedulerError> {
        let refuse = || SchedulerError::ClippingNotFor {
            clipping: self.as_str(),
            sampler: plan.sampler.name(),
        };
        match (self, plan.sampler) {
            (Clipping::Checkpoint, _) => Ok(()),
            (Clipping::Off, _) => {
                for c in &mut plan.coeffs {
                    c.clip = 0.0;
                }
                Ok(())
            }
            (Clipping::Clip | Clipping::ClipRecomputeEps, Sampler::DpmSolverPP) => Err(refuse()),
            (Clipping::ClipRecomputeEps, s) if !matches!(s, Sampler::Ddim { .. }) => Err(refuse()),
            (Clipping::Clip, _) => {
                let range = schedule.config().clip_sample_range as f32;
                for c in &mut plan.coeffs {
                    c.clip = 1.0;
                    c.clip_range = range;
                }
                Ok(())
            }
            (Clipping::ClipRecomputeEps, _) => {
                let range = schedule.config().clip_sample_range as f32;
                let ac = schedule.alphas_cumprod();
                for (c, &t) in plan.coeffs.iter_mut().zip(&plan.timesteps) {
                    let abar_t = ac[t as usize];
                    // 1 - abar_t in float32, as diffusers' beta_prod_t.
                    let beta_prod_t = f64::from(1.0f32 - abar_t);
                    let k = f64::from(c.prev_from_eps) / libm::sqrt(beta_prod_t);
                    c.clip = 1.0;
                    c.clip_range = range;
                    c.prev_from_x0 =
                        (f64::from(c.prev_from_x0) - k * libm::sqrt(f64::from(abar_t))) as f32;
                    c.prev_from_sample += k as f32;
                    c.prev_from_eps = 0.0;
                }
                Ok(())
            }
        }
    }
}
