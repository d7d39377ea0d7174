//! DDPM, DDIM, DPM-Solver++(2M) and inverse-DDIM schedules, reproducing diffusers'
//! `DDPMScheduler`, `DDIMScheduler`, `DPMSolverMultistepScheduler` and `DDIMInverseScheduler`
//! (diffusers 0.42.1, torch 2.15) including their quirks.
//!
//! The flow is:
//!
//! 1. [`SchedulerConfig::from_json_str`] reads a checkpoint's `scheduler_config.json`;
//! 2. [`Schedule::new`] computes betas and `alphas_cumprod` bit-identically to diffusers;
//! 3. [`Schedule::plan`] turns a [`Sampler`] and a step count into a [`Plan`]: the timesteps
//!    (diffusers' `set_timesteps`) and one [`StepCoeffs`] per step, which the GPU update kernel
//!    (or [`StepCoeffs::apply`] on the CPU) uses to go from x_t and the UNet output to x_{t-1};
//! 4. [`Schedule::anatomy`] describes one planned step in the posts' terms (alpha-bar, the DDPM
//!    posterior, DDIM's sigma_t(eta)) for the page, and [`StepCoeffs::parts`] splits its update
//!    into the terms that sum to x_{t-1}.
//!
//! Numerics: diffusers does all scheduler maths on float32 tensors. The step coefficients are
//! computed here in f64 and stored as f32, except for the few scalars where float32 rounding in
//! diffusers is not negligible — `1 - abar`, `abar_t / abar_prev` and `1 - abar_t / abar_prev`,
//! which cancel catastrophically near t = 0 (a one-ulp difference in `abar_t / abar_prev` is a
//! 5e-4 relative change of the one-step beta at t = 1). Those are evaluated in f32 exactly as
//! torch does, so the coefficients agree with diffusers to a few f32 ulps.

mod anatomy;
mod betas;
mod clipping;
mod coeffs;
mod config;
mod ddim;
mod ddim_inverse;
mod ddpm;
mod dpm_solver;
mod error;
mod timesteps;

pub use anatomy::StepAnatomy;
pub use betas::Schedule;
pub use clipping::Clipping;
pub use coeffs::{StepCoeffs, StepParts};
pub use config::{BetaSchedule, DdpmVariance, PredictionType, SchedulerConfig, TimestepSpacing};
pub use error::SchedulerError;

/// Which reverse process to run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sampler {
    /// Ancestral DDPM sampling (`DDPMScheduler`), with fewer steps than training timesteps
    /// using diffusers' respacing (the one-step beta spans the gap to the previous timestep).
    Ddpm {
        /// The posterior variance; [`DdpmVariance::from_config`] gives the model's own choice.
        variance: DdpmVariance,
    },
    /// DDIM (`DDIMScheduler`): `eta = 0` is deterministic, `eta = 1` adds DDPM-like noise.
    Ddim {
        /// Noise scale in [0, 1].
        eta: f32,
    },
    /// DPM-Solver++(2M) (`DPMSolverMultistepScheduler` with its defaults): deterministic, one
    /// network evaluation per step, each step after the first using the previous step's x_0.
    DpmSolverPP,
    /// Inverse DDIM (`DDIMInverseScheduler`): runs from an image x_0 towards x_T, timesteps
    /// ascending; `DDIM eta = 0` from the result gives the image back.
    DdimInverse,
}

impl Sampler {
    /// The name the CLI and the wasm API use: "ddpm", "ddim", "dpmpp2m", "ddim-inverse".
    pub fn name(&self) -> &'static str {
        match self {
            Sampler::Ddpm { .. } => "ddpm",
            Sampler::Ddim { .. } => "ddim",
            Sampler::DpmSolverPP => "dpmpp2m",
            Sampler::DdimInverse => "ddim-inverse",
        }
    }
}

/// What a sampling run does: the timesteps in order, and the coefficients of each step.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// The sampler the plan was made for.
    pub sampler: Sampler,
    /// The requested number of inference steps (equal to `timesteps.len()`).
    pub num_inference_steps: usize,
    /// The timestep the UNet runs at for each step, exactly as diffusers' `set_timesteps`:
    /// descending, except for inverse DDIM (ascending).
    pub timesteps: Vec<u32>,
    /// The timestep each step lands on, as diffusers computes it (negative = past the end, i.e.
    /// the clean image). For DDPM and DPM-Solver++ the next entry of `timesteps` (or -1); for
    /// DDIM `t - T // N`; for inverse DDIM `t` itself (the UNet runs at the level it lands on).
    pub prev_timesteps: Vec<i64>,
    /// One set of update coefficients per step, aligned with `timesteps`.
    pub coeffs: Vec<StepCoeffs>,
}

