//! [`SchedulerConfig`]: the subset of a diffusers `scheduler_config.json` that DDPM and DDIM
//! sampling depend on.
//!
//! Both `DDPMScheduler`'s and `DDIMScheduler`'s saved configs are accepted. Keys this crate does
//! not use (`_class_name`, `_diffusers_version`, `dynamic_thresholding_ratio`, ...) are ignored;
//! missing keys (or `null`) take diffusers' defaults. Values that would change the numbers in a
//! way this crate does not implement (`beta_schedule: "sigmoid"`, `variance_type: "learned"`,
//! `thresholding: true`, `rescale_betas_zero_snr: true`, ...) are refused rather than ignored,
//! so a config is never silently sampled with the wrong maths.

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use super::error::SchedulerError;

/// How the betas (per-timestep noise variances) are laid out over the training timesteps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BetaSchedule {
    /// `"linear"`: `torch.linspace(beta_start, beta_end, T)` in float32.
    Linear,
    /// `"scaled_linear"`: `torch.linspace(sqrt(beta_start), sqrt(beta_end), T) ** 2` in float32.
    ScaledLinear,
    /// `"squaredcos_cap_v2"`: the cosine schedule of Nichol & Dhariwal, betas capped at 0.999.
    SquaredCosCapV2,
}

impl BetaSchedule {
    /// The spelling diffusers uses in `scheduler_config.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            BetaSchedule::Linear => "linear",
            BetaSchedule::ScaledLinear => "scaled_linear",
            BetaSchedule::SquaredCosCapV2 => "squaredcos_cap_v2",
        }
    }
}

/// The DDPM posterior variance choice (`variance_type` in the config).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DdpmVariance {
    /// `"fixed_small"`: the true posterior variance
    /// `beta~_t = (1 - abar_prev) / (1 - abar_t) * beta_t` (diffusers' default).
    #[default]
    FixedSmall,
    /// `"fixed_large"`: `beta_t` itself (the upper bound from the DDPM paper).
    FixedLarge,
}

impl DdpmVariance {
    /// The variance the config asks for (`variance_type`), which is what diffusers'
    /// `DDPMScheduler` would use for this model.
    pub fn from_config(config: &SchedulerConfig) -> Self {
        config.variance_type
    }

    /// The spelling diffusers uses in `scheduler_config.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            DdpmVariance::FixedSmall => "fixed_small",
            DdpmVariance::FixedLarge => "fixed_large",
        }
    }
}

/// What the UNet was trained to predict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PredictionType {
    /// `"epsilon"`: the noise that was added.
    #[default]
    Epsilon,
    /// `"sample"`: the clean image x_0 directly.
    Sample,
    /// `"v_prediction"`: `v = sqrt(abar) * eps - sqrt(1 - abar) * x_0` (Salimans & Ho).
    VPrediction,
}

impl PredictionType {
    /// The spelling diffusers uses in `scheduler_config.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            PredictionType::Epsilon => "epsilon",
            PredictionType::Sample => "sample",
            PredictionType::VPrediction => "v_prediction",
        }
    }
}

/// How `set_timesteps` picks the inference timesteps (Table 2 of "Common Diffusion Noise
/// Schedules and Sample Steps are Flawed").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TimestepSpacing {
    /// `"leading"`: `arange(N) * (T // N) + steps_offset`, descending (diffusers' default).
    #[default]
    Leading,
    /// `"trailing"`: `round(arange(T, 0, -T / N)) - 1`.
    Trailing,
    /// `"linspace"`: `round(linspace(0, T - 1, N))`, descending.
    Linspace,
}

impl TimestepSpacing {
    /// The spelling diffusers uses in `scheduler_config.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            TimestepSpacing::Leading => "leading",
            TimestepSpacing::Trailing => "trailing",
            TimestepSpacing::Linspace => "linspace",
        }
    }
}

