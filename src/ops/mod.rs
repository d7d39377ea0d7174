//! The ops a UNet forward pass is made of. Each op is one small type in its own file, with its
//! kernel in `shaders/<op>.wgsl`, that implements [`Op`]: it checks shapes in its constructor,
//! states the lengths of what it reads and writes ([`Op::signature`]), runs a plain-loop CPU
//! reference ([`Op::reference`]) and describes its GPU dispatch ([`Op::launch`]). Executors
//! (`crate::exec`) walk a graph of ops through this trait only, so adding an op means: its file
//! here (plus its `mod` line), its WGSL file, the builder line that uses it, and its test.
//!
//! The CPU references are the ground truth the kernels are tested against; they are written
//! for clarity, not speed.

mod add;
mod attention;
mod concat;
mod conv2d;
mod group_norm;
mod linear;
mod noised_blend;
mod scheduler_step;
mod to_rgba8;
mod upsample;

pub use add::Add;
pub use attention::Attention;
pub use concat::Concat;
pub use conv2d::{Conv2d, TimeBias};
pub use group_norm::GroupNorm;
pub use linear::Linear;
pub use noised_blend::{Blend, NoisedBlend};
pub use scheduler_step::{SchedulerStep, StepParams};
pub use to_rgba8::{to_byte, ToRgba8};
pub use upsample::Upsample2x;

use crate::gpu::Launch;
use crate::model::limits::MAX_TENSOR_ELEMENTS;

/// Product of sizes in u64 (multiply-add counts, which may exceed one tensor's elements).
pub(crate) fn product_u64(dims: &[usize]) -> u64 {
    dims.iter()
        .fold(1u64, |acc, &d| acc.saturating_mul(d as u64))
}

/// An op was given shapes it cannot work with.
#[derive(Debug, thiserror::Error)]
#[error("{op}: {message}")]
pub struct ShapeError {
    pub op: &'static str,
    pub message: String,
}

pub(crate) fn shape_err(op: &'static str, message: impl Into<String>) -> ShapeError {
    ShapeError {
        op,
        message: message.into(),
    }
}

/// How many f32 values an op reads and writes: the executors and the graph check every
/// operand against it, and the kernel tests draw random operands from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    /// Lengths of the activation inputs the op reads, in binding order.
    pub inputs: Vec<usize>,
    /// Input bindings the kernel declares; trailing optional inputs the op does not read are
    /// bound to a placeholder (`inputs.len() <= input_slots`).
    pub input_slots: usize,
    /// Lengths of the parameters in torch's layout (before [`Op::pack_param`]).
    pub params: Vec<usize>,
    /// Length of the output.
    pub output: usize,
}

/// One node of the forward pass. `Send + Sync` so graphs can be shared across threads.
pub trait Op: std::fmt::Debug + Send + Sync {
    /// The kernel's name (its `shaders/<name>.wgsl`), for profiles and errors.
    fn name(&self) -> &'static str {
        self.launch().kernel.name
    }

    /// Operand lengths (see [`Signature`]).
    fn signature(&self) -> Signature;

    /// Plain-loop reference: `inputs` and `params` as the signature lists them (params in
    /// torch's layout), `out` of the signature's output length.
    fn reference(&self, inputs: &[&[f32]], params: &[&[f32]], out: &mut [f32]);

    /// The GPU dispatch; its buffers are bound as `inputs` (padded to `input_slots`), the
    /// packed params, then the output.
    fn launch(&self) -> Launch;

    /// Parameter `index` in the layout the kernel reads (default: torch's layout as is).
    fn pack_param(&self, index: usize, data: &[f32]) -> Vec<f32> {
        let _ = index;
        data.to_vec()
    }

    /// Parameter `index` in the layout [`Op::cpu`] reads (default: torch's layout as is).
    fn pack_cpu_param(&self, index: usize, data: &[f32]) -> Vec<f32> {
        let _ = index;
        data.to_vec()
    }

    /// Floats of scratch [`Op::cpu`] needs (the CPU executor allocates the largest once).
    fn cpu_scratch(&self) -> usize {
        0
    }

    /// The fast CPU path (`crate::cpu`), run by [`crate::exec::cpu::CpuExecutor`]: like
    /// [`Op::reference`], but with params from [`Op::pack_cpu_param`] and a scratch slice of
    /// [`Op::cpu_scratch`] floats. The default is the reference itself, which is what an op that
    /// is one simple loop already (add, concat, upsample) uses; an op that packs its params
    /// must override this too.
    fn cpu(&self, inputs: &[&[f32]], params: &[&[f32]], out: &mut [f32], scratch: &mut [f32]) {
        let _ = scratch;
        self.reference(inputs, params, out)
    }

    /// The kind a profile groups this op under (default: its kernel's name).
    fn profile_kind(&self) -> String {
        self.name().to_string()
    }

    /// Multiply-adds per evaluation (FLOPs = 2 x this), for GFLOP/s figures.
    fn macs(&self) -> u64 {
        0
    }
}

/// x * sigmoid(x), written as the kernels write it (`silu` in `shaders/prelude.wgsl`).
pub(crate) fn silu(v: f32) -> f32 {
    v / (1.0 + (-v).exp())
}

/// Product of sizes, computed in u64 and refused (instead of wrapping) above
/// [`MAX_TENSOR_ELEMENTS`]: the kernels index with u32 and wasm32's `usize` is 32 bits.
pub(crate) fn checked_len(op: &'static str, dims: &[usize]) -> Result<usize, ShapeError> {
    dims.iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
        .filter(|&len| len <= MAX_TENSOR_ELEMENTS)
        .and_then(|len| usize::try_from(len).ok())
        .ok_or_else(|| {
            shape_err(
                op,
                format!(
                    "{dims:?} has more than {MAX_TENSOR_ELEMENTS} (2^28) elements, the most one \
                     tensor may hold: use a smaller batch, sample size or model"
                ),
            )
        })
}

/// A size as a uniform's u32 field (constructors bound sizes with [`checked_len`]).
pub(crate) fn u32_of(v: usize) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}
