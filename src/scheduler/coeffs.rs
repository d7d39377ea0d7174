//! [`StepCoeffs`]: one reverse-diffusion step reduced to a dozen scalars, the uniform block of
//! the GPU update kernel, plus [`StepCoeffs::apply`], its plain-loop CPU reference, and
//! [`StepCoeffs::parts`], the same step split into the terms the page draws.
//!
//! Every DDPM / DDIM / inverse-DDIM / DPM-Solver++(2M) step, for every prediction type, is
//! affine in (sample, model_output, noise, the previous step's x_0) apart from the clamp of the
//! predicted x_0, so it fits one fixed formula:
//!
//! ```text
//! x0_raw = x0_from_sample * sample + x0_from_model * model_output
//! eps    = eps_from_sample * sample + eps_from_model * model_output   (from the UNclipped x0)
//! x0     = clip != 0 ? clamp(x0_raw, -clip_range, clip_range) : x0_raw
//! prev   = prev_from_x0 * x0 + prev_from_sample * sample + prev_from_eps * eps + prev_from_noise * noise
//!        + prev_from_prev_x0 * x0_previous_step
//! ```
//!
//! `x0_previous_step` is what the x_0 buffer holds when the step starts: the previous step's
//! prediction (a multistep solver's history), or x_T right after a start (every sampler's first
//! step has `prev_from_prev_x0 = 0`).

use bytemuck::{Pod, Zeroable};

/// The scalars of one sampling step. `#[repr(C)]`, 12 x f32 = 48 bytes, uploaded as a WGSL
/// uniform: keep the field order in sync with the shader's struct.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct StepCoeffs {
    /// Weight of `sample` (x_t) in the raw predicted x_0.
    pub x0_from_sample: f32,
    /// Weight of `model_output` in the raw predicted x_0.
    pub x0_from_model: f32,
    /// 1.0 to clamp x_0 to `[-clip_range, clip_range]`, else 0.0.
    pub clip: f32,
    /// The clamp bound (`clip_sample_range`); meaningful only when `clip != 0`.
    pub clip_range: f32,
    /// Weight of `sample` in the predicted noise (computed from the unclipped x_0, as diffusers).
    pub eps_from_sample: f32,
    /// Weight of `model_output` in the predicted noise.
    pub eps_from_model: f32,
    /// Weight of the (clipped) predicted x_0 in x_{t-1}.
    pub prev_from_x0: f32,
    /// Weight of `sample` (x_t) in x_{t-1}.
    pub prev_from_sample: f32,
    /// Weight of the predicted noise in x_{t-1}.
    pub prev_from_eps: f32,
    /// Weight of fresh standard Gaussian noise in x_{t-1} (the step's standard deviation).
    pub prev_from_noise: f32,
    /// The timestep t this step runs the model at, as f32 (informational; exact up to 2^24).
    pub timestep: f32,
    /// Weight of the previous step's predicted x_0 (the x_0 buffer before this step writes
    /// it) in x_{t-1}: DPM-Solver++(2M)'s second-order term; 0 for every other sampler.
    pub prev_from_prev_x0: f32,
}

impl StepCoeffs {
    /// Whether this step adds fresh noise (`prev_from_noise != 0`). When false, the noise buffer
    /// need not be generated and [`StepCoeffs::apply`] accepts an empty `noise` slice.
    pub fn needs_noise(&self) -> bool {
        self.prev_from_noise != 0.0
    }

