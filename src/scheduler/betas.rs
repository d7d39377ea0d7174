//! The noise schedule itself: betas and `alphas_cumprod` (alpha-bar), computed bit-for-bit as
//! diffusers computes them on the CPU with PyTorch.
//!
//! Why bit-for-bit: every later coefficient is a function of `alphas_cumprod`, and several of
//! them (`1 - alpha_bar`, `1 - alpha_bar_t / alpha_bar_prev`) cancel catastrophically near
//! `t = 0`, so a one-ulp difference here becomes a 1e-3 relative difference in a step
//! coefficient. Three PyTorch details matter:
//!
//! * `torch.linspace(a, b, n, dtype=float32)` evaluates `a + step * i` for the first half and
//!   `b - step * (n - 1 - i)` for the second half, in float32 with `step = (b - a) / (n - 1)`,
//!   and the compiled kernel contracts each into a fused multiply-add (checked against torch
//!   2.15 for many ranges and lengths). We use `libm::fmaf`, a correctly rounded software FMA,
//!   so the result is the same on every platform, wasm included.
//! * `torch.cumprod` on float32 CPU tensors accumulates the running product in float64 and
//!   rounds each output to float32 (a float32 running product differs in ~80% of entries).
//! * The cosine schedule (`betas_for_alpha_bar`) is evaluated in Python floats (f64) and only
//!   then converted to float32; we use `libm::cos` so no platform libm is involved.

use super::config::{BetaSchedule, SchedulerConfig};
use super::error::SchedulerError;

/// A validated scheduler config with its betas and `alphas_cumprod` (float32, as diffusers).
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    pub(super) config: SchedulerConfig,
    pub(super) betas: Vec<f32>,
    pub(super) alphas_cumprod: Vec<f32>,
}

impl Schedule {
    /// Validates `config` and computes betas and `alphas_cumprod` exactly as diffusers'
    /// `DDPMScheduler` / `DDIMScheduler` constructors do.
    pub fn new(config: &SchedulerConfig) -> Result<Schedule, SchedulerError> {
        config.validate()?;
        let t = config.num_train_timesteps;
        let (betas, source_desc) = match &config.trained_betas {
            // torch.tensor(list_of_python_floats, dtype=float32): round each f64 to f32.
            Some(list) => (
                list.iter().map(|&b| b as f32).collect::<Vec<f32>>(),
                "trained_betas".to_string(),
            ),
            None => {
                let betas = match config.beta_schedule {
                    BetaSchedule::Linear => {
                        torch_linspace_f32(config.beta_start, config.beta_end, t)
                    }
                    BetaSchedule::ScaledLinear => {
                        // Python `beta_start**0.5` is an f64 square root; the square is a float32
                        // tensor op (`** 2`, i.e. x * x rounded once).
                        torch_linspace_f32(
                            libm::sqrt(config.beta_start),
                            libm::sqrt(config.beta_end),
                            t,
                        )
                        .into_iter()
                        .map(|x| x * x)
                        .collect()
                    }
                    BetaSchedule::SquaredCosCapV2 => betas_for_alpha_bar_cosine(t, 0.999),
                };
                (
                    betas,
                    format!("beta_schedule {:?}", config.beta_schedule.as_str()),
                )
            }
        };
        // 0 < beta < 1 keeps every alpha-bar in (0, 1), so that 1 - alpha_bar never divides by zero.
        if let Some((index, &value)) = betas
            .iter()
            .enumerate()
            .find(|(_, &b)| !(b > 0.0 && b < 1.0))
        {
            return Err(SchedulerError::InvalidBeta {
                index,
                value,
                source_desc,
            });
        }
        let alphas_cumprod = cumprod_like_torch(&betas);
        check_alphas_cumprod(&alphas_cumprod)?;
        Ok(Schedule {
            config: config.clone(),
            betas,
            alphas_cumprod,
        })
    }

    /// The config this schedule was built from.
    pub fn config(&self) -> &SchedulerConfig {
        &self.config
    }

    /// Number of training timesteps `T` (valid timesteps are `0..T`).
    pub fn num_train_timesteps(&self) -> usize {
        self.config.num_train_timesteps
    }

