//! One planned step in the terms of the posts that derive DDPM and DDIM, for the page's step
//! anatomy and schedule panels: alpha-bar, the respaced beta, the DDPM posterior
//! q(x_{t-1} | x_t, x_0) with x_0 replaced by the network's estimate, and DDIM's sigma_t(eta)
//! split into its factors. Every number is either one of the kernel's own [`StepCoeffs`] for
//! the step or computed from the same float32 scalars (`torch_scalars`) by the same functions
//! that make those coefficients, so what the page shows is what ran.
//!
//! ```text
//! x0_hat  = (x_t - sqrt(1 - abar_t) * eps_hat) / sqrt(abar_t)                (epsilon prediction)
//! DDPM    x_{t-1} = a * x0_hat + b * x_t + sigma_t * z,   a = sqrt(abar_prev) beta_t / (1 - abar_t),
//!         b = sqrt(alpha_t) (1 - abar_prev) / (1 - abar_t),  sigma_t^2 = beta_tilde_t or beta_t,
//!         beta_t = 1 - abar_t / abar_prev,  beta_tilde_t = (1 - abar_prev) / (1 - abar_t) * beta_t
//! DDIM    x_{t-1} = sqrt(abar_prev) x0_hat + sqrt(1 - abar_prev - sigma_t^2) eps_hat + sigma_t z,
//!         sigma_t = eta * sqrt((1 - abar_prev) / (1 - abar_t)) * sqrt(1 - abar_t / abar_prev)
//! ```
//!
//! At eta = 1, sigma_t^2 is beta_tilde_t: DDIM's noisiest member is DDPM with the posterior
//! variance (for the same pair of timesteps).

use super::config::DdpmVariance;
use super::{ddim, ddpm, torch_scalars, Plan, Schedule, StepCoeffs};

/// One step of a [`Plan`] as the posts write it (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepAnatomy {
    /// The step's position in the plan (0 = the first step taken).
    pub index: usize,
    /// t, the timestep the UNet runs at.
    pub timestep: u32,
    /// The timestep the step lands on (negative = past the end: the clean image).
    pub prev_timestep: i64,
    /// The coefficients the update kernel ran with for this step.
    pub coeffs: StepCoeffs,
    /// alpha-bar_t.
    pub alpha_bar: f32,
    /// alpha-bar at the previous timestep, by the sampler's own rule past the end.
    pub alpha_bar_prev: f32,
    /// beta_t = 1 - alpha-bar_t / alpha-bar_prev, the one-step beta spanning the gap to the
    /// previous timestep (the model's own beta_t when no step is skipped), float32 as diffusers.
    pub beta: f32,
    /// beta-tilde_t = (1 - alpha-bar_prev) / (1 - alpha-bar_t) * beta_t, the variance of the
    /// posterior q(x_{t-1} | x_t, x_0).
    pub posterior_variance: f64,
    /// log SNR_t = ln(alpha-bar_t / (1 - alpha-bar_t)).
    pub log_snr: f64,
    /// sqrt(alpha-bar_t), the divisor in x0_hat.
    pub sqrt_alpha_bar: f64,
    /// sqrt(1 - alpha-bar_t), the weight of eps_hat in x0_hat.
    pub sqrt_one_minus_alpha_bar: f64,
    /// The predicted noise eps_hat = eps_from_sample * x_t + eps_from_model * (model output),
    /// for any prediction type (for epsilon prediction 0 and 1).
    pub eps_from_sample: f32,
    /// See [`StepAnatomy::eps_from_sample`].
    pub eps_from_model: f32,
    /// sqrt((1 - alpha-bar_prev) / (1 - alpha-bar_t)), the first factor of sigma_t(eta) / eta.
    pub sigma_ratio: f64,
    /// sqrt(1 - alpha-bar_t / alpha-bar_prev) = sqrt(beta_t), the second factor.
    pub sigma_gap: f64,
    /// DDPM's coefficients for this pair of timesteps with the posterior variance (what a DDPM
    /// step t -> prev runs): `prev_from_x0` is a, `prev_from_sample` b, `prev_from_noise`
    /// sqrt(beta-tilde_t) (0 at t = 0, as diffusers).
    pub ddpm_posterior: StepCoeffs,
    /// DDPM's coefficients for this pair with variance beta_t (`fixed_large`): `prev_from_noise`
    /// is sqrt(beta_t) (0 at t = 0).
    pub ddpm_beta: StepCoeffs,
    /// DDIM's coefficients for this pair at eta = 1 (what a DDIM step t -> prev with eta = 1
    /// runs): `prev_from_noise` is sigma_t(1).
    pub ddim_eta1: StepCoeffs,
}

