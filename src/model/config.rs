//! `config.json` of a diffusers `UNet2DModel`: parsed with diffusers' defaults, then checked
//! against what this engine supports, with errors that name the field.

use super::limits::{
    MAX_CHANNELS, MAX_IO_CHANNELS, MAX_LAYERS_PER_BLOCK, MAX_LEVELS, MAX_SAMPLE_SIDE,
    MAX_TIME_EMBED_DIM,
};
use super::ModelError;
use serde::Deserialize;

/// A `UNet2DModel` configuration (diffusers' argument names and defaults).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default)]
pub struct UNetConfig {
    #[serde(rename = "_class_name")]
    pub class_name: Option<String>,
    pub sample_size: Option<SampleSize>,
    pub in_channels: usize,
    pub out_channels: usize,
    pub center_input_sample: bool,
    pub time_embedding_type: String,
    pub time_embedding_dim: Option<usize>,
    pub freq_shift: f64,
    pub flip_sin_to_cos: bool,
    pub down_block_types: Vec<String>,
    pub mid_block_type: Option<String>,
    pub up_block_types: Vec<String>,
    pub block_out_channels: Vec<usize>,
    pub layers_per_block: usize,
    pub mid_block_scale_factor: f64,
    pub downsample_padding: usize,
    pub downsample_type: String,
    pub upsample_type: String,
    pub dropout: f64,
    pub act_fn: String,
    pub attention_head_dim: Option<usize>,
    pub norm_num_groups: usize,
    pub attn_norm_num_groups: Option<usize>,
    pub norm_eps: f64,
    pub resnet_time_scale_shift: String,
    pub add_attention: bool,
    pub class_embed_type: Option<String>,
    pub num_class_embeds: Option<usize>,
}

/// `sample_size` is an int or `[height, width]`.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum SampleSize {
    Square(usize),
    Rect([usize; 2]),
}

impl SampleSize {
    pub fn height_width(self) -> (usize, usize) {
        match self {
            SampleSize::Square(s) => (s, s),
            SampleSize::Rect([h, w]) => (h, w),
        }
    }
}

impl Default for UNetConfig {
    /// diffusers' `UNet2DModel.__init__` defaults.
    fn default() -> Self {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        UNetConfig {
            class_name: None,
            sample_size: None,
            in_channels: 3,
            out_channels: 3,
            center_input_sample: false,
            time_embedding_type: "positional".into(),
            time_embedding_dim: None,
            freq_shift: 0.0,
            flip_sin_to_cos: true,
            down_block_types: s(&[
                "DownBlock2D",
                "AttnDownBlock2D",
                "AttnDownBlock2D",
                "AttnDownBlock2D",
            ]),
            mid_block_type: Some("UNetMidBlock2D".into()),
            up_block_types: s(&[
                "AttnUpBlock2D",
                "AttnUpBlock2D",
                "AttnUpBlock2D",
                "UpBlock2D",
            ]),
            block_out_channels: vec![224, 448, 672, 896],
            layers_per_block: 2,
            mid_block_scale_factor: 1.0,
            downsample_padding: 1,
            downsample_type: "conv".into(),
            upsample_type: "conv".into(),
            dropout: 0.0,
            act_fn: "silu".into(),
            attention_head_dim: Some(8),
            norm_num_groups: 32,
            attn_norm_num_groups: None,
            norm_eps: 1e-5,
            resnet_time_scale_shift: "default".into(),
            add_attention: true,
            class_embed_type: None,
            num_class_embeds: None,
        }
    }
}

fn unsupported(field: &str, found: impl std::fmt::Display, supported: &str) -> ModelError {
    ModelError::Unsupported {
        field: field.to_string(),
        found: found.to_string(),
        supported: supported.to_string(),
    }
}

/// On wasm32 `usize` is 32 bits, so a size such as `block_out_channels: [2^62]` fails to parse
/// before [`UNetConfig::validate`] could name it: finds the first whole number of `config.json`
/// (or of one of its lists) past `usize` and refuses it as `validate` would natively.
fn past_usize(text: &str) -> Option<ModelError> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    let too_big = |v: &serde_json::Value| {
        v.as_u64()
            .filter(|&n| usize::try_from(n).is_err())
            .map(|n| n.to_string())
    };
    for (key, v) in value.as_object()? {
        let max = match key.as_str() {
            "block_out_channels" => MAX_CHANNELS,
            "sample_size" => MAX_SAMPLE_SIDE,
            "in_channels" | "out_channels" => MAX_IO_CHANNELS,
            "layers_per_block" => MAX_LAYERS_PER_BLOCK,
            "time_embedding_dim" => MAX_TIME_EMBED_DIM,
            _ => u32::MAX as usize,
        };
        let found = match v {
            serde_json::Value::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, item)| too_big(item).map(|n| (format!("{key}[{i}]"), n))),
            _ => too_big(v).map(|n| (key.clone(), n)),
        };
        if let Some((field, n)) = found {
            return Some(unsupported(&field, n, &format!("1 to {max}")));
        }
    }
    None
}

