//! A diffusers `UNet2DModel` checkpoint: its config, its weights as f32 parameters, and the
//! forward pass as an executor-independent [`Graph`].
//!
//! Loading refuses, with an error naming the field or tensor, anything this engine does not
//! implement exactly: nothing is silently ignored or approximated.

mod builder;
mod config;
mod folder;
mod graph;
pub mod limits;
mod weights;

pub use config::{SampleSize, UNetConfig};
pub use folder::{Checkpoint, CheckpointFiles};
pub use graph::{Graph, MemoryPlan, Node, TensorId, TensorInfo};
pub use weights::{Tensor, Weights};

use crate::ops::ShapeError;
use std::collections::HashMap;

/// Errors of loading a model. Messages name the file, field or tensor and say what to do.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("scheduler_config.json: {source}")]
    Scheduler {
        #[source]
        source: crate::scheduler::SchedulerError,
    },
    #[error("{path} is missing: {hint}")]
    MissingFile { path: String, hint: String },
    #[error(
        "{path} is a pickled PyTorch checkpoint, which this engine never loads (unpickling runs \
         arbitrary code). Convert it to safetensors first, e.g. in Python: \
         `UNet2DModel.from_pretrained(dir).save_pretrained(dir, safe_serialization=True)`"
    )]
    Pickle { path: String },
    #[error("{file} is not valid: {reason}")]
    Config { file: String, reason: String },
    #[error("unsupported `{field}` = {found}: this engine supports {supported}")]
    Unsupported {
        field: String,
        found: String,
        supported: String,
    },
    #[error(
        "the safetensors file is damaged or truncated ({reason}); download or export it again"
    )]
    Safetensors { reason: String },
    #[error("tensor `{name}` (shape {expected:?}) is missing from the checkpoint: does config.json match the weights?")]
    MissingTensor { name: String, expected: Vec<usize> },
    #[error("tensor `{name}` has shape {found:?} but the config implies {expected:?}: does config.json match the weights?")]
    TensorShape {
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    #[error("tensor `{name}` is stored as {found}; only F32, F16 and BF16 weights are supported")]
    TensorDtype { name: String, found: String },
    #[error(
        "tensor `{name}` holds a non-finite value at index {index}: the checkpoint is corrupt"
    )]
    NonFinite { name: String, index: usize },
    #[error(
        "the checkpoint has {count} tensors the config does not use (e.g. {examples}): does \
         config.json match the weights?"
    )]
    UnusedTensors { count: usize, examples: String },
    #[error("sample size {height}x{width} must be divisible by {factor} (2 to the number of downsamplings)")]
    SampleSize {
        height: usize,
        width: usize,
        factor: usize,
    },
    #[error(
        "this model's parameters were released after their upload to the GPU, so it cannot run \
         on the CPU: load the checkpoint again with the CPU backend"
    )]
    ParametersReleased,
    #[error(
        "{what} needs {bytes} bytes, more than the {limit} bytes this platform can hold: use a \
         smaller batch or sample size"
    )]
    TooLarge {
        what: String,
        bytes: u64,
        limit: u64,
    },
    #[error("batch size {0} is not supported: use 1 to 1024 images")]
    Batch(usize),
    #[error("at `{at}`: {source}")]
    Shape {
        at: String,
        #[source]
        source: ShapeError,
    },
}

impl ModelError {
    pub(crate) fn at(at: &str, source: ShapeError) -> ModelError {
        ModelError::Shape {
            at: at.to_string(),
            source,
        }
    }
}

/// Index of a parameter in [`UNet::params`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ParamId(pub usize);

/// A weight or bias in torch's layout (fused q/k/v and time projections included).
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// A loaded, validated `UNet2DModel`.
#[derive(Clone, Debug)]
pub struct UNet {
    pub config: UNetConfig,
    pub params: Vec<Param>,
    /// Spatial size of a sample (from `sample_size`; the CLI's `forward` may override it).
    pub sample_hw: (usize, usize),
    index: HashMap<String, ParamId>,
}

impl UNet {
    /// Validates `config`, takes every tensor it needs from `weights` (checking shapes) and
    /// refuses checkpoints with tensors left over.
    pub fn load(config: UNetConfig, mut weights: Weights) -> Result<UNet, ModelError> {
        let unet = Self::build(config, Some(&mut weights), None)?;
        let left = weights.remaining();
        if !left.is_empty() {
            return Err(ModelError::UnusedTensors {
                count: left.len(),
                examples: left.iter().take(4).cloned().collect::<Vec<_>>().join(", "),
            });
        }
        Ok(unet)
    }

    /// A model of `config` with random weights (benchmarks, tests); `seed` fixes them.
    pub fn random(config: UNetConfig, seed: u64) -> Result<UNet, ModelError> {
        Self::build(config, None, Some(seed))
    }

