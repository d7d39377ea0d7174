//! The ops a UNet forward pass is made of. Each op is one small type that checks its shapes,
//! holds its attributes, runs a plain-loop CPU reference (`cpu`) and encodes a dispatch of its
//! WGSL kernel (`encode`, from `shaders/<op>.wgsl`). The CPU reference is the ground truth the
//! kernels are tested against and the fallback executor for devices without WebGPU.

mod add;
mod attention;
mod concat;
mod conv2d;
mod group_norm;
mod linear;
mod scheduler_step;
mod to_rgba8;
mod upsample;

pub use add::Add;
pub use attention::Attention;
pub use concat::Concat;
pub use conv2d::{Conv2d, TimeBias};
pub use group_norm::GroupNorm;
pub use linear::Linear;
pub use scheduler_step::SchedulerStep;
pub use to_rgba8::{to_byte, ToRgba8};
pub use upsample::Upsample2x;

use crate::gpu::kernel_grid;

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

/// Workgroups for a flat kernel with 256 invocations per group over `len` items.
pub(crate) fn flat_groups(len: usize) -> [u32; 3] {
    kernel_grid(len.div_ceil(256) as u32)
}

/// x * sigmoid(x), written as the kernels write it.
pub(crate) fn silu(v: f32) -> f32 {
    v / (1.0 + (-v).exp())
}