/// The scheduler settings of a diffusers checkpoint, with diffusers' defaults for missing keys.
///
/// Build it with [`SchedulerConfig::from_json_str`] (or serde), or start from
/// [`SchedulerConfig::default`] and change fields; [`Schedule::new`](super::Schedule::new) calls
/// [`SchedulerConfig::validate`] either way.
#[derive(Clone, Debug, PartialEq)]
pub struct SchedulerConfig {
    /// Number of diffusion steps the model was trained with (`T`).
    pub num_train_timesteps: usize,
    /// First beta of the `linear` / `scaled_linear` schedules (a Python float in diffusers).
    pub beta_start: f64,
    /// Last beta of the `linear` / `scaled_linear` schedules.
    pub beta_end: f64,
    /// How betas are laid out; ignored when `trained_betas` is given.
    pub beta_schedule: BetaSchedule,
    /// Explicit betas (converted to float32 as diffusers does); overrides `beta_schedule`.
    pub trained_betas: Option<Vec<f64>>,
    /// DDPM's variance choice (DDIM configs do not have the key; the default then applies).
    pub variance_type: DdpmVariance,
    /// Whether the predicted x_0 is clamped to `[-clip_sample_range, clip_sample_range]`.
    pub clip_sample: bool,
    /// The clamp bound for `clip_sample`.
    pub clip_sample_range: f64,
    /// What the model predicts.
    pub prediction_type: PredictionType,
    /// How inference timesteps are spaced.
    pub timestep_spacing: TimestepSpacing,
    /// Whether the config named `timestep_spacing` (absent or null: false). DPM-Solver++'s
    /// default spacing is `"linspace"`, not DDPM's and DDIM's `"leading"`, so it needs to know.
    pub timestep_spacing_given: bool,
    /// Added to `leading` timesteps (Stable Diffusion uses 1).
    pub steps_offset: u32,
    /// DDIM only: whether the "previous" alpha-bar of the final step is 1 (else `alphas_cumprod[0]`).
    pub set_alpha_to_one: bool,
    /// Dynamic thresholding; only `false` is supported ([`SchedulerConfig::validate`] refuses `true`).
    pub thresholding: bool,
}

impl Default for SchedulerConfig {
    /// `DDPMScheduler()`'s defaults, plus `DDIMScheduler`'s default `set_alpha_to_one = true`.
    fn default() -> Self {
        SchedulerConfig {
            num_train_timesteps: 1000,
            beta_start: 0.0001,
            beta_end: 0.02,
            beta_schedule: BetaSchedule::Linear,
            trained_betas: None,
            variance_type: DdpmVariance::FixedSmall,
            clip_sample: true,
            clip_sample_range: 1.0,
            prediction_type: PredictionType::Epsilon,
            timestep_spacing: TimestepSpacing::Leading,
            timestep_spacing_given: false,
            steps_offset: 0,
            set_alpha_to_one: true,
            thresholding: false,
        }
    }
}

/// Accepted spellings, used both for parsing and in error messages.
const BETA_SCHEDULES: &str = "\"linear\", \"scaled_linear\", \"squaredcos_cap_v2\"";
const VARIANCE_TYPES: &str = "\"fixed_small\", \"fixed_large\"";
const PREDICTION_TYPES: &str = "\"epsilon\", \"sample\", \"v_prediction\"";
const SPACINGS: &str = "\"leading\", \"trailing\", \"linspace\"";

impl SchedulerConfig {
    /// Parses a diffusers `scheduler_config.json` (DDPMScheduler's or DDIMScheduler's) and
    /// validates it.
    pub fn from_json_str(json: &str) -> Result<Self, SchedulerError> {
        let value: Value =
            serde_json::from_str(json).map_err(|e| SchedulerError::Json(e.to_string()))?;
        Self::from_json_value(&value)
    }