    /// Builds the graph once at batch 1, which collects (and shape-checks) every parameter.
    fn build(
        config: UNetConfig,
        weights: Option<&mut Weights>,
        random: Option<u64>,
    ) -> Result<UNet, ModelError> {
        config.validate()?;
        let (h, w) = config.sample_hw();
        let mut unet = UNet {
            config,
            params: Vec::new(),
            sample_hw: (h, w),
            index: HashMap::new(),
        };
        unet.check_sample_hw(h, w)?;
        builder::Builder::new(&mut unet, weights, random, 1).build()?;
        Ok(unet)
    }

    /// The forward pass at `batch` samples of `sample_hw`.
    pub fn graph(&self, batch: usize) -> Result<Graph, ModelError> {
        if batch == 0 || batch > limits::MAX_BATCH {
            return Err(ModelError::Batch(batch));
        }
        let mut unet = self.clone_structure();
        let graph = builder::Builder::new(&mut unet, None, None, batch).build()?;
        Ok(graph)
    }

    /// A copy sharing nothing mutable, for building graphs without touching `self`. Parameter
    /// data is not needed by the builder once loaded, so it is left empty.
    fn clone_structure(&self) -> UNet {
        UNet {
            config: self.config.clone(),
            params: self
                .params
                .iter()
                .map(|p| Param {
                    name: p.name.clone(),
                    shape: p.shape.clone(),
                    data: Vec::new(),
                })
                .collect(),
            sample_hw: self.sample_hw,
            index: self.index.clone(),
        }
    }

    /// Drops the parameters' values, keeping their names and shapes (graphs still build): for an
    /// engine whose weights live on the GPU, where a host copy would only hold memory.
    /// [`UNet::has_parameters`] turns false; the CPU executors refuse such a model.
    pub fn release_parameters(&mut self) {
        for p in &mut self.params {
            p.data = Vec::new();
        }
    }

    /// Whether the parameters' values are here (false after [`UNet::release_parameters`]).
    pub fn has_parameters(&self) -> bool {
        self.params
            .iter()
            .all(|p| p.data.len() == p.shape.iter().product::<usize>())
    }

    /// Bytes of the parameters' values held in host memory (0 once released).
    pub fn parameter_bytes(&self) -> usize {
        self.params.iter().map(|p| p.data.len() * 4).sum()
    }

    /// Runs at another spatial size (must be divisible by 2^downsamplings).
    pub fn with_sample_hw(mut self, h: usize, w: usize) -> Result<UNet, ModelError> {
        self.check_sample_hw(h, w)?;
        self.sample_hw = (h, w);
        Ok(self)
    }

    fn check_sample_hw(&self, h: usize, w: usize) -> Result<(), ModelError> {
        let max = limits::MAX_SAMPLE_SIDE;
        if h > max || w > max {
            return Err(ModelError::Unsupported {
                field: "sample size".into(),
                found: format!("{h}x{w}"),
                supported: format!("heights and widths of 1 to {max}"),
            });
        }
        // validate() bounds the levels, so the shift cannot overflow.
        let factor = 1usize << self.config.downsamples().min(usize::BITS as usize - 1);
        if h == 0 || w == 0 || !h.is_multiple_of(factor) || !w.is_multiple_of(factor) {
            return Err(ModelError::SampleSize {
                height: h,
                width: w,
                factor,
            });
        }
        Ok(())
    }

    pub fn param_id(&self, name: &str) -> Option<ParamId> {
        self.index.get(name).copied()
    }

    fn add_param(&mut self, param: Param) -> ParamId {
        let id = ParamId(self.params.len());
        self.index.insert(param.name.clone(), id);
        self.params.push(param);
        id
    }

    /// Parameters of the checkpoint itself (not counting fused copies).
    pub fn parameter_count(&self) -> usize {
        self.params
            .iter()
            .filter(|p| !p.name.contains(".qkv.") && !p.name.starts_with("time_emb_proj.fused"))
            .map(|p| p.shape.iter().product::<usize>())
            .sum()
    }

    /// Shape of one sample, (C, H, W).
    pub fn sample_shape(&self) -> [usize; 3] {
        [self.config.in_channels, self.sample_hw.0, self.sample_hw.1]
    }

    /// The sinusoidal features of timestep `t` for every sample of a batch, as diffusers'
    /// `get_timestep_embedding` computes them in float32. Computed on the CPU because WGSL's
    /// `sin`/`cos` are only accurate near zero and the arguments here reach ~1000 rad.
    pub fn timestep_features(&self, t: f32, batch: usize) -> Vec<f32> {
        let dim = self.config.block_out_channels[0];
        let half = dim / 2;
        let shift = self.config.freq_shift as f32;
        let log_max = -(libm::log(10000.0) as f32);
        let mut row = vec![0f32; dim];
        for i in 0..half {
            let exponent = log_max * i as f32 / (half as f32 - shift);
            let arg = t * libm::exp(exponent as f64) as f32;
            let (s, c) = (libm::sin(arg as f64) as f32, libm::cos(arg as f64) as f32);
            let (first, second) = if self.config.flip_sin_to_cos {
                (c, s)
            } else {
                (s, c)
            };
            row[i] = first;
            row[half + i] = second;
        }
        row.repeat(batch)
    }
}