    /// CPU reference of the GPU update kernel: writes x_{t-1} to `prev_out` and the (clipped)
    /// predicted x_0 to `x0_out`, element by element, with f32 arithmetic in the kernel's order
    /// (see the module docs). `x0_out` comes in holding the previous step's x_0, which
    /// `prev_from_prev_x0` weighs (read before it is overwritten).
    ///
    /// `noise` may be empty when [`StepCoeffs::needs_noise`] is false (it then counts as zeros).
    ///
    /// # Panics
    /// If the slices' lengths differ (other than an allowed empty `noise`), or if `noise` is
    /// empty while the step needs noise.
    pub fn apply(
        &self,
        sample: &[f32],
        model_output: &[f32],
        noise: &[f32],
        prev_out: &mut [f32],
        x0_out: &mut [f32],
    ) {
        let n = sample.len();
        assert_eq!(
            model_output.len(),
            n,
            "model_output length != sample length"
        );
        assert_eq!(prev_out.len(), n, "prev_out length != sample length");
        assert_eq!(x0_out.len(), n, "x0_out length != sample length");
        assert!(
            noise.len() == n || (noise.is_empty() && !self.needs_noise()),
            "noise has {} values for {} samples (it may be empty only when the step needs no noise)",
            noise.len(),
            n
        );
        let r = self.clip_range;
        for i in 0..n {
            let s = sample[i];
            let m = model_output[i];
            let z = if noise.is_empty() { 0.0 } else { noise[i] };
            let x0_raw = self.x0_from_sample * s + self.x0_from_model * m;
            let eps = self.eps_from_sample * s + self.eps_from_model * m;
            // max-then-min is WGSL's definition of clamp(); f32::clamp would also panic on a
            // bad range instead of behaving like the shader.
            let x0 = if self.clip != 0.0 {
                x0_raw.max(-r).min(r)
            } else {
                x0_raw
            };
            let x0_before = x0_out[i];
            prev_out[i] = self.prev_from_x0 * x0
                + self.prev_from_sample * s
                + self.prev_from_eps * eps
                + self.prev_from_noise * z
                + self.prev_from_prev_x0 * x0_before;
            x0_out[i] = x0;
        }
    }
}

/// One step's update split into the pictures the step anatomy draws, element by element:
/// `prev` is [`StepCoeffs::apply`]'s x_{t-1}, and `x0_term + mid_term + noise_term` equals it
/// bit for bit for every DDPM and DDIM step (one of `prev_from_sample`, `prev_from_eps` is 0).
#[derive(Clone, Debug, PartialEq)]
pub struct StepParts {
    /// The predicted noise eps_hat (from the unclipped prediction, as the kernel's).
    pub eps: Vec<f32>,
    /// The (clipped) predicted x_0, as the kernel writes it.
    pub x0: Vec<f32>,
    /// `prev_from_x0 * x0`: DDPM's a * x0_hat, DDIM's sqrt(alpha-bar_prev) * x0_hat.
    pub x0_term: Vec<f32>,
    /// `prev_from_sample * x_t + prev_from_eps * eps`: DDPM's b * x_t, DDIM's
    /// sqrt(1 - alpha-bar_prev - sigma_t^2) * eps_hat.
    pub mid_term: Vec<f32>,
    /// `prev_from_noise * noise`: sigma_t * z (zeros when the step adds no noise).
    pub noise_term: Vec<f32>,
    /// x_{t-1}, the sum of the three terms.
    pub prev: Vec<f32>,
}

impl StepCoeffs {
    /// The step on `sample` (x_t), `model_output` and `noise` (empty when the step needs none,
    /// as for [`StepCoeffs::apply`]), split into its terms; `eps_from_sample` and
    /// `eps_from_model` give the eps_hat to show (the kernel's own eps weights are zero for
    /// DDPM, whose update does not use it).
    ///
    /// # Panics
    /// As [`StepCoeffs::apply`], on slices of different lengths.
    pub fn parts(
        &self,
        sample: &[f32],
        model_output: &[f32],
        noise: &[f32],
        eps_from_sample: f32,
        eps_from_model: f32,
    ) -> StepParts {
        let n = sample.len();
        let mut prev = vec![0.0; n];
        let mut x0 = vec![0.0; n];
        // apply() checks the lengths and is the reference the terms must sum to.
        self.apply(sample, model_output, noise, &mut prev, &mut x0);
        let mut parts = StepParts {
            eps: vec![0.0; n],
            x0,
            x0_term: vec![0.0; n],
            mid_term: vec![0.0; n],
            noise_term: vec![0.0; n],
            prev,
        };
        for i in 0..n {
            let (s, m) = (sample[i], model_output[i]);
            let z = if noise.is_empty() { 0.0 } else { noise[i] };
            let kernel_eps = self.eps_from_sample * s + self.eps_from_model * m;
            parts.eps[i] = eps_from_sample * s + eps_from_model * m;
            parts.x0_term[i] = self.prev_from_x0 * parts.x0[i];
            parts.mid_term[i] = self.prev_from_sample * s + self.prev_from_eps * kernel_eps;
            parts.noise_term[i] = self.prev_from_noise * z;
        }
        parts
    }
}