impl Schedule {
    /// Step `index` of `plan` (made by [`Schedule::plan`] on this schedule) in the posts'
    /// terms, or `None` when the plan has no such step.
    pub fn anatomy(&self, plan: &Plan, index: usize) -> Option<StepAnatomy> {
        let coeffs = *plan.coeffs.get(index)?;
        let t = plan.timesteps[index] as usize;
        let prev = plan.prev_timesteps[index];
        let ac = &self.alphas_cumprod;
        // The level the step lands on (DPM-Solver++ and inverse DDIM: described as the pair of
        // levels their step joins; their own coefficients are `coeffs`).
        let abar_prev = self.plan_alpha_bar(plan, index, false)?;
        let s = torch_scalars(ac[t], abar_prev);
        let ddim_eta1 = ddim::ddim_step(&self.config, ac, 1.0, t, prev);
        Some(StepAnatomy {
            index,
            timestep: t as u32,
            prev_timestep: prev,
            coeffs,
            alpha_bar: ac[t],
            alpha_bar_prev: abar_prev,
            beta: s.beta_t as f32,
            posterior_variance: s.beta_prod_prev / s.beta_prod_t * s.beta_t,
            log_snr: self.log_snr(t),
            sqrt_alpha_bar: libm::sqrt(s.abar_t),
            sqrt_one_minus_alpha_bar: libm::sqrt(s.beta_prod_t),
            eps_from_sample: ddim_eta1.eps_from_sample,
            eps_from_model: ddim_eta1.eps_from_model,
            sigma_ratio: libm::sqrt(s.beta_prod_prev / s.beta_prod_t),
            sigma_gap: libm::sqrt(s.beta_t),
            ddpm_posterior: ddpm::ddpm_step(&self.config, ac, DdpmVariance::FixedSmall, t, prev),
            ddpm_beta: ddpm::ddpm_step(&self.config, ac, DdpmVariance::FixedLarge, t, prev),
            ddim_eta1,
        })
    }

    /// log SNR_t = ln(alpha-bar_t / (1 - alpha-bar_t)), with `1 - alpha-bar_t` rounded in
    /// float32 as everywhere else. Panics if `t >= num_train_timesteps()`.
    pub fn log_snr(&self, t: usize) -> f64 {
        let abar = self.alphas_cumprod[t];
        libm::log(f64::from(abar) / f64::from(1.0f32 - abar))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::{Sampler, SchedulerConfig};

    fn schedule() -> Schedule {
        let config = SchedulerConfig {
            clip_sample: true,
            ..SchedulerConfig::default()
        };
        Schedule::new(&config).unwrap()
    }

    #[test]
    fn the_kernel_coefficients_are_the_plans() {
        let s = schedule();
        for sampler in [
            Sampler::Ddpm {
                variance: DdpmVariance::FixedSmall,
            },
            Sampler::Ddpm {
                variance: DdpmVariance::FixedLarge,
            },
            Sampler::Ddim { eta: 0.3 },
        ] {
            let plan = s.plan(sampler, 20).unwrap();
            for i in 0..20 {
                let a = s.anatomy(&plan, i).unwrap();
                assert_eq!(a.coeffs, plan.coeffs[i]);
                assert_eq!(a.timestep, plan.timesteps[i]);
                assert_eq!(a.prev_timestep, plan.prev_timesteps[i]);
            }
            assert!(s.anatomy(&plan, 20).is_none());
        }
    }

    #[test]
    fn ddpm_posterior_is_the_ddpm_step_and_eta_one_gives_beta_tilde() {
        let s = schedule();
        let ddpm = s
            .plan(
                Sampler::Ddpm {
                    variance: DdpmVariance::FixedSmall,
                },
                1000,
            )
            .unwrap();
        let ddim = s.plan(Sampler::Ddim { eta: 1.0 }, 1000).unwrap();
        for i in [0, 1, 500, 998] {
            let a = s.anatomy(&ddpm, i).unwrap();
            let b = s.anatomy(&ddim, i).unwrap();
            assert_eq!(a.ddpm_posterior, a.coeffs);
            let large = s
                .plan(
                    Sampler::Ddpm {
                        variance: DdpmVariance::FixedLarge,
                    },
                    1000,
                )
                .unwrap();
            assert_eq!(a.ddpm_beta, large.coeffs[i]);
            assert_eq!(b.ddim_eta1, b.coeffs);
            // No skipped steps: the same pair t -> t - 1, and sigma(eta = 1)^2 = beta-tilde_t.
            assert_eq!(a.prev_timestep, b.prev_timestep);
            let sigma = f64::from(b.coeffs.prev_from_noise);
            assert!((sigma * sigma - a.posterior_variance).abs() <= 1e-6 * a.posterior_variance);
            assert!(
                (b.coeffs.prev_from_noise - a.coeffs.prev_from_noise).abs()
                    <= 1e-6 * a.coeffs.prev_from_noise
            );
            // ... and the one-step beta is the model's own beta_t (up to the float32 rounding of
            // 1 - abar_t / abar_prev, a few 1e-8 absolute).
            let t = a.timestep as usize;
            assert!(
                (a.beta - s.betas()[t]).abs() <= 3e-7,
                "{} {}",
                a.beta,
                s.betas()[t]
            );
            // sigma(eta = 1) is the product of its two factors.
            assert!((b.sigma_ratio * b.sigma_gap - sigma).abs() <= 1e-6 * sigma);
        }
    }

    #[test]
    fn x0_hat_weights_are_the_kernels() {
        let s = schedule();
        let plan = s.plan(Sampler::Ddim { eta: 0.0 }, 10).unwrap();
        for i in 0..10 {
            let a = s.anatomy(&plan, i).unwrap();
            let want_s = 1.0 / a.sqrt_alpha_bar;
            let want_m = -a.sqrt_one_minus_alpha_bar / a.sqrt_alpha_bar;
            assert!((f64::from(a.coeffs.x0_from_sample) - want_s).abs() <= 1e-6 * want_s);
            assert!((f64::from(a.coeffs.x0_from_model) - want_m).abs() <= 1e-6 * want_m.abs());
            assert_eq!((a.eps_from_sample, a.eps_from_model), (0.0, 1.0));
            let snr = f64::from(a.alpha_bar) / (1.0 - f64::from(a.alpha_bar));
            assert!((a.log_snr - snr.ln()).abs() <= 1e-5);
        }
    }
}