impl Schedule {
    /// diffusers' `set_timesteps(num_inference_steps)` for this config, as signed integers and
    /// without range checks: for some configs diffusers yields a timestep outside
    /// `0..num_train_timesteps` (trailing spacing with e.g. T = 1000, N = 61 ends in -1;
    /// leading spacing with `steps_offset = 1` and N = T starts at T). [`Schedule::plan`]
    /// refuses those; this shows them.
    pub fn timesteps(&self, num_inference_steps: usize) -> Result<Vec<i64>, SchedulerError> {
        self.check_step_count(num_inference_steps)?;
        Ok(timesteps::diffusers_timesteps(
            self.config.num_train_timesteps,
            num_inference_steps,
            self.config.timestep_spacing,
            self.config.steps_offset,
        ))
    }

    /// Plans a run of `num_inference_steps` steps with `sampler`: diffusers' timesteps and the
    /// per-step coefficients of `DDPMScheduler.step` / `DDIMScheduler.step` /
    /// `DPMSolverMultistepScheduler.step` / `DDIMInverseScheduler.step`.
    ///
    /// Errors: `num_inference_steps` of 0 or above `num_train_timesteps`; DDIM `eta` NaN or
    /// outside [0, 1]; a configuration for which diffusers' timesteps leave `0..T`
    /// ([`SchedulerError::TimestepOutOfRange`]) or, for DPM-Solver++, repeat
    /// ([`SchedulerError::RepeatedTimestep`]); inverse DDIM with `"linspace"` spacing.
    /// [`Schedule::plan`] with the predicted x_0 clamped as `clipping` says (see [`Clipping`]).
    pub fn plan_clipped(
        &self,
        sampler: Sampler,
        num_inference_steps: usize,
        clipping: Clipping,
    ) -> Result<Plan, SchedulerError> {
        let mut plan = self.plan(sampler, num_inference_steps)?;
        clipping.apply(self, &mut plan)?;
        for (i, (c, &t)) in plan.coeffs.iter().zip(&plan.timesteps).enumerate() {
            check_finite(i, t, c)?;
        }
        Ok(plan)
    }

    pub fn plan(
        &self,
        sampler: Sampler,
        num_inference_steps: usize,
    ) -> Result<Plan, SchedulerError> {
        if let Sampler::Ddim { eta } = sampler {
            if !(0.0..=1.0).contains(&eta) {
                return Err(SchedulerError::InvalidEta { found: eta });
            }
        }
        let n = num_inference_steps;
        self.check_step_count(n)?;
        let raw = match sampler {
            Sampler::Ddpm { .. } | Sampler::Ddim { .. } => self.timesteps(n)?,
            Sampler::DpmSolverPP => dpm_solver::timesteps(&self.config, n),
            Sampler::DdimInverse => ddim_inverse::timesteps(&self.config, n)?,
        };
        let t_total = self.config.num_train_timesteps;
        if let Some(&bad) = raw.iter().find(|&&t| t < 0 || t >= t_total as i64) {
            return Err(SchedulerError::TimestepOutOfRange {
                timestep: bad,
                num_inference_steps,
                spacing: self.config.timestep_spacing.as_str(),
                steps_offset: self.config.steps_offset,
                num_train_timesteps: t_total,
                why: if bad < 0 {
                    "numpy's arange(T, 0, -T/N) has one element too many for this N, \
                     which rounds to 0 and becomes -1"
                } else {
                    "steps_offset pushes the last leading timestep to T or beyond"
                },
            });
        }
        if sampler == Sampler::DpmSolverPP {
            // diffusers finds a step's index by its timestep value: a repeated timestep would
            // make it skip steps.
            if let Some(w) = raw.windows(2).find(|w| w[1] >= w[0]) {
                return Err(SchedulerError::RepeatedTimestep {
                    timestep: w[1],
                    num_inference_steps,
                    num_train_timesteps: t_total,
                });
            }
        }

        let (prev_timesteps, coeffs): (Vec<i64>, Vec<StepCoeffs>) = match sampler {
            Sampler::DpmSolverPP => (
                (0..raw.len())
                    .map(|i| raw.get(i + 1).copied().unwrap_or(-1))
                    .collect(),
                dpm_solver::steps(&self.config, &self.alphas_cumprod, &raw),
            ),
            Sampler::DdimInverse => (
                raw.clone(),
                raw.iter()
                    .map(|&t| ddim_inverse::step(&self.config, &self.alphas_cumprod, n, t as usize))
                    .collect(),
            ),
            Sampler::Ddpm { variance } => raw
                .iter()
                .enumerate()
                .map(|(i, &t)| {
                    // DDPMScheduler.previous_timestep: the next entry of the list, or -1.
                    let prev = raw.get(i + 1).copied().unwrap_or(-1);
                    let c = ddpm::ddpm_step(
                        &self.config,
                        &self.alphas_cumprod,
                        variance,
                        t as usize,
                        prev,
                    );
                    (prev, c)
                })
                .unzip(),
            Sampler::Ddim { eta } => raw
                .iter()
                .map(|&t| {
                    // DDIMScheduler.step: t - T // N, regardless of spacing.
                    let prev = t - (t_total / n) as i64;
                    let c =
                        ddim::ddim_step(&self.config, &self.alphas_cumprod, eta, t as usize, prev);
                    (prev, c)
                })
                .unzip(),
        };
        for (i, c) in coeffs.iter().enumerate() {
            check_finite(i, raw[i] as u32, c)?;
        }
        Ok(Plan {
            sampler,
            num_inference_steps,
            timesteps: raw.iter().map(|&t| t as u32).collect(),
            prev_timesteps,
            coeffs,
        })
    }

