//! The reference executor: every op's plain-loop CPU reference ([`crate::ops::Op::reference`])
//! run by the CPU executor's loop ([`Kernels::Reference`]). It is the ground truth the GPU and
//! the fast CPU kernels are tested against, not a backend (a forward pass of the default model
//! takes seconds).

use super::cpu::{CpuExecutor, Kernels};
use crate::error::Error;
use crate::model::{Graph, UNet};

/// One UNet evaluation on the references: `x` is (N, C, H, W) for the graph's batch, `t` the
/// timestep.
pub fn forward(unet: &UNet, graph: &Graph, x: &[f32], t: f32) -> Result<Vec<f32>, Error> {
    super::cpu::forward(unet, graph, x, t, Kernels::Reference)
}

/// Sampling on the references.
pub fn executor(unet: &UNet, batch: usize) -> Result<CpuExecutor, Error> {
    CpuExecutor::with_kernels(unet, batch, Kernels::Reference)
}
