//! The one error type of the scheduler module.
//!
//! Every message names what was wrong (the field or argument), the value found, what would be
//! accepted, and what to do about it, because these messages end up in front of someone who
//! loaded a checkpoint folder in the browser and cannot read a backtrace.

use thiserror::Error;

/// Everything that can go wrong when reading a scheduler config or planning a sampling run.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum SchedulerError {
    /// The text is not JSON, or a field has the wrong JSON type (e.g. a string where a number goes).
    #[error(
        "scheduler_config.json could not be read: {0}. \
         Pass the scheduler_config.json that diffusers saved next to the model (a JSON object)."
    )]
    Json(String),

    /// A string option has a value this crate does not implement.
    #[error(
        "scheduler config field `{field}` is {found:?}, which is not supported; \
         accepted values: {accepted}. {hint}"
    )]
    UnsupportedValue {
        /// The config key, as diffusers spells it.
        field: &'static str,
        /// The value found in the config.
        found: String,
        /// The values this crate accepts for the field.
        accepted: &'static str,
        /// What to do about it.
        hint: &'static str,
    },

    /// A numeric option is out of its valid range (or not finite).
    #[error("scheduler config field `{field}` is {found}, but it must be {requirement}. {hint}")]
    InvalidNumber {
        /// The config key, as diffusers spells it.
        field: &'static str,
        /// The value found, formatted.
        found: String,
        /// The condition the value must satisfy.
        requirement: &'static str,
        /// What to do about it.
        hint: &'static str,
    },

    /// `thresholding: true` (Imagen's dynamic thresholding) is not implemented.
    #[error(
        "scheduler config field `thresholding` is true, which is not supported; accepted values: false. \
         Dynamic thresholding needs a per-image quantile that the GPU step kernel does not compute; \
         set \"thresholding\": false (plain clipping via `clip_sample` still works)."
    )]
    ThresholdingUnsupported,

    /// One of the betas (computed, or given as `trained_betas`) is outside (0, 1).
    #[error(
        "beta[{index}] = {value} is outside the open interval (0, 1) ({source_desc}); \
         every beta must satisfy 0 < beta < 1 so that alphas_cumprod is strictly decreasing and positive. \
         Check beta_start / beta_end / trained_betas."
    )]
    InvalidBeta {
        /// Index of the offending beta (the training timestep).
        index: usize,
        /// Its value.
        value: f32,
        /// Where the betas came from (e.g. "beta_schedule \"linear\"").
        source_desc: String,
    },

    /// A float32 alpha-bar (`alphas_cumprod[t]`) is 0, 1 or not finite although every beta is in
    /// (0, 1): the betas are so small that `1 - beta` rounds to 1, or the product underflows.
    #[error(
        "alphas_cumprod[{index}] = {value:?} in float32, but every alpha-bar must lie strictly between \
         0 and 1 (the steps divide by sqrt(alpha-bar) and by 1 - alpha-bar, and would produce NaN images). {hint}"
    )]
    InvalidAlphaBar {
        /// The training timestep whose alpha-bar is out of range.
        index: usize,
        /// Its value.
        value: f32,
        /// What to change in the config.
        hint: &'static str,
    },

    /// A sampling step's coefficient is not finite (the schedule is too extreme at that step).
    #[error(
        "step {step} (timestep {timestep}) has a non-finite `{coefficient}` coefficient ({value}): \
         the schedule's alpha-bar there is too close to 0 or 1 for float32. Use a gentler schedule \
         (larger beta_start, smaller beta_end or fewer num_train_timesteps) or fewer steps."
    )]
    NonFiniteStep {
        /// Index of the step in the run.
        step: usize,
        /// The timestep the step runs the model at.
        timestep: u32,
        /// The coefficient's name (a field of `StepCoeffs`).
        coefficient: &'static str,
        /// Its value.
        value: f32,
    },

    /// The requested number of inference steps is 0 or more than the training timesteps.
    #[error(
        "num_inference_steps is {found}, but it must be between 1 and num_train_timesteps = {max} \
         (diffusers refuses more steps than the model was trained with). Choose a step count in 1..={max}."
    )]
    InvalidStepCount {
        /// The requested number of steps.
        found: usize,
        /// num_train_timesteps of the schedule.
        max: usize,
    },

    /// DDIM's eta is NaN or outside [0, 1].
    #[error(
        "DDIM eta is {found}, but it must be a number in [0, 1] \
         (0 = deterministic DDIM, 1 = DDPM-like noise). Choose eta in [0, 1]."
    )]
    InvalidEta {
        /// The eta given.
        found: f32,
    },

    /// A clipping choice the sampler does not have (see [`super::Clipping`]).
    #[error(
        "clipping \"{clipping}\" does not apply to {sampler}: DPM-Solver++ never clamps x_0 (use \
         \"checkpoint\" or \"off\"), and \"recompute\" (use_clipped_model_output) is DDIM's"
    )]
    ClippingNotFor {
        clipping: &'static str,
        sampler: &'static str,
    },

    /// diffusers' `set_timesteps` produced a timestep outside `0..num_train_timesteps` for this
    /// configuration; diffusers would index `alphas_cumprod` with it (Python's negative index, or an
    /// IndexError), so there is no meaningful step to reproduce.
    #[error(
        "with timestep_spacing {spacing:?}, steps_offset {steps_offset} and num_train_timesteps {num_train_timesteps}, \
         diffusers' set_timesteps({num_inference_steps}) yields timestep {timestep}, outside 0..{num_train_timesteps} \
         ({why}). diffusers itself would misbehave here; choose a different number of steps or spacing."
    )]
    TimestepOutOfRange {
        /// The offending timestep from diffusers' list.
        timestep: i64,
        /// The requested number of steps.
        num_inference_steps: usize,
        /// The config's timestep_spacing, as diffusers spells it.
        spacing: &'static str,
        /// The config's steps_offset.
        steps_offset: u32,
        /// The config's num_train_timesteps.
        num_train_timesteps: usize,
        /// Where the bad value comes from.
        why: &'static str,
    },

    /// DPM-Solver++'s timesteps repeat for this step count (more steps than the spacing can
    /// tell apart); diffusers would then look steps up by a repeated value and skip some.
    #[error(
        "DPM-Solver++ with {num_inference_steps} steps over num_train_timesteps {num_train_timesteps} \
         repeats timestep {timestep} (its spacing uses N + 1 points), which diffusers cannot step \
         through correctly. Choose fewer steps (at most num_train_timesteps - 1 is always safe with \
         \"linspace\" spacing; \"leading\" needs N + 1 <= num_train_timesteps)."
    )]
    RepeatedTimestep {
        /// The repeated timestep.
        timestep: i64,
        /// The requested number of steps.
        num_inference_steps: usize,
        /// The config's num_train_timesteps.
        num_train_timesteps: usize,
    },
}