    /// alpha-bar at a plan's step `index` before the step (`at_start`) or after it: the noise
    /// level the step's x starts from or lands on (1 past the clean end, as DDPM and
    /// DPM-Solver++; DDIM's `set_alpha_to_one` rule for DDIM). What inpainting noises the known
    /// pixels to.
    pub fn plan_alpha_bar(&self, plan: &Plan, index: usize, at_start: bool) -> Option<f32> {
        let ac = &self.alphas_cumprod;
        let t = *plan.timesteps.get(index)? as usize;
        if at_start {
            return Some(ac[t]);
        }
        let prev = plan.prev_timesteps[index];
        Some(match plan.sampler {
            Sampler::Ddim { .. } => ddim::abar_prev(&self.config, ac, prev),
            Sampler::Ddpm { .. } | Sampler::DpmSolverPP => ddpm::abar_prev(ac, prev),
            Sampler::DdimInverse => ac[t],
        })
    }

    fn check_step_count(&self, n: usize) -> Result<(), SchedulerError> {
        if n == 0 || n > self.config.num_train_timesteps {
            return Err(SchedulerError::InvalidStepCount {
                found: n,
                max: self.config.num_train_timesteps,
            });
        }
        Ok(())
    }
}

/// Refuses a step whose coefficients are not all finite (they would turn the image to NaN).
fn check_finite(step: usize, timestep: u32, c: &StepCoeffs) -> Result<(), SchedulerError> {
    let fields = [
        ("x0_from_sample", c.x0_from_sample),
        ("x0_from_model", c.x0_from_model),
        ("clip_range", c.clip_range),
        ("eps_from_sample", c.eps_from_sample),
        ("eps_from_model", c.eps_from_model),
        ("prev_from_x0", c.prev_from_x0),
        ("prev_from_sample", c.prev_from_sample),
        ("prev_from_eps", c.prev_from_eps),
        ("prev_from_noise", c.prev_from_noise),
        ("prev_from_prev_x0", c.prev_from_prev_x0),
    ];
    match fields.iter().find(|(_, v)| !v.is_finite()) {
        None => Ok(()),
        Some(&(coefficient, value)) => Err(SchedulerError::NonFiniteStep {
            step,
            timestep,
            coefficient,
            value,
        }),
    }
}

/// The scalar quantities diffusers derives from `abar_t` and `abar_prev`, rounded as its
/// float32 tensor maths rounds them (see the module docs), widened to f64.
struct TorchScalars {
    abar_t: f64,
    abar_prev: f64,
    /// `1 - abar_t`
    beta_prod_t: f64,
    /// `1 - abar_prev`
    beta_prod_prev: f64,
    /// `abar_t / abar_prev`
    alpha_t: f64,
    /// `1 - abar_t / abar_prev`
    beta_t: f64,
}

fn torch_scalars(abar_t: f32, abar_prev: f32) -> TorchScalars {
    let alpha_t = abar_t / abar_prev;
    TorchScalars {
        abar_t: f64::from(abar_t),
        abar_prev: f64::from(abar_prev),
        beta_prod_t: f64::from(1.0f32 - abar_t),
        beta_prod_prev: f64::from(1.0f32 - abar_prev),
        alpha_t: f64::from(alpha_t),
        beta_t: f64::from(1.0f32 - alpha_t),
    }
}

/// `(x0_from_sample, x0_from_model)` for a prediction type, shared by DDPM and DDIM.
fn x0_coeffs(prediction: PredictionType, abar_t: f64, beta_prod_t: f64) -> (f64, f64) {
    let (sqrt_a, sqrt_b) = (libm::sqrt(abar_t), libm::sqrt(beta_prod_t));
    match prediction {
        // x0 = (x_t - sqrt(1 - abar_t) * eps) / sqrt(abar_t)
        PredictionType::Epsilon => (1.0 / sqrt_a, -sqrt_b / sqrt_a),
        // x0 = model_output
        PredictionType::Sample => (0.0, 1.0),
        // x0 = sqrt(abar_t) * x_t - sqrt(1 - abar_t) * v
        PredictionType::VPrediction => (sqrt_a, -sqrt_b),
    }
}