    /// The betas, one per training timestep (float32, as diffusers' `scheduler.betas`).
    pub fn betas(&self) -> &[f32] {
        &self.betas
    }

    /// alpha-bar_t = prod_{s <= t} (1 - beta_s), one per training timestep (float32, bit-identical
    /// to diffusers' `scheduler.alphas_cumprod`).
    pub fn alphas_cumprod(&self) -> &[f32] {
        &self.alphas_cumprod
    }

    /// `sqrt(alpha_bar_t)`: how much of x_0 survives in x_t (the forward-process plot).
    ///
    /// Panics if `t >= num_train_timesteps()`.
    pub fn sqrt_alpha_bar(&self, t: usize) -> f32 {
        libm::sqrt(f64::from(self.alphas_cumprod[t])) as f32
    }

    /// `sqrt(1 - alpha_bar_t)`: the standard deviation of the noise in x_t.
    ///
    /// Panics if `t >= num_train_timesteps()`.
    pub fn sqrt_one_minus_alpha_bar(&self, t: usize) -> f32 {
        libm::sqrt(1.0 - f64::from(self.alphas_cumprod[t])) as f32
    }
}

/// Betas in (0, 1) do not keep float32 alpha-bar in (0, 1): `1 - beta` rounds to 1 for a beta
/// below ~6e-8, and a long schedule of large betas underflows the product to 0.
fn check_alphas_cumprod(alphas_cumprod: &[f32]) -> Result<(), SchedulerError> {
    let bad = alphas_cumprod
        .iter()
        .enumerate()
        .find(|(_, &a)| !(a > 0.0 && a < 1.0 && (1.0 / a).is_finite()));
    match bad {
        None => Ok(()),
        Some((index, &value)) => Err(SchedulerError::InvalidAlphaBar {
            index,
            value,
            hint: if value >= 1.0 {
                "Here 1 - beta rounds to 1 in float32: raise beta_start (or the first \
                 trained_betas) to at least 1e-7."
            } else {
                "The product of (1 - beta) underflows float32 here: lower beta_end (or the \
                 trained_betas) or num_train_timesteps."
            },
        }),
    }
}

/// `torch.linspace(start, end, n, dtype=torch.float32)` on the CPU, bit-exact (see module docs).
fn torch_linspace_f32(start: f64, end: f64, n: usize) -> Vec<f32> {
    // Scalar.to<float>(): round the Python floats to f32 first.
    let (start, end) = (start as f32, end as f32);
    if n == 1 {
        return vec![start];
    }
    let step = (end - start) / (n - 1) as f32;
    let halfway = n / 2;
    (0..n)
        .map(|i| {
            if i < halfway {
                libm::fmaf(step, i as f32, start)
            } else {
                libm::fmaf(-step, (n - 1 - i) as f32, end)
            }
        })
        .collect()
}

/// diffusers' `betas_for_alpha_bar(T, max_beta, "cosine")`: f64 maths, then float32.
fn betas_for_alpha_bar_cosine(n: usize, max_beta: f64) -> Vec<f32> {
    // Same expression order as the Python: ((t + 0.008) / 1.008 * pi / 2), then cos(..) ** 2.
    let alpha_bar = |t: f64| {
        let c = libm::cos((t + 0.008) / 1.008 * core::f64::consts::PI / 2.0);
        c * c
    };
    (0..n)
        .map(|i| {
            let t1 = i as f64 / n as f64;
            let t2 = (i + 1) as f64 / n as f64;
            let beta = 1.0 - alpha_bar(t2) / alpha_bar(t1);
            beta.min(max_beta) as f32
        })
        .collect()
}

/// `torch.cumprod(1.0 - betas, dim=0)` for float32 CPU tensors: `1 - beta` in f32, running
/// product in f64, each output rounded to f32.
fn cumprod_like_torch(betas: &[f32]) -> Vec<f32> {
    let mut acc = 1.0f64;
    betas
        .iter()
        .map(|&b| {
            acc *= f64::from(1.0f32 - b);
            acc as f32
        })
        .collect()
}
