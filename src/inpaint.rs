//! Inpainting as RePaint does it (Lugmayr et al. 2022, Algorithm 1), over any [`Executor`] and a
//! DDPM or DDIM [`Plan`]: the mask says which pixels of an image x_0 are known (1 = keep,
//! 0 = fill; fractions blend linearly), and the sampler fills the rest.
//!
//! * At the start, and after every step, the known pixels of x are replaced by a fresh draw from
//!   the forward process at the level x is at: x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) z,
//!   seeded. After the last step that level is the clean end (alpha-bar 1 for DDPM, and for
//!   DDIM with `set_alpha_to_one`), so the known pixels come out equal to x_0; with
//!   `set_alpha_to_one = false` DDIM ends at alpha-bar_0 and they carry that level's noise
//!   (std sqrt(1 - alphas_cumprod[0]), 0.01 for the usual linear schedule).
//! * `resample` R >= 1 is RePaint's number of resamplings with jump length 1: each step except
//!   the last runs R times; between runs x goes back up one step of the forward process,
//!   x_t = sqrt(abar_t / abar_prev) x_{t-1} + sqrt(1 - abar_t / abar_prev) z, which lets the
//!   filled region agree with the known one. R = 1 is plain replacement. A run of S steps makes
//!   (S - 1) R + 1 network evaluations.
//!
//! Every draw has its own stream ([`crate::rng::inpaint_noise_purpose`]); round r > 0 of a step
//! takes its step noise from the seed [`round_seed`]`(seed, r)`.

use crate::error::{Error, InputError};
use crate::exec::Executor;
use crate::model::UNet;
use crate::ops::Blend;
use crate::rng;
use crate::scheduler::{Plan, Sampler, Schedule};

/// The seed whose step noise round `round` of a resampled step uses (round 0: `seed` itself).
pub fn round_seed(seed: u64, round: usize) -> u64 {
    if round == 0 {
        seed
    } else {
        seed ^ (round as u64)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(17)
    }
}

/// Resampling rounds accepted: 1 (none) to this.
pub const MAX_RESAMPLE: usize = 100;

/// Refuses samplers inpainting does not run with, and a resample count outside 1..=100.
pub fn check(plan: &Plan, resample: usize) -> Result<(), InputError> {
    if !matches!(plan.sampler, Sampler::Ddpm { .. } | Sampler::Ddim { .. }) {
        return Err(InputError::Unknown {
            what: "sampler for inpainting",
            found: plan.sampler.name().to_string(),
            accepted: "\"ddpm\" or \"ddim\" (RePaint's re-noising needs a single-step sampler)",
        });
    }
    if !(1..=MAX_RESAMPLE).contains(&resample) {
        return Err(InputError::OutOfRange {
            what: "inpainting's resample count",
            found: resample.to_string(),
            accepted: format!("1 (no resampling) to {MAX_RESAMPLE}"),
        });
    }
    Ok(())
}

/// Network evaluations of an inpainting run of `steps` steps with `resample` rounds.
pub fn network_evaluations(steps: usize, resample: usize) -> usize {
    steps.saturating_sub(1) * resample + steps.min(1)
}

/// The noise of one blend for the executor's images.
fn noise(exec: &dyn Executor, seed: u64, kind: u64, step: usize, round: usize) -> Vec<f32> {
    let batch = exec.batch();
    let first = exec.first_sample();
    rng::noise_of(
        seed,
        rng::inpaint_noise_purpose(kind, step, round),
        first..first + batch,
        exec.sample_len() / batch,
    )
}

/// After a run's start (x = x_T): the known pixels become a draw at the first step's level.
pub fn start(
    exec: &dyn Executor,
    schedule: &Schedule,
    plan: &Plan,
    seed: u64,
) -> Result<(), Error> {
    check(plan, 1)?;
    let abar = alpha_bar(schedule, plan, 0, true)?;
    exec.blend(Blend::known_at(abar), &noise(exec, seed, 3, 0, 0))
}

/// Step `index` of `plan` with RePaint's replacement and `resample` rounds; returns the number
/// of network evaluations it made.
pub fn step(
    exec: &dyn Executor,
    unet: &UNet,
    schedule: &Schedule,
    plan: &Plan,
    index: usize,
    seed: u64,
    resample: usize,
) -> Result<usize, Error> {
    check(plan, resample)?;
    let before = alpha_bar(schedule, plan, index, true)?;
    let after = alpha_bar(schedule, plan, index, false)?;
    let last = index + 1 == plan.timesteps.len();
    let rounds = if last { 1 } else { resample };
    for round in 0..rounds {
        exec.step(unet, plan, index, round_seed(seed, round))?;
        let known = Blend::known_at(after);
        let z = if known.needs_noise() {
            noise(exec, seed, 1, index, round)
        } else {
            Vec::new()
        };
        exec.blend(known, &z)?;
        if round + 1 < rounds {
            exec.blend(
                Blend::renoise(after, before),
                &noise(exec, seed, 2, index, round),
            )?;
        }
    }
    Ok(rounds)
}

fn alpha_bar(schedule: &Schedule, plan: &Plan, index: usize, at_start: bool) -> Result<f32, Error> {
    schedule
        .plan_alpha_bar(plan, index, at_start)
        .ok_or_else(|| {
            InputError::Step {
                index,
                steps: plan.timesteps.len(),
            }
            .into()
        })
}

/// A mask of (M, 1, H, W) values, M = 1 (one mask for every image) or `batch`, spread over the
/// channels to the sample's (batch, C, H, W). Values must be finite and in [0, 1].
pub fn expand_mask(
    mask: &[f32],
    masks: usize,
    batch: usize,
    channels: usize,
    plane: usize,
) -> Result<Vec<f32>, InputError> {
    if !(masks == 1 || masks == batch) || mask.len() != masks * plane {
        return Err(InputError::Length {
            what: "the mask",
            found: mask.len(),
            expected: plane,
            shape: format!(
                "(1, 1, H, W) or ({batch}, 1, H, W) with H x W = {plane}: one value per pixel, \
                 1 = keep the known pixel, 0 = fill"
            ),
        });
    }
    if let Some(bad) = mask.iter().find(|v| !(0.0..=1.0).contains(*v)) {
        return Err(InputError::OutOfRange {
            what: "a mask value",
            found: bad.to_string(),
            accepted: "numbers in [0, 1]: 1 = keep the known pixel, 0 = fill it".into(),
        });
    }
    let mut out = Vec::with_capacity(batch * channels * plane);
    for b in 0..batch {
        let m = &mask[(if masks == 1 { 0 } else { b }) * plane..][..plane];
        for _ in 0..channels {
            out.extend_from_slice(m);
        }
    }
    Ok(out)
}