/// Kind of a down or up block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockKind {
    pub attention: bool,
}

impl UNetConfig {
    /// Parses `config.json`; then [`UNetConfig::validate`].
    pub fn from_json_str(text: &str) -> Result<Self, ModelError> {
        let config: UNetConfig = serde_json::from_str(text).map_err(|e| {
            past_usize(text).unwrap_or_else(|| ModelError::Config {
                file: "config.json".into(),
                reason: e.to_string(),
            })
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Refuses what the engine does not implement, naming the field and what is supported.
    pub fn validate(&self) -> Result<(), ModelError> {
        if let Some(name) = &self.class_name {
            if name != "UNet2DModel" {
                return Err(unsupported("_class_name", name, "UNet2DModel"));
            }
        }
        if self.time_embedding_type != "positional" {
            return Err(unsupported(
                "time_embedding_type",
                &self.time_embedding_type,
                "positional",
            ));
        }
        if !matches!(self.act_fn.as_str(), "silu" | "swish") {
            return Err(unsupported("act_fn", &self.act_fn, "silu"));
        }
        if self.resnet_time_scale_shift != "default" {
            return Err(unsupported(
                "resnet_time_scale_shift",
                &self.resnet_time_scale_shift,
                "default",
            ));
        }
        if self.downsample_type != "conv" {
            return Err(unsupported(
                "downsample_type",
                &self.downsample_type,
                "conv",
            ));
        }
        if self.upsample_type != "conv" {
            return Err(unsupported("upsample_type", &self.upsample_type, "conv"));
        }
        if let Some(kind) = &self.class_embed_type {
            return Err(unsupported(
                "class_embed_type",
                kind,
                "null (no class conditioning)",
            ));
        }
        if let Some(n) = self.num_class_embeds {
            return Err(unsupported(
                "num_class_embeds",
                n,
                "null (no class conditioning)",
            ));
        }
        if let Some(kind) = &self.mid_block_type {
            if kind != "UNetMidBlock2D" {
                return Err(unsupported(
                    "mid_block_type",
                    kind,
                    "UNetMidBlock2D or null",
                ));
            }
        }
        if self.downsample_padding > 1 {
            return Err(unsupported(
                "downsample_padding",
                self.downsample_padding,
                "0 or 1",
            ));
        }
        self.validate_sizes()?;
        // The kernels compute in f32: eps and 1 / scale must survive the conversion.
        let eps = self.norm_eps as f32;
        if !(eps > 0.0 && eps.is_finite()) {
            return Err(unsupported(
                "norm_eps",
                self.norm_eps,
                "a positive number that float32 can hold (e.g. 1e-5 or 1e-6)",
            ));
        }
        let inv_scale = (1.0 / self.mid_block_scale_factor) as f32;
        if !(self.mid_block_scale_factor > 0.0 && inv_scale.is_finite() && inv_scale > 0.0) {
            return Err(unsupported(
                "mid_block_scale_factor",
                self.mid_block_scale_factor,
                "a positive number whose inverse float32 can hold (diffusers uses 1 or sqrt(2))",
            ));
        }
        let half = (self.block_out_channels[0] / 2) as f64;
        if !(self.freq_shift.is_finite() && self.freq_shift.abs() <= 1e3 && half > self.freq_shift)
        {
            return Err(unsupported(
                "freq_shift",
                self.freq_shift,
                "a number below half of block_out_channels[0] (diffusers uses 0 or 1)",
            ));
        }
        let levels = self.block_out_channels.len();
        if self.down_block_types.len() != levels || self.up_block_types.len() != levels {
            return Err(ModelError::Config {
                file: "config.json".into(),
                reason: format!(
                    "block_out_channels has {levels} entries but down_block_types has {} and \
                     up_block_types {}: they must have the same length",
                    self.down_block_types.len(),
                    self.up_block_types.len()
                ),
            });
        }
        for (i, t) in self.down_block_types.iter().enumerate() {
            self.down_kind(t).map_err(|_| {
                unsupported(
                    &format!("down_block_types[{i}]"),
                    t,
                    "DownBlock2D, AttnDownBlock2D",
                )
            })?;
        }
        for (i, t) in self.up_block_types.iter().enumerate() {
            self.up_kind(t).map_err(|_| {
                unsupported(
                    &format!("up_block_types[{i}]"),
                    t,
                    "UpBlock2D, AttnUpBlock2D",
                )
            })?;
        }
        let groups = self.norm_num_groups;
        for (i, &c) in self.block_out_channels.iter().enumerate() {
            if groups == 0 || !c.is_multiple_of(groups) {
                return Err(unsupported(
                    &format!("block_out_channels[{i}]"),
                    format!("{c} with norm_num_groups {groups}"),
                    "channel counts divisible by norm_num_groups",
                ));
            }
        }
        if let Some(g) = self.attn_norm_num_groups {
            let c = self.block_out_channels[levels - 1];
            if g == 0 || !c.is_multiple_of(g) {
                return Err(unsupported(
                    "attn_norm_num_groups",
                    g,
                    "a divisor of the last block's channels",
                ));
            }
        }
        Ok(())
    }

    /// Bounds every size the graph is computed from ([`super::limits`]), before anything is
    /// allocated, so that no size computed later can overflow.
    fn validate_sizes(&self) -> Result<(), ModelError> {
        let bounded = |field: &str, value: usize, max: usize| {
            if value == 0 || value > max {
                Err(unsupported(field, value, &format!("1 to {max}")))
            } else {
                Ok(())
            }
        };
        bounded("in_channels", self.in_channels, MAX_IO_CHANNELS)?;
        bounded("out_channels", self.out_channels, MAX_IO_CHANNELS)?;
        bounded(
            "layers_per_block",
            self.layers_per_block,
            MAX_LAYERS_PER_BLOCK,
        )?;
        let levels = self.block_out_channels.len();
        if levels == 0 || levels > MAX_LEVELS {
            return Err(unsupported(
                "block_out_channels",
                format!("a list of {levels} levels"),
                &format!("1 to {MAX_LEVELS} levels (one channel count per resolution)"),
            ));
        }
        for (i, &c) in self.block_out_channels.iter().enumerate() {
            bounded(&format!("block_out_channels[{i}]"), c, MAX_CHANNELS)?;
        }
        if let Some(d) = self.time_embedding_dim {
            bounded("time_embedding_dim", d, MAX_TIME_EMBED_DIM)?;
        }
        if let Some(size) = self.sample_size {
            let (h, w) = size.height_width();
            bounded("sample_size (height)", h, MAX_SAMPLE_SIDE)?;
            bounded("sample_size (width)", w, MAX_SAMPLE_SIDE)?;
        }
        if self.norm_num_groups == 0 {
            return Err(unsupported(
                "norm_num_groups",
                0,
                "a positive divisor of every block_out_channels entry (diffusers uses 32)",
            ));
        }
        if self.attention_head_dim == Some(0) {
            return Err(unsupported(
                "attention_head_dim",
                0,
                "a positive divisor of the attention blocks' channels, or null for one head",
            ));
        }
        Ok(())
    }

    fn down_kind(&self, t: &str) -> Result<BlockKind, ()> {
        match t {
            "DownBlock2D" => Ok(BlockKind { attention: false }),
            "AttnDownBlock2D" => Ok(BlockKind { attention: true }),
            _ => Err(()),
        }
    }

    fn up_kind(&self, t: &str) -> Result<BlockKind, ()> {
        match t {
            "UpBlock2D" => Ok(BlockKind { attention: false }),
            "AttnUpBlock2D" => Ok(BlockKind { attention: true }),
            _ => Err(()),
        }
    }

    /// Down block `i`'s kind (call after `validate`).
    pub fn down_block(&self, i: usize) -> BlockKind {
        self.down_kind(&self.down_block_types[i])
            .unwrap_or(BlockKind { attention: false })
    }

    /// Up block `i`'s kind (call after `validate`).
    pub fn up_block(&self, i: usize) -> BlockKind {
        self.up_kind(&self.up_block_types[i])
            .unwrap_or(BlockKind { attention: false })
    }

    /// Width of the time embedding (the MLP's output).
    pub fn time_embed_dim(&self) -> usize {
        self.time_embedding_dim
            .unwrap_or(self.block_out_channels[0] * 4)
    }

    /// Height and width of a sample (`sample_size`, or 32x32 when the config has none).
    pub fn sample_hw(&self) -> (usize, usize) {
        self.sample_size
            .map(SampleSize::height_width)
            .unwrap_or((32, 32))
    }

    /// How many times the feature map halves: the spatial size must be divisible by 2^this.
    pub fn downsamples(&self) -> usize {
        self.block_out_channels.len() - 1
    }

    /// Head dimension of an attention layer over `channels` channels (diffusers uses one head of
    /// all channels when `attention_head_dim` is null).
    pub fn head_dim(&self, channels: usize) -> usize {
        self.attention_head_dim.unwrap_or(channels)
    }
}