    /// Like [`SchedulerConfig::from_json_str`], from an already parsed JSON value.
    pub fn from_json_value(value: &Value) -> Result<Self, SchedulerError> {
        let map = value.as_object().ok_or_else(|| {
            SchedulerError::Json(format!(
                "expected a JSON object, found {}",
                json_kind(value)
            ))
        })?;
        let d = SchedulerConfig::default();

        // diffusers features that change the maths and are not implemented here: refuse them
        // instead of silently ignoring them. (`false` / absent is fine.)
        if get_bool(map, "rescale_betas_zero_snr", false)? {
            return Err(SchedulerError::UnsupportedValue {
                field: "rescale_betas_zero_snr",
                found: "true".into(),
                accepted: "false",
                hint: "Zero-terminal-SNR rescaling is not implemented; use a model trained without it.",
            });
        }

        let beta_schedule = match get_str(map, "beta_schedule")? {
            None => d.beta_schedule,
            Some("linear") => BetaSchedule::Linear,
            Some("scaled_linear") => BetaSchedule::ScaledLinear,
            Some("squaredcos_cap_v2") => BetaSchedule::SquaredCosCapV2,
            Some(other) => {
                return Err(SchedulerError::UnsupportedValue {
                    field: "beta_schedule",
                    found: other.into(),
                    accepted: BETA_SCHEDULES,
                    hint: "DDPMScheduler's extra \"sigmoid\" / \"laplace\" are not implemented; \
                           the model must be sampled with the schedule it was trained with.",
                })
            }
        };
        let variance_type = match get_str(map, "variance_type")? {
            None => d.variance_type,
            Some("fixed_small") => DdpmVariance::FixedSmall,
            Some("fixed_large") => DdpmVariance::FixedLarge,
            Some(other) => {
                return Err(SchedulerError::UnsupportedValue {
                    field: "variance_type",
                    found: other.into(),
                    accepted: VARIANCE_TYPES,
                    hint: "Learned variances need a UNet that outputs twice the channels; \
                           set \"variance_type\" to \"fixed_small\" (diffusers' default) or \"fixed_large\".",
                })
            }
        };
        let prediction_type = match get_str(map, "prediction_type")? {
            None => d.prediction_type,
            Some("epsilon") => PredictionType::Epsilon,
            Some("sample") => PredictionType::Sample,
            Some("v_prediction") => PredictionType::VPrediction,
            Some(other) => {
                return Err(SchedulerError::UnsupportedValue {
                    field: "prediction_type",
                    found: other.into(),
                    accepted: PREDICTION_TYPES,
                    hint: "Set it to what the UNet was trained to predict (diffusers' default is \"epsilon\").",
                })
            }
        };
        let timestep_spacing = match get_str(map, "timestep_spacing")? {
            None => d.timestep_spacing,
            Some("leading") => TimestepSpacing::Leading,
            Some("trailing") => TimestepSpacing::Trailing,
            Some("linspace") => TimestepSpacing::Linspace,
            Some(other) => {
                return Err(SchedulerError::UnsupportedValue {
                    field: "timestep_spacing",
                    found: other.into(),
                    accepted: SPACINGS,
                    hint: "diffusers' default is \"leading\".",
                })
            }
        };

        let trained_betas = match map.get("trained_betas") {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .map(|v| {
                        v.as_f64()
                            .ok_or_else(|| wrong_type("trained_betas", v, "a list of numbers"))
                    })
                    .collect::<Result<Vec<f64>, _>>()?,
            ),
            Some(v) => return Err(wrong_type("trained_betas", v, "a list of numbers or null")),
        };

        let num_train_timesteps =
            get_u64(map, "num_train_timesteps", d.num_train_timesteps as u64)?;
        let steps_offset = get_u64(map, "steps_offset", u64::from(d.steps_offset))?;
        let config = SchedulerConfig {
            num_train_timesteps: usize::try_from(num_train_timesteps).unwrap_or(usize::MAX),
            beta_start: get_f64(map, "beta_start", d.beta_start)?,
            beta_end: get_f64(map, "beta_end", d.beta_end)?,
            beta_schedule,
            trained_betas,
            variance_type,
            clip_sample: get_bool(map, "clip_sample", d.clip_sample)?,
            clip_sample_range: get_f64(map, "clip_sample_range", d.clip_sample_range)?,
            prediction_type,
            timestep_spacing,
            timestep_spacing_given: present(map, "timestep_spacing").is_some(),
            steps_offset: u32::try_from(steps_offset).map_err(|_| {
                SchedulerError::InvalidNumber {
                    field: "steps_offset",
                    found: steps_offset.to_string(),
                    requirement: "a small non-negative integer",
                    hint: "diffusers configs use 0 or 1.",
                }
            })?,
            set_alpha_to_one: get_bool(map, "set_alpha_to_one", d.set_alpha_to_one)?,
            thresholding: get_bool(map, "thresholding", d.thresholding)?,
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks the values this crate cannot sample with. Called by
    /// [`SchedulerConfig::from_json_str`] and [`Schedule::new`](super::Schedule::new).
    pub fn validate(&self) -> Result<(), SchedulerError> {
        if self.thresholding {
            return Err(SchedulerError::ThresholdingUnsupported);
        }
        // Timesteps go to the GPU as u32 / f32; 2^24 keeps every timestep exact in f32.
        if self.num_train_timesteps == 0 || self.num_train_timesteps > 1 << 24 {
            return Err(SchedulerError::InvalidNumber {
                field: "num_train_timesteps",
                found: self.num_train_timesteps.to_string(),
                requirement: "an integer in 1..=16777216",
                hint: "Use the value the model was trained with (usually 1000).",
            });
        }
        // beta_start / beta_end only matter for the linear schedules.
        if self.trained_betas.is_none() && self.beta_schedule != BetaSchedule::SquaredCosCapV2 {
            for (field, v) in [("beta_start", self.beta_start), ("beta_end", self.beta_end)] {
                if !(v.is_finite() && (0.0..1.0).contains(&v)) {
                    return Err(SchedulerError::InvalidNumber {
                        field,
                        found: v.to_string(),
                        requirement: "a finite number in [0, 1)",
                        hint: "diffusers' defaults are beta_start = 0.0001, beta_end = 0.02.",
                    });
                }
            }
        }
        if let Some(betas) = &self.trained_betas {
            // diffusers would take len(trained_betas) as the schedule length but keep using
            // num_train_timesteps for the timesteps, indexing past the end if they differ.
            if betas.len() != self.num_train_timesteps {
                return Err(SchedulerError::InvalidNumber {
                    field: "trained_betas",
                    found: format!("a list of {} values", betas.len()),
                    requirement: "a list of exactly num_train_timesteps values",
                    hint: "Make num_train_timesteps equal to the length of trained_betas.",
                });
            }
        }
        if self.clip_sample && !(self.clip_sample_range.is_finite() && self.clip_sample_range > 0.0)
        {
            return Err(SchedulerError::InvalidNumber {
                field: "clip_sample_range",
                found: self.clip_sample_range.to_string(),
                requirement: "a finite number > 0 when clip_sample is true",
                hint: "diffusers' default is 1.0; set \"clip_sample\": false to disable clipping.",
            });
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for SchedulerConfig {
    /// Same rules as [`SchedulerConfig::from_json_value`]; errors become serde custom errors.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        SchedulerConfig::from_json_value(&value).map_err(serde::de::Error::custom)
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn wrong_type(field: &'static str, found: &Value, expected: &'static str) -> SchedulerError {
    let mut shown = found.to_string();
    if shown.len() > 60 {
        shown.truncate(57);
        shown.push_str("...");
    }
    SchedulerError::Json(format!(
        "field `{field}` is {} ({shown}), expected {expected}",
        json_kind(found)
    ))
}

/// A key that is absent or `null` counts as missing (diffusers writes `null` for unset options).
fn present<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).filter(|v| !v.is_null())
}

fn get_str<'a>(
    map: &'a Map<String, Value>,
    key: &'static str,
) -> Result<Option<&'a str>, SchedulerError> {
    match present(map, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(v) => Err(wrong_type(key, v, "a string")),
    }
}

fn get_bool(
    map: &Map<String, Value>,
    key: &'static str,
    default: bool,
) -> Result<bool, SchedulerError> {
    match present(map, key) {
        None => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(v) => Err(wrong_type(key, v, "true or false")),
    }
}

fn get_f64(
    map: &Map<String, Value>,
    key: &'static str,
    default: f64,
) -> Result<f64, SchedulerError> {
    match present(map, key) {
        None => Ok(default),
        Some(v) => v.as_f64().ok_or_else(|| wrong_type(key, v, "a number")),
    }
}

fn get_u64(
    map: &Map<String, Value>,
    key: &'static str,
    default: u64,
) -> Result<u64, SchedulerError> {
    match present(map, key) {
        None => Ok(default),
        Some(v) => v
            .as_u64()
            .ok_or_else(|| wrong_type(key, v, "a non-negative integer")),
    }
}
